"""Semantics every SDK driver shares, on Redis: int64 counters, watched touches, the finaliser."""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest
import redis.asyncio as aioredis

import unistore
from unistore.errors import SlotKindError, TransactionConflictError, ValidationError
from unistore.sdk import INT64_MAX, INT64_MIN
from unistore_redis import RedisStore

pytestmark = pytest.mark.redis

TTL = 60.0


def _open(url: str, prefix: str, **options: object) -> RedisStore:
    store = unistore.connect(url, key_prefix=prefix, **options)
    assert isinstance(store, RedisStore)
    return store


async def test_counter_reaches_the_int64_bounds(store: RedisStore) -> None:
    assert await store.incr("ns", "c", INT64_MAX, ttl=TTL) == INT64_MAX
    assert await store.incr("ns", "d", INT64_MIN, ttl=TTL) == INT64_MIN
    assert await store.incr("ns", "d", 0, ttl=TTL) == INT64_MIN


@pytest.mark.parametrize(("start", "amount"), [(INT64_MAX, 1), (INT64_MIN, -1), (-1, INT64_MIN)])
async def test_counter_overflow_is_refused_and_changes_nothing(
    store: RedisStore, start: int, amount: int
) -> None:
    await store.set("ns", "c", str(start).encode(), ttl=TTL)
    with pytest.raises(ValidationError, match="overflow"):
        await store.incr("ns", "c", amount, ttl=TTL)
    assert await store.get("ns", "c") == str(start).encode()


@pytest.mark.parametrize(
    "raw", [b"05", b"00", b"-0", b" 7", b"7 ", b"+5", b"1_000", b"1.0", b"9223372036854775808"]
)
async def test_non_canonical_counter_is_a_kind_error(store: RedisStore, raw: bytes) -> None:
    await store.set("ns", "c", raw, ttl=TTL)
    with pytest.raises(SlotKindError, match="not an integer"):
        await store.incr("ns", "c", ttl=TTL)
    assert await store.get("ns", "c") == raw


@pytest.mark.parametrize("change", ["touch", "expire"])
async def test_touch_or_expire_of_a_watched_slot_conflicts(store: RedisStore, change: str) -> None:
    await store.set("ns", "a", b"1", ttl=TTL)
    async with store.transaction("ns", ["a"]) as tx:
        assert await tx.get("a") == b"1"
        if change == "touch":
            assert await store.touch("ns", ttl=2 * TTL) == 1
        else:
            assert await store.expire("ns", "a", 2 * TTL) is True
        tx.set("b", b"written?", ttl=TTL)
        with pytest.raises(TransactionConflictError):
            await tx.commit()
    assert await store.get("ns", "b") is None


async def test_simulated_change_conflicts_and_releases(store: RedisStore) -> None:
    pool = store.client.connection_pool
    async with store.transaction("ns", ["a"]) as tx:
        assert store.simulate_concurrent_change("ns", "a") == 1
        tx.set("a", b"1", ttl=TTL)
        with pytest.raises(TransactionConflictError):
            await tx.commit()
    assert await store.get("ns", "a") is None
    assert len(pool._in_use_connections) == 0


async def test_dropped_store_closes_its_connections(url: str, prefix: str) -> None:
    store = _open(url, prefix)
    await store.set("ns", "a", b"1", ttl=TTL)
    await store.destroy()
    connections = list(store.client.connection_pool._available_connections)
    assert connections
    assert all(connection.is_connected for connection in connections)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del store
        gc.collect()
    # The store's own warning only: redis-py found no socket left open.
    assert [(w.category, str(w.message)[:15]) for w in caught] == [
        (ResourceWarning, "unclosed store ")
    ]
    assert not any(connection.is_connected for connection in connections)
    await asyncio.sleep(0)  # let the transports finish closing


async def test_unused_or_borrowing_store_drops_silently(url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            unused = _open(url, prefix)
            del unused
            borrowing = _open(url, prefix, client=client)
            await borrowing.get("ns", "a")
            del borrowing
            gc.collect()
        assert await client.ping()
    finally:
        await client.aclose()


async def test_closed_store_drops_silently(url: str, prefix: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store = _open(url, prefix)
        await store.set("ns", "a", b"1", ttl=TTL)
        await store.destroy()
        await store.aclose()
        del store
        gc.collect()
