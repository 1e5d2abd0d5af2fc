"""What the parts of RedisStore share: the client, the key layout, error mapping."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from unistore._base import BaseStore
from unistore_redis._errors import map_error
from unistore_redis._keys import KeyLayout
from unistore_redis._script import Script

__all__ = ["RedisBase"]


class RedisBase(BaseStore):
    """Base of :class:`~unistore_redis.RedisStore`: helpers every operation uses."""

    _client: aioredis.Redis
    _keys: KeyLayout

    def _fail(self, exc: RedisError) -> NoReturn:
        raise map_error(exc, self.url) from exc

    async def _eval(self, script: Script, keys: Sequence[bytes], args: Sequence[Any]) -> Any:
        self._check_open()
        try:
            return await script.run(self._client, keys, args)
        except RedisError as exc:
            self._fail(exc)
