"""Lua scripts run by SHA, reloaded when the server has forgotten them."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from unistore_redis._once import execute_once

__all__ = ["Script"]

logger = logging.getLogger("unistore.driver.redis")


class Script:
    """A Lua script known by its SHA1.

    ``EVALSHA`` is tried first; on ``NOSCRIPT`` (a restarted or flushed server)
    the script is loaded and run again, so one store object survives restarts
    (a ``NOSCRIPT`` reply means nothing ran, so running again is always safe).
    """

    __slots__ = ("name", "sha", "text")

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text.encode("utf-8")
        self.sha = hashlib.sha1(self.text, usedforsecurity=False).hexdigest()

    async def run(
        self,
        client: aioredis.Redis,
        keys: Sequence[bytes],
        args: Sequence[bytes | int | str],
        *,
        once: bool = False,
    ) -> Any:
        """Run the script on ``client`` with ``keys`` and ``args``.

        Args:
            client: The client to run it on.
            keys: The script's ``KEYS``.
            args: The script's ``ARGV``.
            once: The call is not idempotent: send it at most once (see
                :func:`~unistore_redis._once.execute_once`) instead of letting
                the client retry it.
        """
        command = ("EVALSHA", self.sha, len(keys), *keys, *args)
        # The first attempt is awaited right here: no frame of its own on the hot path.
        try:
            if once:
                return await execute_once(client, *command)
            return await client.execute_command(*command)  # type: ignore[no-untyped-call]
        except NoScriptError:
            logger.info("the server did not know script %s (restarted?); loading it", self.name)
        await client.script_load(self.text)
        if once:
            return await execute_once(client, *command)
        return await client.execute_command(*command)  # type: ignore[no-untyped-call]
