"""Optimistic transactions: WATCH on a dedicated connection, MULTI/EXEC to commit."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError, WatchError

from unistore.errors import TransactionConflictError
from unistore.sdk import Op, TransactionBase, TransactionsBase
from unistore_redis._keys import KeyLayout
from unistore_redis._lua_slots import APPLY
from unistore_redis._values import apply_args, field_bytes, field_str

__all__ = ["RedisTransaction"]


class RedisTransaction(TransactionBase):
    """A transaction over one namespace (see :class:`unistore.protocols.Transaction`).

    Entering the block takes a connection from the pool and ``WATCH``es the
    slots on it; reads go through that connection, so they see the live
    state and any change since the ``WATCH`` (a write, delete, purge, touch,
    expire or expiry of a watched slot) makes ``EXEC`` fail. The commit sends
    ``MULTI``, one ``EVAL`` of the write script (which checks every op before
    writing, so a kind error writes nothing) and ``EXEC``.
    """

    def __init__(
        self,
        store: TransactionsBase,
        client: aioredis.Redis,
        keys: KeyLayout,
        ns: str,
        watch: tuple[str, ...],
    ) -> None:
        super().__init__(store, ns, watch)
        self._client = client
        self._keys = keys
        self._pipe: Pipeline | None = None

    def _lost(self, exc: WatchError) -> None:
        # redis-py reports a connection lost while watching as a WatchError;
        # that is an outage, not a concurrent write.
        cause = exc.__context__
        if isinstance(cause, RedisError | OSError):
            self._store._fail(cause)

    async def _begin(self) -> None:
        # Kept before the WATCH is sent: if it fails or is cancelled, _end()
        # still returns the connection to the pool.
        self._pipe = self._client.pipeline(transaction=True)
        await self._pipe.watch(*(self._keys.slot(self.ns, slot) for slot in self.watch))

    async def _read(self, *command: Any) -> Any:
        assert self._pipe is not None
        try:
            # While watching, redis-py runs commands at once on the watched connection.
            return await self._pipe.execute_command(*command)
        except WatchError as exc:
            self._lost(exc)
            raise TransactionConflictError(
                "the watch was lost", namespace=self.ns, slots=self.watch
            ) from exc

    async def _get(self, slot: str) -> bytes | None:
        value: bytes | None = await self._read("GET", self._keys.slot(self.ns, slot))
        return value

    async def _hget(self, slot: str, field: str) -> bytes | None:
        key = self._keys.slot(self.ns, slot)
        value: bytes | None = await self._read("HGET", key, field_bytes(field))
        return value

    async def _hgetall(self, slot: str) -> dict[str, bytes]:
        raw: dict[bytes, bytes] = await self._read("HGETALL", self._keys.slot(self.ns, slot))
        return {field_str(name): value for name, value in raw.items()}

    async def _commit(self, ops: Sequence[Op]) -> bool:
        pipe = self._pipe
        assert pipe is not None
        pipe.multi()  # type: ignore[no-untyped-call]
        if ops:
            keys, args = apply_args(self._keys, self.ns, ops)
            # EVAL, not EVALSHA: inside MULTI a NOSCRIPT could not be retried.
            pipe.execute_command("EVAL", APPLY.text, len(keys), *keys, *args)
        try:
            results = await pipe.execute(raise_on_error=False)
        except WatchError as exc:
            self._lost(exc)
            return False  # EXEC answered nil: a watched slot changed
        for result in results:
            if isinstance(result, RedisError):
                # The script checks every op before writing: an error means nothing was written.
                raise result
        return True

    async def _end(self) -> None:
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            # reset() drops a broken connection itself; nothing is left to report.
            with contextlib.suppress(RedisError):
                await pipe.reset()  # type: ignore[no-untyped-call]
