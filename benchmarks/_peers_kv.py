"""Key-value contenders: unistore's NamespacedStore against the peers on Redis and on disk.

Every contender writes and reads the same 100-character string under one of
1,000 keys with a 300-second expiry, so that each does the same work: a string
in, the same string out.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from _bench_stores import REDIS_URL, bench_store_url
from _peers_core import Case, Contender, Op

import unistore
from unistore import NamespacedStore, StoreURL

VALUE = "v" * 100
KEYS = 1_000
TTL = 300

# op name -> (set op, get op) for one contender.
Pair = tuple[Op, Op]


def plain_redis_url() -> str:
    return StoreURL.parse(REDIS_URL).render(hide_secrets=False).split("?")[0]


async def unistore_pair(stack: AsyncExitStack, url: str) -> Pair:
    store: Any = unistore.connect(url)
    await stack.enter_async_context(store)
    destroy = getattr(store, "destroy", None)
    if destroy is not None:
        stack.push_async_callback(destroy)
    ns = NamespacedStore(store, prefix="bench", default_ttl=TTL).namespace("s1")

    async def set_(i: int) -> None:
        await ns.set(f"k{i % KEYS}", VALUE)

    async def get(i: int) -> None:
        await ns.get(f"k{i % KEYS}")

    return set_, get


async def redis_py_pair(stack: AsyncExitStack, tag: str) -> Pair:
    from redis.asyncio import Redis

    client = Redis.from_url(plain_redis_url(), decode_responses=True)
    stack.push_async_callback(client.aclose)

    async def set_(i: int) -> None:
        await client.set(f"{tag}:raw:k{i % KEYS}", VALUE, ex=TTL)

    async def get(i: int) -> None:
        await client.get(f"{tag}:raw:k{i % KEYS}")

    return set_, get


async def aiocache_pair(stack: AsyncExitStack, tag: str) -> Pair:
    from aiocache import RedisCache
    from aiocache.serializers import StringSerializer

    parsed = StoreURL.parse(plain_redis_url())
    db = int((parsed.path or "/0").strip("/") or 0)
    cache = RedisCache(
        endpoint=parsed.host or "127.0.0.1",
        port=parsed.port or 6379,
        db=db,
        namespace=f"{tag}:aiocache",
        serializer=StringSerializer(),
    )
    stack.push_async_callback(cache.close)

    async def set_(i: int) -> None:
        await cache.set(f"k{i % KEYS}", VALUE, ttl=TTL)

    async def get(i: int) -> None:
        await cache.get(f"k{i % KEYS}")

    return set_, get


def kv_pair(kv: Any, collection: str) -> Pair:
    """py-key-value stores hold a dict per key."""

    async def set_(i: int) -> None:
        await kv.put(f"k{i % KEYS}", {"v": VALUE}, collection=collection, ttl=TTL)

    async def get(i: int) -> None:
        await kv.get(f"k{i % KEYS}", collection=collection)

    return set_, get


async def kv_redis_pair(stack: AsyncExitStack, tag: str) -> Pair:
    from key_value.aio.stores.redis import RedisStore

    kv = RedisStore(url=plain_redis_url())
    stack.push_async_callback(kv.close)
    return kv_pair(kv, f"{tag}-kv")


async def drop_redis_keys(tag: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(plain_redis_url())
    try:
        keys = [key async for key in client.scan_iter(match=f"*{tag}*", count=1000)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
    finally:
        await client.aclose()


async def sqlite3_pair(stack: AsyncExitStack, path: Path) -> Pair:
    # The physical limit: one stdlib connection, a primary-key table in WAL with
    # synchronous=NORMAL, each statement its own transaction, called inline.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    stack.callback(conn.close)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL, exp REAL NOT NULL)"
        " WITHOUT ROWID"
    )
    upsert = (
        "INSERT INTO kv (k, v, exp) VALUES (?, ?, ?)"
        " ON CONFLICT (k) DO UPDATE SET v = excluded.v, exp = excluded.exp"
    )
    select = "SELECT v FROM kv WHERE k = ? AND exp > ?"

    async def set_(i: int) -> None:
        conn.execute(upsert, (f"k{i % KEYS}", VALUE.encode(), time.time() + TTL))

    async def get(i: int) -> None:
        row = conn.execute(select, (f"k{i % KEYS}", time.time())).fetchone()
        _ = None if row is None else row[0].decode()

    return set_, get


async def kv_disk_pair(stack: AsyncExitStack, path: Path) -> Pair:
    from key_value.aio.stores.disk import DiskStore

    kv = DiskStore(directory=path)
    stack.push_async_callback(kv.close)
    return kv_pair(kv, "bench")


async def diskcache_pair(stack: AsyncExitStack, path: Path) -> Pair:
    from diskcache import Cache

    cache = Cache(str(path))
    stack.callback(cache.close)

    async def set_(i: int) -> None:
        cache.set(f"k{i % KEYS}", VALUE, expire=TTL)

    async def get(i: int) -> None:
        cache.get(f"k{i % KEYS}")

    return set_, get


PairFactory = Callable[[], Any]


async def build(
    group: str,
    factories: list[tuple[str, bool, PairFactory]],
    concurrencies: tuple[int, ...],
    notes: list[str],
) -> list[Case]:
    """Open every contender (skipping, with a note, those that cannot) into set and get cases."""
    pairs: list[tuple[str, bool, Pair]] = []
    for name, ours, factory in factories:
        try:
            pairs.append((name, ours, await factory()))
        except ImportError as error:
            notes.append(f"{group}: {name} skipped, not installed ({error.name})")
        except OSError as error:
            notes.append(f"{group}: {name} skipped, {error}")
    cases = []
    # Sets first: they fill the keys the gets then read.
    for index, op in enumerate(("set", "get")):
        for concurrency in concurrencies:
            contenders = [Contender(name, pair[index], ours) for name, ours, pair in pairs]
            cases.append(Case(group, op, concurrency, "ops/s", contenders))
    return cases


async def redis_cases(stack: AsyncExitStack, tmp: Path, notes: list[str]) -> list[Case]:
    url = bench_store_url("redis", tmp)
    if url is None:
        notes.append("redis: server not reachable or driver not installed, skipped")
        return []
    tag = f"p{uuid.uuid4().hex[:10]}"
    stack.push_async_callback(drop_redis_keys, tag)
    factories: list[tuple[str, bool, PairFactory]] = [
        ("unistore", True, lambda: unistore_pair(stack, url)),
        ("redis-py", False, lambda: redis_py_pair(stack, tag)),
        ("aiocache", False, lambda: aiocache_pair(stack, tag)),
        ("py-key-value", False, lambda: kv_redis_pair(stack, tag)),
    ]
    return await build("redis", factories, (1, 50), notes)


async def disk_cases(stack: AsyncExitStack, tmp: Path, notes: list[str]) -> list[Case]:
    folder = tmp / "disk"
    folder.mkdir()
    url = bench_store_url("sqlite", folder)
    if url is None:
        notes.append("disk: the SQL driver is not installed, unistore skipped")
    factories: list[tuple[str, bool, PairFactory]] = []
    if url is not None:
        factories.append(("unistore (sqlite)", True, lambda: unistore_pair(stack, url)))
    factories += [
        ("sqlite3 (raw)", False, lambda: sqlite3_pair(stack, folder / "raw.db")),
        ("py-key-value (DiskStore)", False, lambda: kv_disk_pair(stack, folder / "kv")),
        ("diskcache (raw)", False, lambda: diskcache_pair(stack, folder / "dc")),
    ]
    with contextlib.suppress(FileExistsError):
        (folder / "kv").mkdir()
    return await build("disk", factories, (1, 16), notes)
