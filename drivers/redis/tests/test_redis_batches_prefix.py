"""Batches, prefix listing, slots without expiry and the name index, on Redis itself."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
import redis

from unistore import SlotKind
from unistore_redis import RedisStore

pytestmark = pytest.mark.redis

TTL = 60.0
Counts = Callable[[redis.Redis], dict[str, int]]


def _processed(client: redis.Redis) -> int:
    return int(client.info("stats")["total_commands_processed"])


async def test_get_many_is_one_command(private_store: RedisStore, private_raw: redis.Redis) -> None:
    store = private_store
    await store.set_many("ns", {f"s{i}": b"%d" % i for i in range(0, 100, 2)}, ttl=TTL)
    await store.hset("ns", "s1", {"f": b"1"}, ttl=TTL)
    names = [f"s{i}" for i in range(100)]
    before = _processed(private_raw)
    values = await store.get_many("ns", names)
    # One MGET, plus the INFO that read ``before``.
    assert _processed(private_raw) - before <= 2
    assert values == [b"%d" % i if i % 2 == 0 else None for i in range(100)]


async def test_batch_writes_are_one_script_call(
    private_store: RedisStore,
    private_raw: redis.Redis,
    command_counts: Counts,
    round_trips: Callable[[], AbstractContextManager[list[int]]],
) -> None:
    store = private_store
    await store.set("ns", "warm", b"1", ttl=TTL)  # loads the script
    await store.hset("ns", "h", {"f": b"1"}, ttl=TTL)
    private_raw.config_resetstat()
    with round_trips() as sent:
        await store.set_many("ns", {f"s{i}": b"x" for i in range(100)} | {"h": b"y"}, ttl=TTL)
        assert await store.delete_many("ns", [f"s{i}" for i in range(150)]) == 100
    assert sent[0] == 2
    counts = command_counts(private_raw)
    assert counts["evalsha"] == 2
    assert await store.get("ns", "h") == b"y"  # set_many replaced the hash
    assert await store.slots("ns") == ["h", "warm"]


async def test_prefix_listing_reads_only_the_range(
    private_store: RedisStore, private_raw: redis.Redis, command_counts: Counts
) -> None:
    store = private_store
    await store.set_many("ns", {f"a{i:04}": b"1" for i in range(1000)}, ttl=TTL)
    await store.set_many("ns", {"b1": b"1", "b2": b"1", "b:3": b"1", "c": b"1"}, ttl=None)
    private_raw.config_resetstat()
    assert await store.slots("ns", "b") == ["b1", "b2", "b:3"]
    counts = command_counts(private_raw)
    assert counts["zrangebylex"] == 1
    # One existence check per slot in the range (and one for the name index).
    assert counts["exists"] <= 4
    assert counts.get("zscan", 0) == counts.get("scan", 0) == 0
    # A full read of either index would cost a ZRANGE over 1004 members.
    assert counts.get("zrange", 0) <= 1
    assert len(await store.slots("ns")) == 1004


@pytest.mark.parametrize(
    "prefix", ["%", "%2", ":", "{", "*", "a\U0010ffff", "\U0010ffff", "é", "\x00", "a%3A"]
)
async def test_prefix_ranges_over_escaped_names(store: RedisStore, prefix: str) -> None:
    names = ["%", "%2A", "%25", ":", "::", "{x}", "*", "a", "a\U0010ffff", "a\U0010ffffz"]
    names += ["\U0010ffff", "\U0010ffffq", "é", "éa", "e", "\x00", "\x00b", "a%3A", "a:"]
    await store.set_many("ns", dict.fromkeys(names, b"1"), ttl=TTL)
    assert await store.slots("ns", prefix) == sorted(n for n in names if n.startswith(prefix))


async def test_slots_without_expiry(store: RedisStore, raw: redis.Redis) -> None:
    _, index, names = store._keys.namespace("ns")
    await store.set("ns", "s", b"1", ttl=None)
    await store.hset("ns", "h", {"f": b"1"}, ttl=None)
    assert await store.incr("ns", "c", ttl=None) == 1
    for slot in ("s", "h", "c"):
        assert raw.pttl(store._keys.slot("ns", slot)) == -1
        assert await store.get_ttl("ns", slot) == math.inf
        assert raw.zscore(index, slot.encode()) == math.inf
    assert raw.pttl(index) == raw.pttl(names) == -1
    assert await store.slot_kind("ns", "h") is SlotKind.HASH
    assert [ns async for ns in store.iter_namespaces()] == ["ns"]


async def test_none_removes_an_expiry_and_a_ttl_adds_one(
    store: RedisStore, raw: redis.Redis
) -> None:
    _, index, names = store._keys.namespace("ns")
    await store.set("ns", "s", b"1", ttl=5)
    await store.hset("ns", "h", {"f": b"1"}, ttl=5)
    assert raw.pttl(index) > 0
    await store.set("ns", "s", b"2", ttl=None)
    await store.hset("ns", "h", {}, ttl=None)  # no fields: only the expiry changes
    assert await store.get_ttl("ns", "s") == await store.get_ttl("ns", "h") == math.inf
    assert raw.pttl(index) == raw.pttl(names) == -1
    assert await store.incr("ns", "s", ttl=5) == 3  # an existing counter keeps "never"
    assert await store.get_ttl("ns", "s") == math.inf
    await store.set("ns", "s", b"1", ttl=5)
    await store.delete("ns", "h")
    assert 0 < raw.pttl(index) <= 5000  # the last persistent slot left: the index expires again
    assert 0 < raw.pttl(names) <= 5000
    assert await store.hset("ns", "new", {}, ttl=None) == 0
    assert await store.slots("ns") == ["s"]


async def test_expiry_sweeps_never_drop_persistent_slots(
    store: RedisStore, raw: redis.Redis
) -> None:
    _, index, names = store._keys.namespace("ns")
    await store.set("ns", "forever", b"1", ttl=None)
    await store.set("ns", "brief", b"1", ttl=0.05)
    await asyncio.sleep(0.15)
    await store.set("ns", "other", b"1", ttl=TTL)  # a write prunes the dead member
    assert raw.zrange(index, 0, -1) == [b"other", b"forever"]
    assert raw.zrange(names, 0, -1) == [b"forever", b"other"]
    assert await store.slots("ns") == ["forever", "other"]
    assert await store.touch("ns", ttl=TTL) == 2  # a touch gives it an expiry
    remaining = await store.get_ttl("ns", "forever")
    assert remaining is not None
    assert remaining <= TTL
    await store.set("ns", "forever", b"1", ttl=None)
    assert await store.purge("ns") == 2
    assert raw.exists(index, names) == 0


async def test_transactions_write_slots_without_expiry(store: RedisStore) -> None:
    await store.set("ns", "a", b"1", ttl=5)
    async with store.transaction("ns", ["a"]) as tx:
        tx.set("a", b"2", ttl=None)
        tx.hset("h", {"f": b"1"}, ttl=None)
        await tx.commit()
    assert await store.get_ttl("ns", "a") == await store.get_ttl("ns", "h") == math.inf
    assert await store.slots("ns", "h") == ["h"]


async def test_a_namespace_from_before_the_name_index_is_adopted(
    store: RedisStore, raw: redis.Redis
) -> None:
    # What the previous version wrote: slots and the expiry index, no name index.
    prefix, index, names = store._keys.namespace("old")
    at = int(raw.time()[0] * 1000) + 60_000
    for slot in ("a1", "a2", "b"):
        raw.set(prefix + slot.encode(), b"v", pxat=at)
        raw.zadd(index, {slot: at})
    raw.pexpireat(index, at)
    assert await store.slots("old", "a") == ["a1", "a2"]
    assert raw.zrange(names, 0, -1) == [b"a1", b"a2", b"b"]
    assert 0 < raw.pttl(names) <= 60_000
    await store.set("old", "c", b"v", ttl=None)
    assert await store.slots("old") == ["a1", "a2", "b", "c"]
    # A first write adopts the old index too.
    prefix, index, names = store._keys.namespace("old2")
    raw.set(prefix + b"x", b"v", pxat=at)
    raw.zadd(index, {"x": at})
    await store.set("old2", "y", b"v", ttl=TTL)
    assert await store.slots("old2", "x") == ["x"]
    assert await store.purge("old2") == 2
    assert raw.exists(names) == 0
