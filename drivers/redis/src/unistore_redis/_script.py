"""Lua scripts run by SHA, reloaded when the server has forgotten them."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

__all__ = ["Script"]

logger = logging.getLogger("unistore.driver.redis")


class Script:
    """A Lua script known by its SHA1.

    ``EVALSHA`` is tried first; on ``NOSCRIPT`` (a restarted or flushed server)
    the script is loaded and run again, so one store object survives restarts.
    """

    __slots__ = ("name", "sha", "text")

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text.encode("utf-8")
        self.sha = hashlib.sha1(self.text, usedforsecurity=False).hexdigest()

    async def run(
        self, client: aioredis.Redis, keys: Sequence[bytes], args: Sequence[bytes | int | str]
    ) -> Any:
        """Run the script on ``client`` with ``keys`` and ``args``."""
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            logger.info("the server did not know script %s (restarted?); loading it", self.name)
            await client.script_load(self.text)
            return await client.evalsha(self.sha, len(keys), *keys, *args)
