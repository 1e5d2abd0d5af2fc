"""Generic SessionDocuments (KVSessionDocuments) on a store that only has KV capabilities.

The toy store below wraps the memory driver but declares only KEY_VALUE, HASH,
TRANSACTIONS, NAMESPACE_LIFECYCLE and TTL of its own, and gets SESSION_DOCUMENTS
from :class:`unistore.KVSessionDocumentsMixin`. It counts every KV operation, so
the tests can check costs, and can run a hook or inject a conflict before a
commit, so they can check atomicity and retries.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest

import unistore
from unistore import (
    BaseStore,
    Capability,
    ContentionError,
    KVSessionDocuments,
    KVSessionDocumentsMixin,
    NotSupportedError,
    SessionConflictError,
    SessionExistsError,
    SessionNotFoundError,
    StoreURL,
    TransactionConflictError,
    ValidationError,
)
from unistore._memory import MemoryStore
from unistore._sessions._kv._index import RECLAIM_BATCH
from unistore._sessions._kv._layout import (
    LEAF_SHIFT,
    LEGACY_SLOT_TTL,
    SCOPES_SLOT,
    TOP_SHIFT,
    Names,
    encode_id,
)
from unistore.protocols import SessionDocuments, SessionRecord, SlotKind
from unistore.sdk import (
    CLOCK_OPTION,
    DeleteOp,
    HashBase,
    HDelOp,
    HSetOp,
    KeyValueBase,
    NamespaceLifecycleBase,
    Op,
    SessionDocumentsBase,
    SetOp,
    TransactionBase,
    TransactionsBase,
    TTLBase,
)
from unistore.testing import (
    HOSTILE_IDS,
    SESSION_SUITES,
    IsolationSuite,
)

NS = "unistore.sessions"

LogEntry = tuple[str, str, int]  # (operation, slot, fields written)


class _CountingTransaction(TransactionBase):
    """Wraps a memory transaction; logs reads as they happen and writes at commit."""

    def __init__(self, store: ToyStore, ns: str, watch: tuple[str, ...]) -> None:
        super().__init__(store, ns, watch)
        self._toy = store
        self._inner = store.inner.transaction(ns, watch)

    async def _begin(self) -> None:
        await self._inner.__aenter__()

    async def _get(self, slot: str) -> bytes | None:
        self._toy.log("tx.get", slot)
        return await self._inner.get(slot)

    async def _hget(self, slot: str, field: str) -> bytes | None:
        self._toy.log("tx.hget", slot)
        return await self._inner.hget(slot, field)

    async def _hgetall(self, slot: str) -> dict[str, bytes]:
        self._toy.log("tx.hgetall", slot)
        return await self._inner.hgetall(slot)

    async def _commit(self, ops: Sequence[Op]) -> bool:
        store = self._toy
        for op in ops:
            if isinstance(op, SetOp):
                store.log("tx.set", op.slot, 1)
                self._inner.set(op.slot, op.value, ttl=op.ttl)
            elif isinstance(op, DeleteOp):
                store.log("tx.delete", op.slot)
                self._inner.delete(op.slot)
            elif isinstance(op, HSetOp):
                store.log("tx.hset", op.slot, len(op.mapping))
                self._inner.hset(op.slot, op.mapping, ttl=op.ttl)
            elif isinstance(op, HDelOp):
                store.log("tx.hdel", op.slot, len(op.fields))
                self._inner.hdel(op.slot, op.fields)
        hook, store.before_commit = store.before_commit, None
        if hook is not None:
            await hook()
        if store.conflicts > 0:
            store.conflicts -= 1
            store.inner.simulate_concurrent_change(self.ns, self.watch[0])
        store.log("tx.commit", "")
        try:
            await self._inner.commit()
        except TransactionConflictError:
            return False
        return True

    async def _end(self) -> None:
        await self._inner.__aexit__(None, None, None)


class ToyStore(
    KVSessionDocumentsMixin,
    KeyValueBase,
    HashBase,
    TTLBase,
    NamespaceLifecycleBase,
    TransactionsBase,
):
    """KV capabilities from a memory store; sessions from the generic implementation."""

    NAME = "kvsessions-toy"

    def __init__(self, url: StoreURL, *, clock: Callable[[], float] | None = None) -> None:
        super().__init__(url, clock=clock)
        self.inner = MemoryStore(StoreURL.parse(f"memory://{url.host or ''}"), clock=clock)
        self.ops: list[LogEntry] = []
        self.before_commit: Callable[[], Awaitable[None]] | None = None
        self.conflicts = 0

    def log(self, op: str, slot: str, fields: int = 0) -> None:
        self.ops.append((op, slot, fields))

    async def _get(self, ns: str, slot: str) -> bytes | None:
        self.log("get", slot)
        return await self.inner.get(ns, slot)

    async def _set(self, ns: str, slot: str, value: bytes, ttl: float | None) -> None:
        self.log("set", slot, 1)
        await self.inner.set(ns, slot, value, ttl=ttl)

    async def _delete(self, ns: str, slot: str) -> bool:
        self.log("delete", slot)
        return await self.inner.delete(ns, slot)

    async def _get_many(self, ns: str, slots: list[str]) -> list[bytes | None]:
        self.log("get_many", ",".join(slots))
        return await self.inner.get_many(ns, slots)

    async def _set_many(self, ns: str, mapping: dict[str, bytes], ttl: float | None) -> None:
        self.log("set_many", ",".join(mapping), len(mapping))
        await self.inner.set_many(ns, mapping, ttl=ttl)

    async def _delete_many(self, ns: str, slots: list[str]) -> int:
        self.log("delete_many", ",".join(slots))
        return await self.inner.delete_many(ns, slots)

    async def _hget(self, ns: str, slot: str, field: str) -> bytes | None:
        self.log("hget", slot)
        return await self.inner.hget(ns, slot, field)

    async def _hset(self, ns: str, slot: str, mapping: dict[str, bytes], ttl: float | None) -> int:
        self.log("hset", slot, len(mapping))
        return await self.inner.hset(ns, slot, mapping, ttl=ttl)

    async def _hdel(self, ns: str, slot: str, fields: list[str]) -> int:
        self.log("hdel", slot, len(fields))
        return await self.inner.hdel(ns, slot, fields)

    async def _hgetall(self, ns: str, slot: str) -> dict[str, bytes]:
        self.log("hgetall", slot)
        return await self.inner.hgetall(ns, slot)

    async def _hkeys(self, ns: str, slot: str) -> list[str]:
        self.log("hkeys", slot)
        return await self.inner.hkeys(ns, slot)

    async def _get_ttl(self, ns: str, slot: str) -> float | None:
        return await self.inner.get_ttl(ns, slot)

    async def _expire(self, ns: str, slot: str, ttl: float) -> bool:
        return await self.inner.expire(ns, slot, ttl)

    async def _slots(self, ns: str, prefix: str) -> list[str]:
        return await self.inner.slots(ns, prefix)

    async def _slot_kind(self, ns: str, slot: str) -> SlotKind | None:
        return await self.inner.slot_kind(ns, slot)

    async def _touch(self, ns: str, ttl: float) -> int:
        return await self.inner.touch(ns, ttl=ttl)

    async def _purge(self, ns: str) -> int:
        self.log("purge", ns)
        return await self.inner.purge(ns)

    def _transaction(self, ns: str, watch: tuple[str, ...]) -> _CountingTransaction:
        self.log("transaction", ",".join(watch))
        return _CountingTransaction(self, ns, watch)

    async def destroy(self) -> None:
        await self.inner.destroy()

    async def _aclose(self) -> None:
        await self.inner.aclose()


class ToyStoreWithoutLifecycle(ToyStore):
    CAPABILITIES = frozenset({Capability.HASH, Capability.TRANSACTIONS})


unistore.register(
    "kvsessions-toy",
    lambda url, options: ToyStore(url, clock=options["clock"]),
    options=(CLOCK_OPTION,),
)


def msgs(*names: str) -> list[str]:
    return [json.dumps({"m": name}) for name in names]


class Clock:
    """A manual clock counted in whole microseconds (the store reads it in seconds)."""

    def __init__(self, start: int = 1_700_000_000_000_000) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now / 1_000_000

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * 1_000_000)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(clock: Clock) -> AsyncIterator[ToyStore]:
    # Built directly: connect() may wrap a store that declares fewer capabilities.
    opened = ToyStore(StoreURL.parse(f"kvsessions-toy://t{uuid.uuid4().hex[:12]}"), clock=clock)
    async with opened:
        yield opened
        await opened.destroy()


async def _all(store: ToyStore, limit: int = 3) -> list[SessionRecord]:
    out: list[SessionRecord] = []
    cursor: str | None = None
    while True:
        page = await store.list_sessions(limit=limit, cursor=cursor)
        out.extend(page.items)
        if page.next_cursor is None:
            return out
        assert len(page.items) == limit
        cursor = page.next_cursor


# -- the conformance suite ----------------------------------------------------------


class TestKVSessionsConformance(
    *SESSION_SUITES,
    IsolationSuite,
):
    """Every session conformance test, and the isolation ones, on the toy store."""

    @pytest.fixture
    def store_url(self) -> str:
        # A name, so that ``reconnect`` opens a second store on the same data.
        return f"kvsessions-toy://c{uuid.uuid4().hex[:12]}"


# -- records, messages, conflicts -------------------------------------------------------


async def test_create_append_read(store: ToyStore) -> None:
    created = await store.create_session("s", label="L", metadata={"k": [1, None]})
    assert (created.id, created.label, created.message_count) == ("s", "L", 0)
    assert dict(created.metadata) == {"k": [1, None]}
    with pytest.raises(SessionExistsError):
        await store.create_session("s")
    assert await store.append_messages("s", msgs("a", "b"), expected_length=0) == 2
    record = await store.get_session("s")
    assert record is not None
    assert record.updated_at > created.updated_at
    assert await store.append_messages("s", msgs("c"), expected_length=2, label="M") == 3
    record = await store.get_session("s")
    assert record is not None
    assert (record.label, record.message_count) == ("M", 3)
    assert await store.read_messages("s") == msgs("a", "b", "c")


async def test_conflict_writes_nothing_and_is_not_retried(store: ToyStore) -> None:
    await store.create_session("s")
    await store.append_messages("s", msgs("a"), expected_length=0)
    before = await store.get_session("s")
    store.ops.clear()
    with pytest.raises(SessionConflictError) as info:
        await store.append_messages("s", msgs("x"), expected_length=0, label="no")
    assert (info.value.expected, info.value.actual, info.value.session_id) == (0, 1, "s")
    assert [op for op, _, _ in store.ops].count("transaction") == 1
    assert await store.get_session("s") == before
    assert await store.read_messages("s") == msgs("a")


async def test_missing_sessions(store: ToyStore) -> None:
    assert await store.get_session("nope") is None
    assert await store.delete_session("nope") is False
    for call in (
        store.read_messages("nope"),
        store.append_messages("nope", msgs("a"), expected_length=0),
        store.replace_messages("nope", 0, [], expected_length=0),
        store.update_session("nope", label="x"),
        store.fork_session("nope", "child"),
    ):
        with pytest.raises(SessionNotFoundError):
            await call


async def test_arguments_are_checked(store: ToyStore) -> None:
    await store.create_session("s")
    with pytest.raises(ValidationError):
        await store.append_messages("s", "not a list", expected_length=0)
    with pytest.raises(ValidationError):
        await store.append_messages("s", [b"bytes"], expected_length=0)  # type: ignore[list-item]
    with pytest.raises(ValidationError):
        await store.create_session("t", metadata={"x": float("nan")})
    with pytest.raises(ValidationError):
        await store.read_messages("s", last=-1)
    with pytest.raises(ValidationError):
        await store.list_sessions(limit=0)
    with pytest.raises(ValidationError):
        await store.list_sessions(cursor="garbage")
    assert await store.read_messages("s") == []


async def test_replace_and_read_last(store: ToyStore) -> None:
    await store.create_session("s")
    await store.append_messages("s", msgs(*"abcdef"), expected_length=0)
    with pytest.raises(ValidationError):
        await store.replace_messages("s", 7, [], expected_length=6)
    assert await store.replace_messages("s", 2, msgs("x", "y", "z", "w"), expected_length=6) == 6
    assert await store.read_messages("s") == msgs("a", "b", "x", "y", "z", "w")
    assert await store.read_messages("s", last=2) == msgs("z", "w")
    assert await store.read_messages("s", last=0) == []
    assert await store.read_messages("s", last=100) == msgs("a", "b", "x", "y", "z", "w")
    await store.replace_messages("s", 0, [], expected_length=6)
    assert await store.read_messages("s") == []
    assert not [slot for slot in await store.slots(NS) if slot.startswith("msgs/")]


async def test_messages_cross_chunks(store: ToyStore) -> None:
    sessions = KVSessionDocuments(store, chunk_size=3, namespace="small-chunks")
    await sessions.create_session("s")
    names = [str(i) for i in range(20)]
    length = 0
    for size in (1, 5, 2, 7, 5):
        await sessions.append_messages(
            "s", msgs(*names[length : length + size]), expected_length=length
        )
        length += size
    assert await sessions.read_messages("s") == msgs(*names)
    assert await sessions.read_messages("s", last=4) == msgs(*names[-4:])
    await sessions.replace_messages("s", 4, msgs("x"), expected_length=20)
    assert await sessions.read_messages("s") == msgs(*names[:4], "x")
    chunks = [s for s in await store.slots("small-chunks") if s.startswith("msgs/")]
    assert len(chunks) == 2  # messages 0-2 and 3-4: truncated chunks are deleted
    await sessions.fork_session("s", "f", at=4)
    await sessions.replace_messages("s", 1, [], expected_length=5)
    assert await sessions.read_messages("f") == msgs(*names[:4])


async def test_unicode_round_trips_and_lone_surrogates_are_refused(store: ToyStore) -> None:
    texts = ['"\\u00e9 \u00e9 \U0001f600"', "x" * 100_000, ""]
    await store.create_session("s")
    await store.append_messages("s", texts, expected_length=0)
    assert await store.read_messages("s") == texts
    # Messages are valid UTF-8 on every driver (the SDK's rule): nothing is written.
    with pytest.raises(ValidationError):
        await store.append_messages("s", ["\ud800 lone surrogate"], expected_length=3)
    assert await store.read_messages("s") == texts
    with pytest.raises(ValidationError):
        await store.kv_sessions.append_messages("s", ["\ud800"], expected_length=3)


async def test_read_last_between_length_and_twice_length(store: ToyStore) -> None:
    # The memory driver once returned a wrong tail here (6 messages, last=7).
    await store.create_session("s")
    await store.append_messages("s", msgs(*"abcdef"), expected_length=0)
    for last in range(6, 13):
        assert await store.read_messages("s", last=last) == msgs(*"abcdef"), last
    assert await store.read_messages("s", last=5) == msgs(*"bcdef")
    sessions = KVSessionDocuments(store, chunk_size=4, namespace="tails")
    await sessions.create_session("t")
    await sessions.append_messages("t", msgs(*"abcdef"), expected_length=0)
    await sessions.fork_session("t", "f", at=4)
    await sessions.append_messages("f", msgs("x", "y"), expected_length=4)
    for last in range(6, 13):
        assert await sessions.read_messages("f", last=last) == msgs(*"abcdxy"), last
    assert await sessions.read_messages("f", last=3) == msgs("d", "x", "y")


async def test_update_session(store: ToyStore) -> None:
    created = await store.create_session("s", label="a", metadata={"x": 1})
    updated = await store.update_session("s", metadata={"y": 2})
    assert (updated.label, dict(updated.metadata)) == ("a", {"y": 2})
    assert updated.updated_at > created.updated_at
    assert updated.created_at == created.created_at
    updated = await store.update_session("s", label="b")
    assert (updated.label, dict(updated.metadata)) == ("b", {"y": 2})


# -- listing ------------------------------------------------------------------------------


async def test_listing_order_and_paging(store: ToyStore) -> None:
    for i in range(7):
        await store.create_session(f"s{i}")
    await store.append_messages("s2", msgs("a"), expected_length=0)
    listed = await _all(store, limit=3)
    assert [r.id for r in listed] == ["s2", "s6", "s5", "s4", "s3", "s1", "s0"]
    await store.delete_session("s5")
    assert [r.id for r in await _all(store, limit=2)] == ["s2", "s6", "s4", "s3", "s1", "s0"]


async def test_listing_reads_only_the_index(store: ToyStore) -> None:
    for i in range(5):
        await store.create_session(f"s{i}", metadata={"i": i})
        await store.append_messages(f"s{i}", msgs("a", "b"), expected_length=0)
    store.ops.clear()
    page = await store.list_sessions(limit=3)
    assert [r.id for r in page.items] == ["s4", "s3", "s2"]
    assert [dict(r.metadata) for r in page.items] == [{"i": 4}, {"i": 3}, {"i": 2}]
    assert all(r.message_count == 2 for r in page.items)
    assert store.ops
    assert all(slot.startswith("index") for _, slot, _ in store.ops), store.ops


async def test_listing_walks_leaves_and_periods(store: ToyStore, clock: Clock) -> None:
    steps = [0, 1 << (LEAF_SHIFT - 1), 1 << LEAF_SHIFT, 5 << LEAF_SHIFT, 1 << TOP_SHIFT, 7]
    for i, step in enumerate(steps * 3):
        clock.now += step
        await store.create_session(f"s{i:02d}")
    expected = [f"s{i:02d}" for i in reversed(range(len(steps) * 3))]
    for limit in (1, 2, 4, 50):
        assert [r.id for r in await _all(store, limit=limit)] == expected
    # Moving every session to a new period empties the old leaves and periods;
    # a listing that walks past them forgets them.
    clock.now += 3 << TOP_SHIFT
    for i in range(len(expected)):
        await store.update_session(f"s{i:02d}", label="moved")
    assert len(await store.hkeys(NS, "index")) > 1
    assert [r.id for r in await _all(store, limit=100)] == expected
    top = clock.now >> TOP_SHIFT
    assert await store.hkeys(NS, "index") == [str(top)]
    assert await store.hkeys(NS, f"index/{top}") == [str(clock.now >> LEAF_SHIFT)]


async def test_equal_timestamps_sort_by_id(store: ToyStore, clock: Clock) -> None:
    # Two stores stamp independently: with a stopped clock both write the same time.
    other = ToyStore(store.url, clock=clock)
    async with other:
        await store.create_session("a")
        await other.create_session("b")
        await store.create_session("c")
        records = await _all(store, limit=1)
    assert [r.id for r in records] == ["c", "b", "a"]
    assert records[1].updated_at == records[2].updated_at


# -- forks --------------------------------------------------------------------------------


async def test_fork_basics(store: ToyStore) -> None:
    await store.create_session("p")
    await store.append_messages("p", msgs("a", "b", "c"), expected_length=0)
    child = await store.fork_session("p", "c", label="child", metadata={"m": 1})
    assert (child.parent_id, child.fork_point, child.message_count) == ("p", 3, 3)
    assert await store.read_messages("c") == msgs("a", "b", "c")
    at1 = await store.fork_session("p", "c1", at=1)
    assert at1.message_count == 1
    at0 = await store.fork_session("p", "c0", at=0)
    assert (at0.fork_point, at0.message_count) == (0, 0)
    with pytest.raises(ValidationError):
        await store.fork_session("p", "bad", at=4)
    with pytest.raises(ValidationError):
        await store.fork_session("p", "bad", at=-1)
    with pytest.raises(SessionExistsError):
        await store.fork_session("p", "c")
    with pytest.raises(SessionExistsError):
        await store.fork_session("p", "p")
    await store.append_messages("c1", msgs("x"), expected_length=1)
    await store.append_messages("p", msgs("d"), expected_length=3)
    assert await store.read_messages("c1") == msgs("a", "x")
    assert await store.read_messages("c1", last=1) == msgs("x")
    assert await store.read_messages("p") == msgs("a", "b", "c", "d")


async def test_fork_costs_the_same_whatever_the_parent_length(store: ToyStore) -> None:
    costs = []
    for length in (10, 3000):
        parent = f"p{length}"
        await store.create_session(parent)
        await store.append_messages(parent, msgs(*map(str, range(length))), expected_length=0)
        store.ops.clear()
        await store.fork_session(parent, f"c{length}")
        costs.append(sum(1 + fields for _, _, fields in store.ops))
    assert costs[0] == costs[1]


async def test_delete_parent_keeps_children_and_grandchildren(store: ToyStore) -> None:
    await store.create_session("g")
    await store.append_messages("g", msgs(*"abcde"), expected_length=0)
    await store.fork_session("g", "p", at=4)
    await store.append_messages("p", msgs("p1", "p2"), expected_length=4)
    await store.fork_session("p", "c", at=5)  # a, b, c, d, p1
    await store.append_messages("c", msgs("c1"), expected_length=5)
    await store.fork_session("p", "c2", at=2)  # borrows from g directly
    expected = {
        "p": msgs(*"abcd", "p1", "p2"),
        "c": msgs(*"abcd", "p1", "c1"),
        "c2": msgs("a", "b"),
    }
    assert await store.delete_session("g") is True
    for sid, messages in expected.items():
        assert await store.read_messages(sid) == messages
    assert await store.delete_session("p") is True
    del expected["p"]
    for sid, messages in expected.items():
        assert await store.read_messages(sid) == messages
    record = await store.get_session("c")
    assert record is not None
    assert (record.parent_id, record.fork_point) == ("p", 5)
    # Only the survivors' own slots and the index are left.
    encoded = {encode_id(s) for s in ("c", "c2")}
    for slot in await store.slots(NS):
        assert slot.startswith("index") or slot.split("/")[1] in encoded, slot


async def test_edit_parent_keeps_children(store: ToyStore) -> None:
    await store.create_session("g")
    await store.append_messages("g", msgs(*"abcdef"), expected_length=0)
    await store.fork_session("g", "p", at=4)
    await store.append_messages("p", msgs("p1", "p2", "p3"), expected_length=4)
    await store.fork_session("p", "c", at=6)  # a b c d p1 p2
    await store.fork_session("p", "early", at=2)
    await store.replace_messages("p", 5, msgs("P"), expected_length=7)
    assert await store.read_messages("c") == msgs(*"abcd", "p1", "p2")
    assert await store.read_messages("p") == msgs(*"abcd", "p1", "P")
    assert await store.read_messages("early") == msgs("a", "b")
    await store.replace_messages("g", 1, msgs("G"), expected_length=6)
    assert await store.read_messages("p") == msgs(*"abcd", "p1", "P")
    assert await store.read_messages("early") == msgs("a", "b")
    assert await store.read_messages("g") == msgs("a", "G")


async def test_fork_truncated_into_its_shared_part(store: ToyStore) -> None:
    await store.create_session("p")
    await store.append_messages("p", msgs(*"abcdef"), expected_length=0)
    await store.fork_session("p", "c", at=5)
    await store.append_messages("c", msgs("c1"), expected_length=5)
    await store.replace_messages("c", 3, msgs("x"), expected_length=6)
    assert await store.read_messages("c") == msgs("a", "b", "c", "x")
    store.ops.clear()
    await store.replace_messages("p", 4, [], expected_length=6)  # c shares only 3 now
    assert not any(op == "tx.hset" and "msgs/" + encode_id("c") in s for op, s, _ in store.ops)
    assert await store.read_messages("c") == msgs("a", "b", "c", "x")
    await store.replace_messages("p", 2, msgs("y"), expected_length=4)
    assert await store.read_messages("c") == msgs("a", "b", "c", "x")
    await store.replace_messages("c", 0, msgs("z"), expected_length=4)
    assert await store.read_messages("c") == msgs("z")
    record = await store.get_session("c")
    assert record is not None
    assert (record.parent_id, record.fork_point) == ("p", 5)


async def test_hostile_ids(store: ToyStore) -> None:
    ids = [f"{h}" for h in HOSTILE_IDS] + ["", "meta/x", "index", "msgs/a/0"]
    for i, sid in enumerate(ids):
        await store.create_session(sid, label=str(i))
        await store.append_messages(sid, msgs(str(i)), expected_length=0)
    parent = ids[0]
    for i, sid in enumerate(ids[1:], 1):
        await store.fork_session(parent, sid + "/fork", label=f"f{i}")
    listed = await _all(store, limit=7)
    assert {r.id for r in listed} == set(ids) | {sid + "/fork" for sid in ids[1:]}
    assert await store.delete_session(parent) is True
    for i, sid in enumerate(ids[1:], 1):
        assert await store.read_messages(sid) == msgs(str(i))
        assert await store.read_messages(sid + "/fork") == msgs("0")


# -- atomicity, retries, cost -------------------------------------------------------------


async def test_delete_parent_does_not_lose_a_concurrent_append(store: ToyStore) -> None:
    await store.create_session("p")
    await store.append_messages("p", msgs("a", "b"), expected_length=0)
    await store.fork_session("p", "c")

    async def append_to_child() -> None:
        await store.append_messages("c", msgs("c1"), expected_length=2)

    store.before_commit = append_to_child
    assert await store.delete_session("p") is True
    assert await store.read_messages("c") == msgs("a", "b", "c1")


async def test_edit_parent_does_not_lose_a_concurrent_fork(store: ToyStore) -> None:
    await store.create_session("p")
    await store.append_messages("p", msgs("a", "b", "c"), expected_length=0)

    async def fork() -> None:
        await store.fork_session("p", "c", at=3)

    store.before_commit = fork
    await store.replace_messages("p", 1, msgs("x"), expected_length=3)
    assert await store.read_messages("p") == msgs("a", "x")
    # The fork read the parent before the edit (it committed first), so it keeps a, b, c.
    assert await store.read_messages("c") == msgs("a", "b", "c")


async def test_remembered_watches_that_went_stale_are_dropped(store: ToyStore) -> None:
    await store.create_session("p")
    await store.append_messages("p", msgs("a", "b"), expected_length=0)
    await store.fork_session("p", "c")
    assert await store.read_messages("c") == msgs("a", "b")  # remembers to watch p
    await store.replace_messages("c", 0, msgs("x"), expected_length=2)  # c no longer needs p

    async def append_to_parent() -> None:
        await store.append_messages("p", msgs("c"), expected_length=2)

    store.before_commit = append_to_parent
    store.ops.clear()
    assert await store.read_messages("c") == msgs("x")
    assert [op for op, _, _ in store.ops].count("tx.commit") == 3  # read, append, read again
    store.ops.clear()
    assert await store.read_messages("c") == msgs("x")
    assert [op for op, _, _ in store.ops].count("transaction") == 1


async def test_conflicts_are_retried_then_give_up(store: ToyStore) -> None:
    await store.create_session("s")
    store.conflicts = 3
    assert await store.append_messages("s", msgs("a"), expected_length=0) == 1
    store.conflicts = 1000
    with pytest.raises(ContentionError) as info:
        await store.append_messages("s", msgs("b"), expected_length=1)
    assert info.value.attempts == 10
    store.conflicts = 0
    assert await store.read_messages("s") == msgs("a")


async def test_append_cost_is_flat(store: ToyStore, clock: Clock) -> None:
    """One append touches the same slots and fields at 100 and at 5000 messages."""
    costs = []
    for length in (100, 5000):
        sid = f"s{length}"
        await store.create_session(sid)
        for start in range(0, length, 500):
            batch = msgs(*map(str, range(start, min(length, start + 500))))
            await store.append_messages(sid, batch, expected_length=start)
        store.ops.clear()
        await store.append_messages(sid, msgs("new"), expected_length=length)
        costs.append([(op, fields) for op, _, fields in store.ops])
    assert costs[0] == costs[1]
    assert len(costs[0]) <= 10, costs[0]


async def test_layout_keeps_to_its_namespace(store: ToyStore) -> None:
    await store.set("app", "k", b"v", ttl=60)
    await store.create_session("s")
    await store.append_messages("s", msgs("a"), expected_length=0)
    e = encode_id("s")
    slots = await store.slots(NS)
    assert {f"meta/{e}", f"msgs/{e}/0", "index"} <= set(slots)
    assert await store.slots("app") == ["k"]
    for slot in slots:  # slots never expire: sessions expire through their own ttl
        assert await store.get_ttl(NS, slot) == math.inf, slot


async def test_clear(store: ToyStore) -> None:
    await store.create_session("p")
    await store.append_messages("p", msgs("a"), expected_length=0)
    await store.fork_session("p", "c")
    await store.kv_sessions.clear()
    assert await store.slots(NS) == []
    bare = ToyStoreWithoutLifecycle(store.url)
    sessions = KVSessionDocuments(bare, namespace="other")
    for i in range(120):
        await sessions.create_session(f"s{i}")
    await sessions.fork_session("s1", "f")
    await sessions.append_messages("f", msgs("x"), expected_length=0)
    await sessions.clear()
    assert (await sessions.list_sessions()).items == []
    assert await store.slots("other") == []
    await bare.aclose()


async def test_needs_hash_and_transactions() -> None:
    class Plain(BaseStore):
        CAPABILITIES = frozenset({Capability.KEY_VALUE, Capability.HASH})

    with pytest.raises(NotSupportedError, match="transactions"):
        KVSessionDocuments(Plain(StoreURL.parse("memory://")))  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        KVSessionDocuments(ToyStore(StoreURL.parse("memory://")), slot_ttl=0)


def test_public_names() -> None:
    assert unistore.KVSessionDocuments is KVSessionDocuments
    assert "KVSessionDocumentsMixin" in unistore.__all__
    assert isinstance(ToyStore(StoreURL.parse("memory://")), SessionDocuments)


def test_the_mixin_implements_the_sdk_primitives() -> None:
    assert issubclass(KVSessionDocumentsMixin, SessionDocumentsBase)
    assert Capability.SESSION_DOCUMENTS in ToyStore.CAPABILITIES
    # The public methods are the SDK's (final), not re-declared by the mixin.
    assert ToyStore.append_messages is SessionDocumentsBase.append_messages


def test_importing_generic_sessions_loads_no_product() -> None:
    code = (
        "import sys, unistore._sessions._kv\n"
        "heavy = ('asyncio', 'unistore._sessions._manager', 'unistore._sessions._conversation',"
        " 'unistore._registry', 'pluggy')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# -- scopes -------------------------------------------------------------------------------

#: Scopes that a naive layout would confuse with each other or with slot names.
SCOPES = [
    None,
    "a",
    "a/",
    "a/b",
    "b",
    "scope",
    "scope/",
    "scopes",
    "meta",
    "index",
    "*",
    "%",
    "..",
    ":",
    "{x}",
    "\u00e9",
    "\U0001f600",
    " ",
    "x" * 1024,
]


async def test_scoped_slots_never_collide(store: ToyStore) -> None:
    owned: dict[str, set[str]] = {}
    seen: set[str] = set()
    for scope in SCOPES:
        # Ids that look like slot names, and a fork so that every slot kind exists.
        await store.create_session("meta/x", scope=scope)
        await store.append_messages("meta/x", msgs("m"), scope=scope)
        await store.fork_session("meta/x", "index", at=1, scope=scope)
        await store.append_messages("index", msgs("n"), scope=scope)
        now = set(await store.slots(NS))
        owned[scope or ""] = now - seen - {SCOPES_SLOT}
        seen = now
    for slot in seen:
        assert not set(slot) & set(":{}*\x00"), slot
    prefixes = {scope: Names.of(scope).prefix for scope in owned}
    for scope, slots in owned.items():
        assert len(slots) >= 6, (scope, slots)
        for slot in slots:
            assert slot.startswith(prefixes[scope]), (scope, slot)
            # No other non-default scope's prefix claims it: prefixes are prefix-free.
            assert [s for s, prefix in prefixes.items() if prefix and slot.startswith(prefix)] == (
                [scope] if scope else []
            )
    assert {Names.scope_of(f) for f in await store.hkeys(NS, SCOPES_SLOT)} == set(owned) - {""}
    # Removing one scope's sessions leaves exactly the others' slots.
    for sid in ("index", "meta/x"):
        assert await store.delete_session(sid, scope="a/") is True
    assert (await store.list_sessions(scope="a/")).items == []
    assert set(await store.slots(NS)) == seen - owned["a/"]
    for scope in SCOPES:
        if scope != "a/":
            assert await store.read_messages("index", scope=scope) == msgs("m", "n")


async def test_iter_scopes_forgets_a_scope_left_empty(store: ToyStore) -> None:
    await store.create_session("s", scope="a")
    await store.create_session("s", scope="b")
    assert sorted([s async for s in store.iter_scopes()], key=str) == ["a", "b"]
    await store.delete_session("s", scope="a")
    await store.list_sessions(scope="a")  # a listing forgets the emptied index directories
    assert [s async for s in store.iter_scopes()] == ["b"]
    assert await store.hkeys(NS, SCOPES_SLOT) == [Names.of("b").field]
    await store.create_session("s")
    assert sorted([s async for s in store.iter_scopes()], key=str) == [None, "b"]


# -- data written by the first layout -------------------------------------------------------

#: The slots the first layout (no scopes, no retention, no tokens) wrote for a session
#: ``p`` of three messages and its fork ``f`` at 2 with one message of its own.
FIRST_LAYOUT: dict[str, dict[str, str]] = {
    "forks/cA": {"Zg": "2"},
    "index": {"1633": "1"},
    "index/1633": {"1672811": "1"},
    "index/1633/1672811": {
        "00001796167590656253/cA": (
            '["p","P",null,null,{"k":1},1796167590655914,1796167590656253,3]'
        ),
        "00001796167590656688/Zg": '["f","F","p",2,{},1796167590656474,1796167590656688,3]',
    },
    "meta/Zg": {
        "id": '"f"',
        "label": '"F"',
        "parent": '"p"',
        "fork_point": "2",
        "base": '"p"',
        "base_point": "2",
        "metadata": "{}",
        "created": "1796167590656474",
        "updated": "1796167590656688",
        "length": "3",
    },
    "meta/cA": {
        "id": '"p"',
        "label": '"P"',
        "parent": "null",
        "fork_point": "null",
        "base": "null",
        "base_point": "0",
        "metadata": '{"k":1}',
        "created": "1796167590655914",
        "updated": "1796167590656253",
        "length": "3",
    },
    "msgs/Zg/0": {"2": '"x"'},
    "msgs/cA/0": {"0": '"a"', "1": '"b"', "2": '"c"'},
}


async def test_data_of_the_first_layout_still_loads(store: ToyStore) -> None:
    for slot, fields in FIRST_LAYOUT.items():
        mapping = {name: value.encode() for name, value in fields.items()}
        await store.hset(NS, slot, mapping, ttl=LEGACY_SLOT_TTL)
    p = await store.get_session("p")
    assert p is not None
    assert (p.label, dict(p.metadata), p.message_count) == ("P", {"k": 1}, 3)
    assert (p.scope, p.ttl, p.expires_at) == (None, None, None)
    f = await store.get_session("f")
    assert f is not None
    assert (f.parent_id, f.fork_point, f.message_count) == ("p", 2, 3)
    assert await store.read_messages("p") == ['"a"', '"b"', '"c"']
    assert await store.read_messages("f", last=2) == ['"b"', '"x"']
    assert [r.id for r in await _all(store)] == ["f", "p"]
    assert [r.message_count for r in await _all(store)] == [3, 3]
    assert [s async for s in store.iter_scopes()] == [None]
    assert await store.get_session("p", scope="other") is None
    # Writes work on them and add the new fields.
    assert await store.append_messages("p", ['"d"'], token="t1") == 4
    assert await store.append_messages("p", ['"e"'], token="t1") == 4
    assert await store.pop_messages("f", 2) == ['"b"', '"x"']  # below its fork point
    assert await store.read_messages("p") == ['"a"', '"b"', '"c"', '"d"']
    await store.fork_session("p", "g", at=4)
    assert await store.delete_session("p") is True
    assert await store.read_messages("f") == ['"a"']
    assert await store.read_messages("g") == ['"a"', '"b"', '"c"', '"d"']
    assert [r.id for r in await _all(store)] == ["g", "f"]


# -- exactly once, unconditional appends ----------------------------------------------------


async def test_tokens_live_in_the_record_and_only_the_latest_100(store: ToyStore) -> None:
    await store.create_session("s")
    for i in range(105):
        await store.append_messages("s", msgs(str(i)), token=f"t{i}")
    raw = await store.hget(NS, f"meta/{encode_id('s')}", "tokens")
    assert raw is not None
    tokens = json.loads(raw)
    assert list(tokens) == [f"t{i}" for i in range(5, 105)]
    assert tokens["t104"] == 105
    assert await store.append_messages("s", msgs("again"), token="t5") == 6
    assert await store.append_messages("s", msgs("again"), token="t0") == 106  # forgotten
    # A fork starts with no tokens of its own.
    await store.fork_session("s", "f")
    assert await store.append_messages("f", msgs("x"), token="t104") == 107


async def test_unconditional_appends_retry_instead_of_conflicting(store: ToyStore) -> None:
    await store.create_session("s")

    async def append_meanwhile() -> None:
        assert await store.append_messages("s", msgs("b")) == 1

    store.before_commit = append_meanwhile
    store.ops.clear()
    assert await store.append_messages("s", msgs("a")) == 2
    assert [op for op, _, _ in store.ops].count("transaction") == 3  # lost once, retried
    assert await store.read_messages("s") == msgs("b", "a")
    store.conflicts = 5
    assert await store.append_messages("s", msgs("c")) == 3
    store.conflicts = 1000
    with pytest.raises(ContentionError):
        await store.append_messages("s", msgs("d"))
    store.conflicts = 0
    assert await store.read_messages("s") == msgs("b", "a", "c")


# -- retention ------------------------------------------------------------------------------


def _slots_of(slots: list[str], session_id: str) -> list[str]:
    encoded = encode_id(session_id)
    return [slot for slot in slots if slot.split("/")[1:2] == [encoded]]


async def test_an_expired_session_is_reclaimed_and_its_fork_keeps_its_messages(
    store: ToyStore, clock: Clock
) -> None:
    await store.create_session("p", ttl=10)
    await store.append_messages("p", msgs("a", "b", "c"))
    await store.fork_session("p", "f", at=2)
    meta = await store.hgetall(NS, f"meta/{encode_id('p')}")
    assert json.loads(meta["ttl"]) == 10
    clock.advance(11)
    assert _slots_of(await store.slots(NS), "p")  # invisible, but not reclaimed yet
    assert await store.read_messages("f") == msgs("a", "b")
    assert await store.get_session("p") is None  # this lookup reclaims it
    assert _slots_of(await store.slots(NS), "p") == []
    assert await store.hget(NS, f"meta/{encode_id('f')}", "base") == b"null"
    assert await store.read_messages("f") == msgs("a", "b")
    assert [r.id for r in await _all(store)] == ["f"]


async def test_a_write_to_an_expired_session_reclaims_it_and_finds_nothing(
    store: ToyStore, clock: Clock
) -> None:
    await store.create_session("s", ttl=1)
    await store.append_messages("s", msgs("a"))
    clock.advance(2)
    with pytest.raises(SessionNotFoundError):
        await store.append_messages("s", msgs("b"))
    assert _slots_of(await store.slots(NS), "s") == []
    created = await store.create_session("s")  # the id is free; nothing of the old one is left
    assert (created.message_count, created.ttl) == (0, None)
    assert await store.read_messages("s") == []


async def test_a_listing_skips_expired_sessions_and_reclaims_a_batch(
    store: ToyStore, clock: Clock
) -> None:
    for i in range(40):
        await store.create_session(f"old{i}", ttl=5)
    clock.advance(6)
    await store.create_session("live")
    page = await store.list_sessions(limit=1)
    assert ([r.id for r in page.items], page.next_cursor) == (["live"], None)

    def metas(slots: list[str]) -> int:
        return sum(1 for slot in slots if slot.startswith("meta/"))

    assert metas(await store.slots(NS)) == 41 - RECLAIM_BATCH
    while metas(await store.slots(NS)) > 1:
        await store.list_sessions()
    assert [r.id for r in await _all(store)] == ["live"]


async def test_slot_ttl_still_applies_to_every_slot(store: ToyStore) -> None:
    sessions = KVSessionDocuments(store, namespace="finite", slot_ttl=60)
    await sessions.create_session("s", scope="a")
    await sessions.append_messages("s", msgs("a"), scope="a")
    slots = await store.slots("finite")
    assert slots
    for slot in slots:
        assert 0 < (await store.get_ttl("finite", slot) or 0) <= 60, slot
