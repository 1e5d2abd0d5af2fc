"""RedisStore: every unistore capability on one Redis server."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from unistore._url import StoreURL
from unistore.errors import ValidationError
from unistore.protocols import Capability, SlotKind
from unistore_redis import _lua_slots as lua
from unistore_redis._config import OPTIONS, build_client, validate
from unistore_redis._keys import KeyLayout, escape, unescape
from unistore_redis._sessions import RedisSessions
from unistore_redis._transaction import RedisTransaction, encode_ops
from unistore_redis._values import (
    field_bytes,
    field_str,
    hdel_args,
    hset_args,
    ttl_ms,
    value_bytes,
)

__all__ = ["RedisStore"]

logger = logging.getLogger("unistore.driver.redis")

_INT64 = 2**63
_KINDS = {b"string": SlotKind.SCALAR, b"hash": SlotKind.HASH}


class RedisStore(RedisSessions):
    """A unistore store on a Redis server (``redis://``, ``rediss://``, ``redis+unix://``).

    Every namespaced operation is one round trip: a plain command for reads,
    one Lua script for writes (the write, its expiry and the namespace index
    change together). See the driver documentation for the key layout.

    Stores are normally opened with :func:`unistore.connect`; constructing one
    directly does no I/O either.

    Args:
        url: A parsed ``redis``/``rediss`` URL.
        options: Driver options (see the driver documentation); missing ones
            take their defaults.

    Attributes:
        key_prefix: The prefix of every key this store writes.
    """

    CAPABILITIES = frozenset(Capability)

    def __init__(self, url: StoreURL, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(url)
        options = {**{opt.name: opt.default for opt in OPTIONS}, **(options or {})}
        validate(url, options)
        client = options.get("client")
        self._owns_client = client is None
        self._client = client if client is not None else build_client(url, options)
        self.key_prefix: str = options["key_prefix"]
        self._keys = KeyLayout(self.key_prefix)

    @property
    def client(self) -> aioredis.Redis:
        """The redis-py client this store uses."""
        return self._client

    async def _aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    # -- KeyValue ---------------------------------------------------------------

    async def get(self, ns: str, slot: str) -> bytes | None:
        """Return a scalar slot's value, or ``None`` (one ``GET``).

        Raises:
            SlotKindError: The slot holds a hash.
        """
        self._check_open()
        key = self._keys.namespace(ns)[0] + escape(slot)
        try:
            value = cast("bytes | None", await self._client.get(key))
        except RedisError as exc:
            self._fail(exc)
        return value

    async def server_version(self) -> str:
        """Return the Redis server's version (``INFO server``), for ``unistore info``."""
        self._check_open()
        try:
            info = await self._client.info("server")
        except RedisError as exc:
            self._fail(exc)
        return str(info.get("redis_version", "unknown"))

    async def set(self, ns: str, slot: str, value: bytes, *, ttl: float) -> None:
        """Store a scalar value with its expiry (one script call)."""
        await self._apply(ns, [(b"S", slot, [value_bytes(value), ttl_ms(ttl)])])

    async def delete(self, ns: str, slot: str) -> bool:
        """Delete a slot of any kind; return whether it existed (one script call)."""
        return bool(await self._apply(ns, [(b"D", slot, [])]))

    async def _apply(self, ns: str, ops: list[tuple[bytes, str, list[Any]]]) -> int:
        keys, args = encode_ops(self._keys, ns, ops)
        results = await self._eval(lua.APPLY, keys, args)
        return int(results[0])

    # -- Hash -------------------------------------------------------------------

    async def hget(self, ns: str, slot: str, field: str) -> bytes | None:
        """Return one field of a hash slot, or ``None`` (one ``HGET``).

        Raises:
            SlotKindError: The slot holds a scalar.
        """
        self._check_open()
        key = self._keys.namespace(ns)[0] + escape(slot)
        try:
            value = cast("bytes | None", await self._client.hget(key, field_bytes(field)))
        except RedisError as exc:
            self._fail(exc)
        return value

    async def hset(self, ns: str, slot: str, mapping: Mapping[str, bytes], *, ttl: float) -> int:
        """Set fields and re-apply the expiry in one script call.

        Returns:
            The number of fields that did not exist before.

        Raises:
            SlotKindError: The slot holds a scalar.
        """
        return await self._apply(ns, [(b"H", slot, hset_args(mapping, ttl))])

    async def hdel(self, ns: str, slot: str, fields: Sequence[str]) -> int:
        """Delete fields; an emptied hash disappears (one script call)."""
        return await self._apply(ns, [(b"X", slot, hdel_args(fields))])

    async def hgetall(self, ns: str, slot: str) -> dict[str, bytes]:
        """Return every field of a hash slot (one ``HGETALL``)."""
        self._check_open()
        key = self._keys.namespace(ns)[0] + escape(slot)
        try:
            raw = cast("dict[bytes, bytes]", await self._client.hgetall(key))
        except RedisError as exc:
            self._fail(exc)
        return {field_str(name): value for name, value in raw.items()}

    async def hkeys(self, ns: str, slot: str) -> list[str]:
        """Return the field names of a hash slot (one ``HKEYS``)."""
        self._check_open()
        key = self._keys.namespace(ns)[0] + escape(slot)
        try:
            raw = cast("list[bytes]", await self._client.hkeys(key))
        except RedisError as exc:
            self._fail(exc)
        return [field_str(name) for name in raw]

    # -- Counter ----------------------------------------------------------------

    async def incr(self, ns: str, slot: str, amount: int = 1, *, ttl: float) -> int:
        """Add ``amount`` to a counter; a new counter gets ``ttl`` (one script call).

        Raises:
            SlotKindError: The slot holds a hash or a non-integer scalar.
        """
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValidationError(f"incr amount must be an int, got {type(amount).__name__}")
        if not -_INT64 <= amount < _INT64:
            raise ValidationError("incr amount must fit in 64 bits")
        prefix, index = self._keys.namespace(ns)
        member = escape(slot)
        result = await self._eval(lua.INCR, [prefix + member, index], [member, amount, ttl_ms(ttl)])
        return int(result)

    # -- TTL --------------------------------------------------------------------

    async def get_ttl(self, ns: str, slot: str) -> float | None:
        """Return the seconds left before the slot expires, or ``None`` (one ``PTTL``)."""
        self._check_open()
        key = self._keys.namespace(ns)[0] + escape(slot)
        try:
            millis = await self._client.pttl(key)
        except RedisError as exc:
            self._fail(exc)
        if millis == -2:
            return None
        if millis == -1:  # pragma: no cover - every write of this driver sets an expiry
            return math.inf
        return millis / 1000

    async def expire(self, ns: str, slot: str, ttl: float) -> bool:
        """Give an existing slot a new expiry (one script call)."""
        prefix, index = self._keys.namespace(ns)
        member = escape(slot)
        result = await self._eval(lua.EXPIRE, [prefix + member, index], [member, ttl_ms(ttl)])
        return bool(result)

    # -- NamespaceLifecycle -----------------------------------------------------

    async def slots(self, ns: str) -> list[str]:
        """Return the live slot names, sorted (one script call over the index)."""
        prefix, index = self._keys.namespace(ns)
        members = await self._eval(lua.SLOTS, [index], [prefix])
        return sorted(unescape(member) for member in members)

    async def slot_kind(self, ns: str, slot: str) -> SlotKind | None:
        """Return the kind of a live slot, or ``None`` (one ``TYPE``)."""
        self._check_open()
        key = self._keys.namespace(ns)[0] + escape(slot)
        try:
            kind = cast(bytes, await self._client.type(key))
        except RedisError as exc:
            self._fail(exc)
        return _KINDS.get(kind)

    async def touch(self, ns: str, *, ttl: float) -> int:
        """Re-apply ``ttl`` to every live slot; O(slots of ``ns``), one script call."""
        prefix, index = self._keys.namespace(ns)
        return int(await self._eval(lua.TOUCH, [index], [prefix, ttl_ms(ttl)]))

    async def purge(self, ns: str) -> int:
        """Delete every slot of ``ns``; O(slots of ``ns``), one script call."""
        prefix, index = self._keys.namespace(ns)
        return int(await self._eval(lua.PURGE, [index], [prefix]))

    # -- NamespaceListing ------------------------------------------------------

    async def iter_namespaces(self, prefix: str = "") -> AsyncIterator[str]:
        """Yield each namespace with a live slot whose name starts with ``prefix``.

        For tooling only: it walks the keyspace with ``SCAN MATCH`` on the
        namespace index keys, so it costs O(keys in the database).
        """
        self._check_open()
        pattern = self._keys.index_glob(prefix)
        seen: set[bytes] = set()
        try:
            async for key in self._client.scan_iter(match=pattern, count=1000):
                if key not in seen:  # SCAN may return a key twice
                    seen.add(key)
                    yield self._keys.namespace_of_index(key)
        except RedisError as exc:
            self._fail(exc)

    # -- Transactions -----------------------------------------------------------

    def transaction(self, ns: str, watch: Sequence[str]) -> RedisTransaction:
        """Start an optimistic transaction in ``ns`` watching ``watch``."""
        self._check_open()
        return RedisTransaction(self._client, self._keys, self.url, ns, watch)

    # -- administration ---------------------------------------------------------

    async def destroy(self) -> None:
        """Delete every key under this store's key prefix.

        An administrative operation (used by test teardown): it walks the
        keyspace with ``SCAN MATCH <prefix>:{*``, which no other operation does.
        """
        self._check_open()
        batch: list[bytes] = []
        deleted = 0
        try:
            async for key in self._client.scan_iter(match=self._keys.glob(), count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    deleted += await self._client.unlink(*batch)
                    batch.clear()
            if batch:
                deleted += await self._client.unlink(*batch)
        except RedisError as exc:
            self._fail(exc)
        logger.info("destroyed %d keys under the store's key prefix", deleted)
