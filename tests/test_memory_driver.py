"""Behaviour specific to the memory driver (the shared contract is in the conformance suite)."""

from __future__ import annotations

import asyncio

import pytest

import unistore
from unistore import InvalidURLError, StoreClosedError, TransactionConflictError, ValidationError
from unistore._memory import MemoryStore


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
