"""Behaviour specific to the memory driver (the shared contract is in the conformance suite)."""

from __future__ import annotations

import asyncio
import gc
import math
import weakref
from collections.abc import AsyncIterator

import pytest

import unistore
from unistore import InvalidURLError, StoreClosedError, TransactionConflictError, ValidationError
from unistore._memory import MemoryStore
from unistore.testing import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def store(clock: ManualClock) -> AsyncIterator[MemoryStore]:
    async with MemoryStore(unistore.StoreURL.parse("memory://"), clock=clock) as opened:
        yield opened


async def test_expired_slots_are_reclaimed_not_just_hidden() -> None:
    async with unistore.connect("memory://") as store:
        assert isinstance(store, MemoryStore)
        for i in range(200):
            await store.set("ns", f"s{i}", b"x", ttl=0.05)
        await asyncio.sleep(0.1)
        # Writes sweep a bounded batch each; enough of them reclaim everything.
        for i in range(20):
            await store.set("other", f"k{i}", b"y", ttl=60)
        assert store.backend._live == 20
        assert "ns" not in store.backend._data


async def test_rewrites_do_not_grow_the_expiry_queue_without_bound() -> None:
    async with unistore.connect("memory://") as store:
        assert isinstance(store, MemoryStore)
        for _ in range(20_000):
            await store.set("ns", "hot", b"x", ttl=600)
        assert len(store.backend._expiry) <= 2 * store.backend._live + 1024 + 1


async def test_simulated_change_conflicts_only_watchers_of_that_slot() -> None:
    async with unistore.connect("memory://") as store:
        assert isinstance(store, MemoryStore)
        await store.set("ns", "a", b"1", ttl=60)
        async with store.transaction("ns", ["b"]) as tx:
            store.simulate_concurrent_change("ns", "a")
            tx.set("b", b"2", ttl=60)
            await tx.commit()
        assert await store.get("ns", "b") == b"2"
        async with store.transaction("ns", ["a"]) as tx:
            store.simulate_concurrent_change("ns", "a")
            tx.set("a", b"3", ttl=60)
            with pytest.raises(TransactionConflictError) as info:
                await tx.commit()
        assert info.value.slots == ("a",)
        assert await store.get("ns", "a") == b"1"


async def test_transaction_kind_error_aborts_the_whole_commit() -> None:
    async with unistore.connect("memory://") as store:
        await store.set("ns", "scalar", b"1", ttl=60)
        async with store.transaction("ns", ["scalar"]) as tx:  # type: ignore[attr-defined]
            tx.set("other", b"x", ttl=60)
            tx.hset("scalar", {"f": b"v"}, ttl=60)
            with pytest.raises(unistore.SlotKindError):
                await tx.commit()
        assert await store.get("ns", "other") is None  # type: ignore[attr-defined]


async def test_bad_ttl_is_rejected_before_writing() -> None:
    async with unistore.connect("memory://") as store:
        for bad in (0, -1, float("nan"), float("inf")):
            with pytest.raises(ValidationError, match="ttl"):
                await store.set("ns", "s", b"x", ttl=bad)  # type: ignore[attr-defined]
        assert await store.slots("ns") == []  # type: ignore[attr-defined]


async def test_closed_store_refuses_operations() -> None:
    store = unistore.connect("memory://")
    await store.aclose()
    await store.aclose()  # idempotent
    with pytest.raises(StoreClosedError):
        await store.get("ns", "s")  # type: ignore[attr-defined]


def test_memory_url_with_a_path_is_rejected() -> None:
    with pytest.raises(InvalidURLError, match="takes a name"):
        unistore.connect("memory://name/extra")


async def test_destroy_clears_a_named_store() -> None:
    a = unistore.connect("memory://destroy-test")
    async with a:
        await a.set("ns", "s", b"x", ttl=60)  # type: ignore[attr-defined]
        await a.create_session("s1")  # type: ignore[attr-defined]
        await a.destroy()  # type: ignore[attr-defined]
        assert await a.get("ns", "s") is None  # type: ignore[attr-defined]
        assert await a.get_session("s1") is None  # type: ignore[attr-defined]


async def test_listing_is_keyset_paged_newest_first() -> None:
    async with unistore.connect("memory://") as store:
        for i in range(7):
            await store.create_session(f"s{i}")  # type: ignore[attr-defined]
        await store.update_session("s2", label="bumped")  # type: ignore[attr-defined]
        seen: list[str] = []
        cursor = None
        while True:
            page = await store.list_sessions(limit=3, cursor=cursor)  # type: ignore[attr-defined]
            seen += [r.id for r in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == ["s2", "s6", "s5", "s4", "s3", "s1", "s0"]
        with pytest.raises(ValidationError, match="cursor"):
            await store.list_sessions(cursor="garbage!")  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", [5, "text", None])
async def test_non_bytes_values_are_rejected(bad: object) -> None:
    # bytes(5) would have stored five zero bytes without a word.
    async with unistore.connect("memory://") as store:
        with pytest.raises(ValidationError, match="bytes"):
            await store.set("ns", "s", bad, ttl=60)  # type: ignore[attr-defined]
        with pytest.raises(ValidationError, match="bytes"):
            await store.hset("ns", "h", {"f": bad}, ttl=60)  # type: ignore[attr-defined]
        async with store.transaction("ns", ["s"]) as tx:  # type: ignore[attr-defined]
            with pytest.raises(ValidationError, match="bytes"):
                tx.set("s", bad, ttl=60)
            with pytest.raises(ValidationError, match="bytes"):
                tx.hset("h", {"f": bad}, ttl=60)
        assert await store.slots("ns") == []  # type: ignore[attr-defined]
        await store.set("ns", "s", bytearray(b"ok"), ttl=60)  # type: ignore[attr-defined]
        assert await store.get("ns", "s") == b"ok"  # type: ignore[attr-defined]


async def test_incr_checks_the_ttl_of_an_existing_counter_too() -> None:
    async with unistore.connect("memory://") as store:
        await store.incr("ns", "c", ttl=60)  # type: ignore[attr-defined]
        with pytest.raises(ValidationError, match="ttl"):
            await store.incr("ns", "c", ttl=-1)  # type: ignore[attr-defined]
        assert await store.get("ns", "c") == b"1"  # type: ignore[attr-defined]


async def test_session_arguments_are_type_checked() -> None:
    async with unistore.connect("memory://") as store:
        await store.create_session("s")  # type: ignore[attr-defined]
        with pytest.raises(ValidationError, match="messages"):
            # A bare str would have been appended one character at a time.
            await store.append_messages("s", "hello", expected_length=0)  # type: ignore[attr-defined]
        with pytest.raises(ValidationError, match="message"):
            await store.append_messages("s", [{"a": 1}], expected_length=0)  # type: ignore[attr-defined]
        with pytest.raises(ValidationError, match="label"):
            await store.update_session("s", label=5)  # type: ignore[attr-defined]
        with pytest.raises(ValidationError, match="session id"):
            await store.create_session(7)  # type: ignore[attr-defined]
        assert await store.read_messages("s") == []  # type: ignore[attr-defined]


# -- slots without expiry ---------------------------------------------------------------


async def test_slots_without_expiry_stay_out_of_the_expiry_queue(
    store: MemoryStore, clock: ManualClock
) -> None:
    await store.set("ns", "s", b"x", ttl=None)
    await store.hset("ns", "h", {"f": b"v"}, ttl=None)
    await store.incr("ns", "c", ttl=None)
    await store.set_many("ns", {"a": b"1", "b": b"2"}, ttl=None)
    # Nothing to sweep, ever: the queue holds expiring slots only.
    assert store.backend._expiry == []
    assert await store.get_ttl("ns", "s") == math.inf
    clock.advance(1e9)
    assert await store.slots("ns") == ["a", "b", "c", "h", "s"]
    await store.set("ns", "s", b"y", ttl=5)
    assert len(store.backend._expiry) == 1
    await store.set("ns", "s", b"z", ttl=None)  # the expiry goes; the stale entry is harmless
    clock.advance(10)
    assert await store.get("ns", "s") == b"z"


async def test_prefix_listing_filters_in_the_driver(store: MemoryStore) -> None:
    await store.set_many("ns", {"a/1": b"", "a/2": b"", "b/1": b""}, ttl=60)
    assert sorted(await store._slots("ns", "a/")) == ["a/1", "a/2"]


# -- sessions: scopes and retention ------------------------------------------------------


async def test_each_scope_has_its_own_index_and_an_emptied_one_is_dropped(
    store: MemoryStore,
) -> None:
    sessions = store._sessions
    for scope in ("a", "b"):
        for i in range(3):
            await store.create_session(f"s{i}", scope=scope)
    assert sorted(sessions._spaces) == ["a", "b"]
    assert len(sessions._spaces["a"].order) == 3
    for i in range(3):
        await store.delete_session(f"s{i}", scope="a")
    assert sorted(sessions._spaces) == ["b"]
    assert [scope async for scope in store.iter_scopes()] == ["b"]


async def test_expired_sessions_are_reclaimed_and_their_memory_freed(
    store: MemoryStore, clock: ManualClock
) -> None:
    sessions = store._sessions
    for i in range(100):
        await store.create_session(f"s{i}", ttl=10)
        await store.append_messages(f"s{i}", ["m"] * 50)
    first = weakref.ref(sessions._spaces[""].sessions["s0"])
    clock.advance(11)
    # Each write sweeps a bounded batch (16 queue entries, some stale), soonest first.
    await store.create_session("new0")
    assert 101 - 16 <= sessions._count < 101
    for i in range(1, 20):
        await store.create_session(f"new{i}")
    assert sessions._count == 20
    assert len(sessions._spaces[""].order) == 20
    gc.collect()
    assert first() is None


async def test_a_reclaimed_parent_is_freed_while_its_fork_keeps_the_messages(
    store: MemoryStore, clock: ManualClock
) -> None:
    await store.create_session("p", ttl=5)
    await store.append_messages("p", ["a", "b", "c"])
    await store.fork_session("p", "f", at=2)
    parent = weakref.ref(store._sessions._spaces[""].sessions["p"])
    clock.advance(6)
    assert await store.read_messages("f") == ["a", "b"]  # still shared, not yet reclaimed
    assert await store.get_session("p") is None  # this lookup reclaims it
    gc.collect()
    assert parent() is None
    assert await store.read_messages("f") == ["a", "b"]
    assert store._sessions._spaces[""].sessions["f"].base is None


async def test_a_listing_skips_expired_sessions_and_reclaims_a_batch(
    store: MemoryStore, clock: ManualClock
) -> None:
    for i in range(40):
        await store.create_session(f"old{i}", ttl=5)
    clock.advance(6)
    await store.create_session("live")  # its sweep reclaims a batch of 16
    assert store._sessions._count == 41 - 16
    page = await store.list_sessions(limit=1)
    assert ([r.id for r in page.items], page.next_cursor) == (["live"], None)
    assert store._sessions._count == 25 - 16
    await store.list_sessions()
    assert store._sessions._count == 1


async def test_sliding_expiries_do_not_grow_the_expiry_queue_without_bound(
    store: MemoryStore,
) -> None:
    await store.create_session("s", ttl=600)
    for _ in range(5000):
        await store.append_messages("s", ["m"])
    assert len(store._sessions._expiry) <= 2 * store._sessions._count + 1024 + 1
