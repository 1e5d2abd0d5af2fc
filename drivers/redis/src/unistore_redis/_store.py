"""RedisStore: every unistore capability on Redis (a server, a cluster or Sentinel's master)."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import ConnectionPool
from redis.asyncio.sentinel import SentinelConnectionPool

from unistore import StoreURL
from unistore.protocols import SlotKind
from unistore.sdk import (
    DeleteOp,
    ErrorTable,
    FullStoreBase,
    HDelOp,
    HSetOp,
    LoopAffinity,
    Op,
    SetOp,
)
from unistore_redis import _lua_slots as lua
from unistore_redis._config import OPTIONS, build_client, effective_options, validate
from unistore_redis._errors import ERRORS
from unistore_redis._keys import KeyLayout, escape, lex_range, unescape
from unistore_redis._sessions import RedisSessions
from unistore_redis._transaction import RedisClusterTransaction, RedisTransaction
from unistore_redis._values import apply_args, field_bytes, field_str, ttl_ms

if TYPE_CHECKING:
    from unistore.sdk import TransactionBase
    from unistore_redis._config import Client

__all__ = ["RedisStore"]

logger = logging.getLogger("unistore.driver.redis")

_KINDS = {b"string": SlotKind.SCALAR, b"hash": SlotKind.HASH}


def _close_pool(pool: ConnectionPool) -> None:
    # redis-py closes connections only by awaiting; nothing is left to
    # await for a garbage-collected store, so close the sockets at once
    # (what redis-py's own Connection.__del__ does, without its warning).
    for connection in (*pool._available_connections, *pool._in_use_connections):
        _close_connection(connection)


def _close_connection(connection: Any) -> None:
    try:
        connection._close()
    except RuntimeError:
        # Its event loop is closed: the transport cannot schedule its
        # own close, and the collector closes the socket instead.
        connection._writer = connection._reader = None


def _closer(client: Client) -> Callable[[], None]:
    """Return a synchronous release of the client's sockets, for a store dropped unclosed."""
    if isinstance(client, RedisCluster):
        nodes = client.nodes_manager

        def release_cluster() -> None:
            for node in (*nodes.nodes_cache.values(), *nodes.startup_nodes.values()):
                for connection in node._connections:
                    _close_connection(connection)
            # What RedisCluster.aclose() leaves: a client to initialise again,
            # which its own finaliser does not report as unclosed.
            client._initialize = True

        return release_cluster
    pool = client.connection_pool
    # Sentinel's master pool asks the sentinels through clients of their own.
    watchers = pool.sentinel_manager.sentinels if isinstance(pool, SentinelConnectionPool) else []

    def release() -> None:
        _close_pool(pool)
        for sentinel in watchers:
            _close_pool(sentinel.connection_pool)

    return release


class RedisStore(RedisSessions, FullStoreBase):
    """A unistore store on Redis.

    A server (``redis://``, ``rediss://``, ``redis+unix://``), a Redis Cluster
    (``redis+cluster://``, ``rediss+cluster://``) or the master that Sentinel
    names (``redis+sentinel://``, ``rediss+sentinel://``).

    Every namespaced operation is one round trip: a plain command for reads,
    one Lua script for writes (the write, its expiry and the namespace indexes
    change together). Non-idempotent writes are sent once, never retried
    after a lost reply. See the driver documentation for the key layout.

    Stores are normally opened with :func:`unistore.connect`; constructing one
    directly does no I/O either.

    Args:
        url: A parsed ``redis``/``rediss`` URL (with its dialect, if any).
        options: Driver options (see the driver documentation); missing ones
            take their defaults.

    Attributes:
        key_prefix: The prefix of every key this store writes.
    """

    NAME: ClassVar[str] = "redis"
    DB_SYSTEM: ClassVar[str | None] = "redis"
    ERRORS: ClassVar[ErrorTable] = ERRORS

    def __init__(self, url: StoreURL, options: Mapping[str, Any] | None = None) -> None:
        options = {**{opt.name: opt.default for opt in OPTIONS}, **(options or {})}
        # A keyspace has nothing to create: the open mode changes nothing here.
        super().__init__(url, create=options["create"])
        validate(url, options)
        client = options.get("client")
        self._client: Client = client if client is not None else build_client(url, options)
        # A client passed in belongs to its owner: never closed, never released here.
        self._owns_client = client is None
        self._unheld = self._owns_client
        self._release: Callable[[], None] | None = None
        # redis-py's connections belong to the loop that opened them.
        self._loop = LoopAffinity(self._where)
        self.key_prefix: str = options["key_prefix"]
        self._keys = KeyLayout(self.key_prefix)
        self._effective = effective_options(url, options)

    def effective_options(self) -> Mapping[str, object]:
        """The options in effect: the database number selected, TLS options for rediss only."""
        return self._effective

    @property
    def client(self) -> Client:
        """The redis-py client this store uses (a ``RedisCluster`` on a cluster)."""
        return self._client

    @property
    def _redis(self) -> Client:
        self._loop.check()
        # The pool connects lazily, so the
        # finaliser is registered when an operation first uses the client: a
        # store that never did anything holds nothing and must not warn.
        if self._unheld:
            self._unheld = False
            self._release = _closer(self._client)
            self._hold(self._release)
        return self._client

    async def _aclose(self) -> None:
        if self._owns_client:
            await self._loop.close(self._close_client, self._abandon)

    async def _close_client(self) -> None:
        client = self._client
        await client.aclose()
        pool = None if isinstance(client, RedisCluster) else client.connection_pool
        if isinstance(pool, SentinelConnectionPool):
            await pool.sentinel_manager.aclose()

    async def _abandon(self) -> None:
        # The loop the sockets belong to is gone: close them without it.
        if self._release is not None:
            self._release()
            self._let_go(self._release)

    async def _apply(self, ns: str, ops: Sequence[Op]) -> list[int]:
        keys, args = apply_args(self._keys, ns, ops)
        return [int(result) for result in await lua.APPLY.run(self._redis, keys, args)]

    # -- KeyValue ---------------------------------------------------------------

    # The two hottest primitives return the client's coroutine instead of
    # awaiting it in a frame of their own: the SDK awaits it (and translates
    # its errors) directly.

    def _get(self, ns: str, slot: str) -> Coroutine[Any, Any, bytes | None]:
        return cast("Coroutine[Any, Any, bytes | None]", self._redis.get(self._keys.slot(ns, slot)))

    def _set(
        self, ns: str, slot: str, value: bytes, ttl: float | None
    ) -> Coroutine[Any, Any, None]:
        # One scalar write has a script of its own, with the fewest server calls.
        prefix, index, names = self._keys.namespace(ns)
        key = prefix + self._keys.member(slot)
        return lua.SET.run(self._redis, (key, index, names), (value, ttl_ms(ttl)))

    async def _delete(self, ns: str, slot: str) -> bool:
        return bool((await self._apply(ns, (DeleteOp(slot),)))[0])

    async def _get_many(self, ns: str, slots: list[str]) -> list[bytes | None]:
        # MGET reads every key at one instant and answers nil for a hash.
        keys = [self._keys.slot(ns, slot) for slot in slots]
        return cast("list[bytes | None]", await self._redis.mget(keys))

    async def _set_many(self, ns: str, mapping: dict[str, bytes], ttl: float | None) -> None:
        await self._apply(ns, [SetOp(slot, value, ttl) for slot, value in mapping.items()])

    async def _delete_many(self, ns: str, slots: list[str]) -> int:
        return sum(await self._apply(ns, [DeleteOp(slot) for slot in slots]))

    # -- Hash -------------------------------------------------------------------

    async def _hget(self, ns: str, slot: str, field: str) -> bytes | None:
        key = self._keys.slot(ns, slot)
        return cast("bytes | None", await self._redis.hget(key, field_bytes(field)))

    async def _hset(self, ns: str, slot: str, mapping: dict[str, bytes], ttl: float | None) -> int:
        # With no fields the script only re-applies the expiry of an existing hash.
        return (await self._apply(ns, (HSetOp(slot, mapping, ttl),)))[0]

    async def _hdel(self, ns: str, slot: str, fields: list[str]) -> int:
        return (await self._apply(ns, (HDelOp(slot, tuple(fields)),)))[0]

    async def _hgetall(self, ns: str, slot: str) -> dict[str, bytes]:
        raw = cast("dict[bytes, bytes]", await self._redis.hgetall(self._keys.slot(ns, slot)))
        return {field_str(name): value for name, value in raw.items()}

    async def _hkeys(self, ns: str, slot: str) -> list[str]:
        raw = cast("list[bytes]", await self._redis.hkeys(self._keys.slot(ns, slot)))
        return [field_str(name) for name in raw]

    # -- Counter ----------------------------------------------------------------

    async def _incr(self, ns: str, slot: str, amount: int, ttl: float | None) -> int:
        # INCRBY's rules are the SDK's: canonical int64 only, overflow refused
        # (the error table maps both replies). An increment sent twice counts
        # twice, so it is sent once: a lost reply is a timeout, never a retry.
        prefix, index, names = self._keys.namespace(ns)
        member = escape(slot)
        args: list[bytes | int] = [member, amount, ttl_ms(ttl)]
        keys = [prefix + member, index, names]
        return int(await lua.INCR.run(self._redis, keys, args, once=True))

    # -- TTL --------------------------------------------------------------------

    async def _get_ttl(self, ns: str, slot: str) -> float | None:
        millis = await self._redis.pttl(self._keys.slot(ns, slot))
        if millis == -2:
            return None
        if millis == -1:
            return math.inf
        return millis / 1000

    async def _expire(self, ns: str, slot: str, ttl: float) -> bool:
        prefix, index, names = self._keys.namespace(ns)
        member = escape(slot)
        args: list[bytes | int] = [member, ttl_ms(ttl)]
        return bool(await lua.EXPIRE.run(self._redis, [prefix + member, index, names], args))

    # -- NamespaceLifecycle -----------------------------------------------------

    async def _slots(self, ns: str, prefix: str) -> list[str]:
        # One lexical range of the name index: O(matching slots), whatever
        # else the namespace holds.
        slot_prefix, index, names = self._keys.namespace(ns)
        low, high = lex_range(prefix)
        found = await lua.SLOTS.run(self._redis, [index, names], [slot_prefix, low, high])
        return [unescape(member) for member in found]

    async def _slot_kind(self, ns: str, slot: str) -> SlotKind | None:
        return _KINDS.get(cast(bytes, await self._redis.type(self._keys.slot(ns, slot))))

    async def _touch(self, ns: str, ttl: float) -> int:
        prefix, index, names = self._keys.namespace(ns)
        return int(await lua.TOUCH.run(self._redis, [index, names], [prefix, ttl_ms(ttl)]))

    async def _purge(self, ns: str) -> int:
        prefix, index, names = self._keys.namespace(ns)
        return int(await lua.PURGE.run(self._redis, [index, names], [prefix]))

    # -- NamespaceListing -------------------------------------------------------

    async def _namespaces(self, prefix: str) -> AsyncIterator[str]:
        # For tooling only: SCAN MATCH over the index keys costs O(keys in the
        # database). SCAN may return a key twice; the SDK drops repeats.
        pattern = self._keys.index_glob(prefix)
        async for key in self._redis.scan_iter(match=pattern, count=1000):
            yield self._keys.namespace_of_index(key)

    # -- Transactions -----------------------------------------------------------

    def _transaction(self, ns: str, watch: tuple[str, ...]) -> TransactionBase:
        client = self._redis
        if isinstance(client, RedisCluster):
            return RedisClusterTransaction(self, client, self._keys, ns, watch)
        return RedisTransaction(self, client, self._keys, ns, watch)

    # -- administration ---------------------------------------------------------

    async def server_version(self) -> str:
        """Return the Redis server's version (``INFO server``), for ``unistore info``."""
        self._check_open()
        with self._errors():
            info = await self._redis.info("server")
        return str(info.get("redis_version", "unknown"))

    async def migrate(self) -> int:
        """Move the sessions of the previous key layout into buckets; return how many moved.

        A single server moves them on first use by itself; a cluster needs
        this (``unistore migrate URL``). Resumable and safe to run twice.
        """
        from unistore_redis._migrate import migrate

        self._check_open()
        with self._errors():
            return await migrate(self)

    async def destroy(self) -> None:
        """Delete every key under this store's key prefix.

        An administrative operation (used by test teardown): it walks the
        keyspace with ``SCAN MATCH <prefix>:{*``, which no other operation does
        (on a cluster, the keyspace of every master).
        """
        self._check_open()
        client, deleted = self._redis, 0
        batch: list[bytes] = []
        with self._errors():
            async for key in client.scan_iter(match=self._keys.glob(), count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    deleted += await client.unlink(*batch)
                    batch.clear()
            if batch:
                deleted += await client.unlink(*batch)
        logger.info("destroyed %d keys under the store's key prefix", deleted)
