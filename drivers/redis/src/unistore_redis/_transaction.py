"""Optimistic transactions: WATCH on a dedicated connection, MULTI/EXEC to commit."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError, WatchError

from unistore._url import StoreURL
from unistore.errors import TransactionConflictError, UnistoreError, ValidationError
from unistore_redis._errors import map_error
from unistore_redis._keys import KeyLayout, escape
from unistore_redis._lua_slots import APPLY
from unistore_redis._values import (
    field_bytes,
    field_str,
    hdel_args,
    hset_args,
    ttl_ms,
    value_bytes,
)

__all__ = ["RedisTransaction", "encode_ops"]

#: One queued write: (code, slot, arguments after the member).
_Op = tuple[bytes, str, list[Any]]


def encode_ops(keys: KeyLayout, ns: str, ops: Sequence[_Op]) -> tuple[list[bytes], list[Any]]:
    """Return the KEYS and ARGV of one ``APPLY`` script call for ``ops``."""
    prefix, index = keys.namespace(ns)
    script_keys = [index]
    args: list[Any] = []
    for code, slot, rest in ops:
        member = escape(slot)
        script_keys.append(prefix + member)
        args.append(code)
        args.append(member)
        args.extend(rest)
    return script_keys, args


class RedisTransaction:
    """A transaction over one namespace (see :class:`unistore.protocols.Transaction`).

    Entering the block takes a connection from the pool and ``WATCH``es the
    slots on it; reads go through that connection. :meth:`commit` sends
    ``MULTI``, one ``EVAL`` of the write script (so a kind error aborts before
    anything is written) and ``EXEC``; a ``nil`` ``EXEC`` is a conflict.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        keys: KeyLayout,
        url: StoreURL,
        ns: str,
        watch: Sequence[str],
    ) -> None:
        if isinstance(watch, str) or not watch:
            raise ValidationError("a transaction must watch at least one slot (a list of names)")
        if not all(isinstance(slot, str) for slot in watch):
            raise ValidationError("watched slot names must be str")
        self._client = client
        self._keys = keys
        self._url = url
        self._ns = ns
        self._watch = tuple(dict.fromkeys(watch))
        self._ops: list[_Op] = []
        self._pipe: Pipeline | None = None
        self._done = False

    def _conflict(self) -> TransactionConflictError:
        return TransactionConflictError(
            f"a watched slot changed before commit ({len(self._watch)} watched)",
            namespace=self._ns,
            slots=self._watch,
        )

    def _error(self, exc: RedisError) -> UnistoreError:
        if isinstance(exc, WatchError):
            # redis-py reports a connection lost while watching as a WatchError;
            # that is an outage, not a concurrent write.
            cause = exc.__context__
            if isinstance(cause, RedisError | OSError):
                return map_error(cause, self._url)
            return self._conflict()
        return map_error(exc, self._url)

    async def __aenter__(self) -> RedisTransaction:
        if self._pipe is not None or self._done:
            raise ValidationError("a transaction can be entered only once")
        pipe = self._client.pipeline(transaction=True)
        keys = [self._keys.slot(self._ns, slot) for slot in self._watch]
        try:
            await pipe.watch(*keys)
        except BaseException as exc:
            # __aexit__ will not run: release the connection here, also when
            # the caller is cancelled mid-WATCH, or the pool loses it for good.
            await pipe.reset()  # type: ignore[no-untyped-call]
            if isinstance(exc, RedisError):
                raise self._error(exc) from exc
            raise
        self._pipe = pipe
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._ops.clear()
        self._done = True
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            # reset() drops a broken connection itself; nothing is left to report.
            with contextlib.suppress(RedisError):
                await pipe.reset()  # type: ignore[no-untyped-call]

    def _open_pipe(self) -> Pipeline:
        if self._pipe is None or self._done:
            raise ValidationError("the transaction is not open (use 'async with')")
        return self._pipe

    async def _read(self, *command: Any) -> Any:
        pipe = self._open_pipe()
        try:
            # While watching, redis-py runs commands at once on the watched connection.
            return await pipe.execute_command(*command)
        except RedisError as exc:
            raise self._error(exc) from exc

    async def get(self, slot: str) -> bytes | None:
        """Read a scalar slot (state at watch time or a conflict at commit)."""
        value: bytes | None = await self._read("GET", self._keys.slot(self._ns, slot))
        return value

    async def hget(self, slot: str, field: str) -> bytes | None:
        """Read one field of a hash slot."""
        value: bytes | None = await self._read(
            "HGET", self._keys.slot(self._ns, slot), field_bytes(field)
        )
        return value

    async def hgetall(self, slot: str) -> dict[str, bytes]:
        """Read a whole hash slot."""
        raw: dict[bytes, bytes] = await self._read("HGETALL", self._keys.slot(self._ns, slot))
        return {field_str(name): value for name, value in raw.items()}

    def _queue(self, code: bytes, slot: str, rest: list[Any]) -> None:
        if self._done:
            raise ValidationError("the transaction has already been committed or closed")
        if not isinstance(slot, str):
            raise ValidationError("slot names must be str")
        self._ops.append((code, slot, rest))

    def set(self, slot: str, value: bytes, *, ttl: float) -> None:
        """Queue a scalar write."""
        self._queue(b"S", slot, [value_bytes(value), ttl_ms(ttl)])

    def delete(self, slot: str) -> None:
        """Queue a delete."""
        self._queue(b"D", slot, [])

    def hset(self, slot: str, mapping: Mapping[str, bytes], *, ttl: float) -> None:
        """Queue a hash write (fields and expiry)."""
        self._queue(b"H", slot, hset_args(mapping, ttl))

    def hdel(self, slot: str, fields: Sequence[str]) -> None:
        """Queue the deletion of hash fields."""
        self._queue(b"X", slot, hdel_args(fields))

    async def commit(self) -> None:
        """Apply the queued writes atomically if no watched slot changed.

        Raises:
            TransactionConflictError: A watched slot changed; nothing was written.
        """
        pipe = self._open_pipe()
        self._done = True
        ops, self._ops = self._ops, []
        pipe.multi()  # type: ignore[no-untyped-call]
        if ops:
            keys, args = encode_ops(self._keys, self._ns, ops)
            # EVAL, not EVALSHA: inside MULTI a NOSCRIPT could not be retried.
            pipe.execute_command("EVAL", APPLY.text, len(keys), *keys, *args)
        try:
            results = await pipe.execute(raise_on_error=False)
        except RedisError as exc:
            raise self._error(exc) from exc
        for result in results:
            if isinstance(result, RedisError):
                # The script checks every op before writing: an error means nothing was written.
                raise map_error(result, self._url) from result
