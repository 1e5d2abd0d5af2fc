"""Slot, hash, counter, TTL, lifecycle and transaction behaviour on a real server."""

from __future__ import annotations

import asyncio

import pytest
import redis

from unistore import SlotKind
from unistore.errors import SlotKindError, TransactionConflictError, ValidationError
from unistore_redis import RedisStore

pytestmark = pytest.mark.redis

TTL = 30.0


async def test_scalar_round_trip(store: RedisStore) -> None:
    assert await store.get("ns", "a") is None
    await store.set("ns", "a", b"\x00binary\xff", ttl=TTL)
    assert await store.get("ns", "a") == b"\x00binary\xff"
    assert await store.slot_kind("ns", "a") is SlotKind.SCALAR
    assert await store.delete("ns", "a") is True
    assert await store.delete("ns", "a") is False
    assert await store.get("ns", "a") is None


async def test_hash_round_trip_and_kinds(store: RedisStore) -> None:
    assert await store.hset("ns", "h", {"f": b"1", "g": b"2"}, ttl=TTL) == 2
    assert await store.hset("ns", "h", {"f": b"3", "h": b"4"}, ttl=TTL) == 1
    assert await store.hget("ns", "h", "f") == b"3"
    assert await store.hgetall("ns", "h") == {"f": b"3", "g": b"2", "h": b"4"}
    assert sorted(await store.hkeys("ns", "h")) == ["f", "g", "h"]
    assert await store.slot_kind("ns", "h") is SlotKind.HASH
    with pytest.raises(SlotKindError):
        await store.get("ns", "h")
    await store.set("ns", "s", b"x", ttl=TTL)
    with pytest.raises(SlotKindError):
        await store.hset("ns", "s", {"f": b"1"}, ttl=TTL)
    with pytest.raises(SlotKindError):
        await store.hget("ns", "s", "f")
    assert await store.hdel("ns", "h", ["f", "g", "h", "nope"]) == 3
    assert await store.slot_kind("ns", "h") is None
    assert await store.slots("ns") == ["s"]


async def test_set_replaces_a_hash(store: RedisStore) -> None:
    await store.hset("ns", "h", {"f": b"1"}, ttl=TTL)
    await store.set("ns", "h", b"now scalar", ttl=TTL)
    assert await store.get("ns", "h") == b"now scalar"


async def test_counter_semantics(store: RedisStore) -> None:
    assert await store.incr("ns", "c", ttl=5) == 1
    assert await store.incr("ns", "c", 9, ttl=500) == 10
    assert await store.get("ns", "c") == b"10"
    remaining = await store.get_ttl("ns", "c")
    assert remaining is not None
    assert remaining <= 5
    await store.set("ns", "text", b"abc", ttl=TTL)
    with pytest.raises(SlotKindError):
        await store.incr("ns", "text", ttl=TTL)
    await store.hset("ns", "h", {"f": b"1"}, ttl=TTL)
    with pytest.raises(SlotKindError):
        await store.incr("ns", "h", ttl=TTL)
    with pytest.raises(ValidationError):
        await store.incr("ns", "c", True, ttl=TTL)


async def test_every_write_has_an_expiry(store: RedisStore, raw: redis.Redis) -> None:
    await store.set("ns", "s", b"1", ttl=10)
    await store.hset("ns", "h", {"f": b"1"}, ttl=10)
    await store.incr("ns", "c", ttl=10)
    keys = [store._keys.slot("ns", slot) for slot in ("s", "h", "c")]
    keys.append(store._keys.namespace("ns")[1])
    for key in keys:
        assert 0 < raw.pttl(key) <= 10_000


async def test_expiry_hides_and_reclaims(store: RedisStore, raw: redis.Redis) -> None:
    await store.set("ns", "short", b"1", ttl=0.05)
    await store.hset("ns", "long", {"f": b"1"}, ttl=TTL)
    await asyncio.sleep(0.15)
    assert await store.get("ns", "short") is None
    assert await store.get_ttl("ns", "short") is None
    assert await store.slots("ns") == ["long"]
    index = store._keys.namespace("ns")[1]
    assert raw.zrange(index, 0, -1) == [b"long"]  # the dead member was pruned


async def test_index_expires_with_its_namespace(store: RedisStore, raw: redis.Redis) -> None:
    await store.set("ns", "a", b"1", ttl=0.05)
    await store.set("ns", "b", b"1", ttl=0.1)
    index = store._keys.namespace("ns")[1]
    assert 0 < raw.pttl(index) <= 100
    await asyncio.sleep(0.2)
    assert raw.exists(index) == 0


async def test_index_expiry_follows_the_longest_slot(store: RedisStore, raw: redis.Redis) -> None:
    await store.set("ns", "a", b"1", ttl=100)
    await store.set("ns", "a", b"1", ttl=1)  # shrinking the only slot shrinks the index
    index = store._keys.namespace("ns")[1]
    assert raw.pttl(index) <= 1000


async def test_ttl_and_expire(store: RedisStore) -> None:
    assert await store.expire("ns", "none", 10) is False
    await store.set("ns", "a", b"1", ttl=10)
    assert await store.expire("ns", "a", 100) is True
    remaining = await store.get_ttl("ns", "a")
    assert remaining is not None
    assert 99 < remaining <= 100
    with pytest.raises(ValidationError):
        await store.set("ns", "a", b"1", ttl=0)
    with pytest.raises(ValidationError):
        await store.set("ns", "a", b"1", ttl=float("nan"))


async def test_touch_and_purge(store: RedisStore) -> None:
    for i in range(5):
        await store.set("ns", f"s{i}", b"1", ttl=5)
    await store.hset("ns", "h", {"f": b"1"}, ttl=5)
    await store.set("other", "s0", b"1", ttl=5)
    assert await store.touch("ns", ttl=200) == 6
    remaining = await store.get_ttl("ns", "h")
    assert remaining is not None
    assert remaining > 100
    assert await store.get_ttl("other", "s0") <= 5  # type: ignore[operator]
    assert await store.purge("ns") == 6
    assert await store.slots("ns") == []
    assert await store.get("other", "s0") == b"1"
    assert await store.touch("ns", ttl=10) == 0
    assert await store.purge("ns") == 0


async def test_transaction_commit_and_snapshot(store: RedisStore) -> None:
    await store.set("ns", "a", b"1", ttl=TTL)
    async with store.transaction("ns", ["a"]) as tx:
        assert await tx.get("a") == b"1"
        tx.set("a", b"2", ttl=TTL)
        tx.hset("h", {"f": b"1"}, ttl=TTL)
        assert await tx.get("a") == b"1"  # queued writes are not visible
        await tx.commit()
    assert await store.get("ns", "a") == b"2"
    assert await store.hgetall("ns", "h") == {"f": b"1"}
    assert await store.slots("ns") == ["a", "h"]  # queued writes maintain the index


@pytest.mark.parametrize("change", ["set", "delete", "purge", "create", "hset"])
async def test_transaction_conflicts(store: RedisStore, change: str) -> None:
    await store.set("ns", "a", b"1", ttl=TTL)
    async with store.transaction("ns", ["a", "absent"]) as tx:
        await tx.get("a")
        if change == "set":
            await store.set("ns", "a", b"other", ttl=TTL)
        elif change == "delete":
            await store.delete("ns", "a")
        elif change == "purge":
            await store.purge("ns")
        elif change == "create":
            await store.set("ns", "absent", b"new", ttl=TTL)
        else:
            await store.hset("ns", "absent", {"f": b"1"}, ttl=TTL)
        tx.set("b", b"written?", ttl=TTL)
        with pytest.raises(TransactionConflictError) as info:
            await tx.commit()
    assert info.value.namespace == "ns"
    assert info.value.slots == ("a", "absent")
    assert await store.get("ns", "b") is None


async def test_transaction_conflict_on_expiry(store: RedisStore) -> None:
    await store.set("ns", "a", b"1", ttl=0.05)
    async with store.transaction("ns", ["a"]) as tx:
        assert await tx.get("a") == b"1"
        await asyncio.sleep(0.12)
        tx.set("b", b"1", ttl=TTL)
        with pytest.raises(TransactionConflictError):
            await tx.commit()
    assert await store.get("ns", "b") is None


async def test_transaction_kind_error_writes_nothing(store: RedisStore) -> None:
    await store.set("ns", "s", b"1", ttl=TTL)
    async with store.transaction("ns", ["s"]) as tx:
        tx.set("first", b"1", ttl=TTL)
        tx.hset("s", {"f": b"1"}, ttl=TTL)
        with pytest.raises(SlotKindError):
            await tx.commit()
    assert await store.get("ns", "first") is None


async def test_transaction_without_writes_and_discard(store: RedisStore) -> None:
    async with store.transaction("ns", ["a"]) as tx:
        await tx.commit()
    async with store.transaction("ns", ["a"]) as tx:
        tx.set("a", b"discarded", ttl=TTL)
    assert await store.get("ns", "a") is None
    with pytest.raises(ValidationError):
        store.transaction("ns", [])
    with pytest.raises(ValidationError):
        store.transaction("ns", "a")


async def test_transaction_releases_its_connection(store: RedisStore) -> None:
    pool = store.client.connection_pool
    for _ in range(3):
        async with store.transaction("ns", ["a"]) as tx:
            tx.set("a", b"1", ttl=TTL)
            await tx.commit()
        async with store.transaction("ns", ["a"]) as tx:
            pass
    assert len(pool._in_use_connections) == 0


async def test_closed_store_refuses(url: str, prefix: str) -> None:
    import unistore
    from unistore.errors import StoreClosedError

    store = unistore.connect(url, key_prefix=prefix)
    await store.aclose()
    await store.aclose()
    with pytest.raises(StoreClosedError):
        await store.get("ns", "a")  # type: ignore[attr-defined]


async def test_hset_with_no_fields(store: RedisStore) -> None:
    assert await store.hset("ns", "h", {}, ttl=TTL) == 0
    assert await store.slot_kind("ns", "h") is None
    assert await store.slots("ns") == []
    await store.hset("ns", "h", {"f": b"1"}, ttl=5)
    assert await store.hset("ns", "h", {}, ttl=100) == 0
    remaining = await store.get_ttl("ns", "h")
    assert remaining is not None
    assert remaining > 50
    assert await store.hdel("ns", "h", []) == 0


HOSTILE = ["*", "?", "[a-z]", "{tag}", "}", ":", "a:b", "%", "%2A", "\\", "\x00", "\n", "..", ""]


async def test_hostile_namespaces_stay_apart(store: RedisStore, raw: redis.Redis) -> None:
    for ns in HOSTILE:
        await store.set(ns, ns, ns.encode() or b"-", ttl=TTL)
        await store.hset(ns, "h", {ns: b"1"}, ttl=TTL)
    for ns in HOSTILE:
        assert await store.slots(ns) == sorted({ns, "h"})
        assert await store.get(ns, ns) == (ns.encode() or b"-")
        assert await store.hkeys(ns, "h") == [ns]
    assert await store.purge("*") == 2
    assert await store.touch("?", ttl=TTL) == 2
    for ns in HOSTILE[1:]:
        assert await store.slots(ns) == sorted({ns, "h"})
    for key in raw.scan_iter(match=store._keys.glob()):
        tag = key[key.index(b"{") + 1 : key.index(b"}")]
        assert not set(tag) & set(b"{*?[]\\\x00\n")


async def test_server_version_is_the_redis_version(store: RedisStore) -> None:
    version = await store.server_version()
    assert version[0].isdigit()
    assert version.count(".") >= 1
