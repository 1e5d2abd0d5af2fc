"""Lua scripts run by SHA, reloaded when the server has forgotten them.

On a cluster each master has a script cache of its own: ``EVALSHA`` goes to
the master of the script's keys (every key of one call shares a hash tag),
and a master that never saw the script (a new one after a failover, one
restarted) gets it with that call, by ``EVAL``, on that master alone.
``SCRIPT LOAD`` would go to every master, and fail while one is down.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from unistore_redis._once import execute_once

if TYPE_CHECKING:
    from unistore_redis._config import Client

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
        client: Client,
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
        command: tuple[Any, ...] = ("EVALSHA", self.sha, len(keys), *keys, *args)
        # The first attempt is awaited right here: no frame of its own on the hot path.
        try:
            if once:
                return await execute_once(client, *command)
            return await client.execute_command(*command)
        except NoScriptError:
            logger.info("the server did not know script %s (restarted?); loading it", self.name)
        if isinstance(client, RedisCluster):
            # EVAL runs the script on the master of its keys and leaves it in
            # that master's cache for the next EVALSHA.
            command = ("EVAL", self.text, len(keys), *keys, *args)
        else:
            await client.script_load(self.text)
        if once:
            return await execute_once(client, *command)
        return await client.execute_command(*command)
