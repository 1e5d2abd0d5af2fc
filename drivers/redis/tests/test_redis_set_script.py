"""The one-slot write script: the indexes it keeps, on Redis 7 and on the pre-7 path."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import pytest
import redis

from unistore_redis import RedisStore
from unistore_redis import _lua_slots as lua
from unistore_redis._keys import escape
from unistore_redis._script import Script

pytestmark = pytest.mark.redis

TTL = 60.0
# The same script with the Redis 7 calls (PEXPIRETIME, PEXPIREAT GT) switched off.
_PRE_SEVEN = Script(
    "set-pre-7", lua.SET.text.decode().replace("redis.REDIS_VERSION_NUM ~= nil", "false")
)


@pytest.fixture(params=["redis7", "pre7"])
async def setter(request: pytest.FixtureRequest, store: RedisStore) -> AsyncIterator[RedisStore]:
    if request.param == "pre7":
        original = lua.SET
        lua.SET = _PRE_SEVEN
        try:
            yield store
        finally:
            lua.SET = original
    else:
        yield store


def _indexes(store: RedisStore, ns: str) -> tuple[bytes, bytes, bytes]:
    return store._keys.namespace(ns)


def _expiry_matches_index(store: RedisStore, raw: redis.Redis, ns: str, slot: str) -> None:
    prefix, index, _ = _indexes(store, ns)
    expires = raw.pexpiretime(prefix + escape(slot))
    score = raw.zscore(index, escape(slot))
    assert score == (math.inf if expires == -1 else expires)


def test_the_member_is_the_end_of_the_slot_key() -> None:
    from unistore_redis._keys import KeyLayout

    layout = KeyLayout("p")
    for ns in ("ns", "", "a:b", "{x}", "%"):
        prefix, index, _ = layout.namespace(ns)
        for slot in ("s", ":", "%3A", "{}", "é", "\x00"):
            key = prefix + escape(slot)
            assert key[len(index) - 1 :] == escape(slot)


async def test_a_set_records_the_exact_expiry_in_both_indexes(
    setter: RedisStore, raw: redis.Redis
) -> None:
    store = setter
    _, index, names = _indexes(store, "ns")
    await store.set("ns", "a", b"1", ttl=TTL)  # a new namespace
    _expiry_matches_index(store, raw, "ns", "a")
    assert raw.pexpiretime(index) == raw.pexpiretime(names) == raw.zscore(index, b"a")
    await store.set("ns", "b", b"1", ttl=2 * TTL)  # a new member, the longest-lived
    await store.set("ns", "a", b"2", ttl=TTL)  # an overwrite, not the longest-lived
    _expiry_matches_index(store, raw, "ns", "a")
    _expiry_matches_index(store, raw, "ns", "b")
    assert raw.pexpiretime(index) == raw.pexpiretime(names) == raw.zscore(index, b"b")
    await store.set("ns", "b", b"2", ttl=TTL / 2)  # the longest-lived shortened
    assert raw.pexpiretime(index) == raw.pexpiretime(names) == raw.zscore(index, b"a")
    await store.set("ns", "a", b"3", ttl=3 * TTL)  # an overwrite that becomes the longest
    assert raw.pexpiretime(index) == raw.pexpiretime(names) == raw.zscore(index, b"a")
    assert raw.zrange(names, 0, -1) == [b"a", b"b"]
    assert await store.get("ns", "a") == b"3"
    assert await store.slots("ns") == ["a", "b"]


async def test_a_set_without_expiry_persists_the_indexes_until_it_gets_one(
    setter: RedisStore, raw: redis.Redis
) -> None:
    store = setter
    _, index, names = _indexes(store, "ns")
    await store.set("ns", "a", b"1", ttl=TTL)
    await store.set("ns", "forever", b"1", ttl=None)
    assert raw.pttl(index) == raw.pttl(names) == -1
    assert await store.get_ttl("ns", "forever") == math.inf
    await store.set("ns", "a", b"2", ttl=TTL)  # another member still never expires
    assert raw.pttl(index) == raw.pttl(names) == -1
    await store.set("ns", "forever", b"2", ttl=TTL / 2)
    _expiry_matches_index(store, raw, "ns", "forever")
    assert raw.pexpiretime(index) == raw.pexpiretime(names) == raw.zscore(index, b"a")


async def test_writes_in_one_millisecond_keep_the_indexes_exact(
    setter: RedisStore, raw: redis.Redis
) -> None:
    store = setter
    _, index, names = _indexes(store, "ns")
    await asyncio.gather(*(store.set("ns", f"s{i % 5}", b"1", ttl=TTL) for i in range(200)))
    top = max(raw.zscore(index, f"s{i}".encode()) or 0 for i in range(5))
    assert raw.pexpiretime(index) == raw.pexpiretime(names) == top
    for i in range(5):
        _expiry_matches_index(store, raw, "ns", f"s{i}")


async def test_a_set_prunes_expired_members(setter: RedisStore, raw: redis.Redis) -> None:
    store = setter
    _, index, names = _indexes(store, "ns")
    await store.set("ns", "brief", b"1", ttl=0.05)
    await store.set("ns", "a", b"1", ttl=TTL)
    await asyncio.sleep(0.15)
    await store.set("ns", "a", b"2", ttl=TTL)  # an overwrite leaves the dead member
    assert raw.zrange(index, 0, -1) == [b"brief", b"a"]
    assert await store.slots("ns") == ["a"]  # which no reader sees
    await store.set("ns", "brief", b"1", ttl=0.05)
    await store.set("ns", "a", b"3", ttl=TTL)
    await asyncio.sleep(0.15)
    await store.set("ns", "b", b"1", ttl=TTL)  # a write that adds a member prunes
    assert raw.zrange(index, 0, -1) == [b"a", b"b"]
    assert raw.zrange(names, 0, -1) == [b"a", b"b"]


async def test_a_set_in_a_namespace_from_before_the_name_index(
    setter: RedisStore, raw: redis.Redis
) -> None:
    store = setter
    prefix, index, names = _indexes(store, "old")
    at = int(raw.time()[0] * 1000) + 60_000
    for slot in ("a", "b"):
        raw.set(prefix + slot.encode(), b"v", pxat=at)
        raw.zadd(index, {slot: at})
    raw.pexpireat(index, at)
    await store.set("old", "a", b"w", ttl=TTL)  # an overwrite leaves the adoption to later
    assert raw.pexpiretime(index) == raw.zscore(index, b"a")
    await store.set("old", "c", b"w", ttl=TTL)  # a new member adopts the old index
    assert raw.zrange(names, 0, -1) == [b"a", b"b", b"c"]
    assert raw.pexpiretime(names) == raw.pexpiretime(index)
    assert await store.slots("old") == ["a", "b", "c"]
    assert await store.purge("old") == 3
    assert raw.exists(index, names) == 0


async def test_hostile_slot_names_stay_in_their_namespace(
    setter: RedisStore, raw: redis.Redis
) -> None:
    store = setter
    hostile = ["s", ":", "%", "%3A", "{x}", "}:idx", "*", "\x00", "é", "a:s:b"]
    for name in hostile:
        await store.set("n:{1}", name, name.encode(), ttl=TTL)
        await store.set("n", name, b"other", ttl=TTL)
    assert await store.slots("n:{1}") == sorted(hostile)
    assert await store.slots("n") == sorted(hostile)
    for name in hostile:
        assert await store.get("n:{1}", name) == name.encode()
        _expiry_matches_index(store, raw, "n:{1}", name)
    assert await store.purge("n:{1}") == len(hostile)
    assert await store.get("n", "s") == b"other"
