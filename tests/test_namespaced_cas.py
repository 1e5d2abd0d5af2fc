"""Namespace.with_cas: snapshot, op queue, retries, exhaustion, real contention."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

import unistore
from unistore import (
    CasOps,
    CasSnapshot,
    ConflictError,
    ContentionError,
    Namespace,
    NamespacedStore,
    SlotKindError,
    ValidationError,
)
from unistore._namespaced._cas import BACKOFF_BASE
from unistore.sdk import TransactionsBase

Snap = CasSnapshot[str]


@pytest.fixture
def data(store: unistore.Store) -> NamespacedStore[str]:
    return NamespacedStore(store, prefix="t", default_ttl=60)


@pytest.fixture
def ns(data: NamespacedStore[str]) -> Namespace[str]:
    return data.namespace("cas")


@pytest.fixture
def conflict(store: unistore.Store, ns: Namespace[str]) -> Callable[[str], None]:
    """Make the open transaction on a slot conflict (the SDK's hook, on every driver)."""
    assert isinstance(store, TransactionsBase), "every shipped driver is an SDK store"

    def change(slot: str) -> None:
        store.simulate_concurrent_change(ns.store_namespace, slot)

    return change


# -- the single run -----------------------------------------------------------------


async def test_read_modify_write(ns: Namespace[str]) -> None:
    await ns.hset("basket", {"a": "2", "b": "3"})

    async def total(snap: Snap, ops: CasOps) -> int:
        items = await snap.hgetall("basket")
        result = sum(int(v) for v in items.values())
        ops.set("basket-total", str(result))
        return result

    assert await ns.with_cas("basket", total) == 5
    assert await ns.get("basket-total") == "5"


async def test_a_plain_function_works_too(ns: Namespace[str]) -> None:
    def write(snap: Snap, ops: CasOps) -> str:
        ops.set("s", "v")
        return "done"

    assert await ns.with_cas("s", write) == "done"
    assert await ns.get("s") == "v"


async def test_all_queued_ops_commit_with_the_ttl_discipline(ns: Namespace[str]) -> None:
    await ns.set("gone", "v")
    await ns.hset("h", {"keep": "1", "drop": "2"})

    async def fn(snap: Snap, ops: CasOps) -> None:
        ops.set("s", "v")
        ops.set("short", b"v", ttl=0.3)
        ops.delete("gone")
        ops.hset("h", "new", "3")
        ops.hset("h2", {"a": "1"}, ttl=30)
        ops.hdel("h", "drop")

    await ns.with_cas(["s", "h"], fn)
    assert await ns.get("s") == "v"
    assert await ns.get("gone") is None
    assert await ns.hgetall("h") == {"keep": "1", "new": "3"}
    assert await ns.hgetall("h2") == {"a": "1"}
    s_ttl, h2_ttl = await ns.ttl("s"), await ns.ttl("h2")
    assert s_ttl is not None
    assert 55 < s_ttl <= 60
    assert h2_ttl is not None
    assert 25 < h2_ttl <= 30
    await asyncio.sleep(0.5)
    assert await ns.get("short") is None


async def test_own_writes_are_not_visible_inside_the_closure(ns: Namespace[str]) -> None:
    await ns.set("s", "old")
    seen: list[Any] = []

    async def fn(snap: Snap, ops: CasOps) -> None:
        ops.set("s", "new")
        ops.hset("h", "f", "v")
        ops.delete("s")
        seen.extend([await snap.get("s"), await snap.hget("h", "f"), await snap.hgetall("h")])

    await ns.with_cas(["s", "h"], fn)
    assert seen == ["old", None, {}]
    assert await ns.get("s") is None
    assert await ns.hget("h", "f") == "v"


async def test_an_exception_propagates_at_once_and_nothing_is_written(
    ns: Namespace[str],
) -> None:
    runs = 0

    async def fn(snap: Snap, ops: CasOps) -> None:
        nonlocal runs
        runs += 1
        ops.set("s", "v")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await ns.with_cas("s", fn)
    assert runs == 1
    assert await ns.slots() == []


async def test_bad_ops_raise_inside_the_closure(ns: Namespace[str]) -> None:
    calls: list[Callable[[CasOps], None]] = [
        lambda ops: ops.set("", "v"),
        lambda ops: ops.set("s", 5),  # type: ignore[arg-type]
        lambda ops: ops.set("s", "v", ttl=0),
        lambda ops: ops.hset("h", {}),
        lambda ops: ops.hset("h", "f"),  # type: ignore[call-overload]
        lambda ops: ops.hset("h", 1, "v"),  # type: ignore[call-overload]
        lambda ops: ops.hdel("h"),
        lambda ops: ops.delete(""),
    ]
    for call in calls:

        def fn(snap: Snap, ops: CasOps, call: Callable[[CasOps], None] = call) -> None:
            ops.set("written", "v")
            call(ops)

        with pytest.raises(ValidationError):
            await ns.with_cas("s", fn)
    assert await ns.slots() == []


async def test_snapshot_reads_check_their_arguments_and_kinds(ns: Namespace[str]) -> None:
    await ns.hset("h", "f", "v")

    async def bad_slot(snap: Snap, ops: CasOps) -> None:
        await snap.get("")

    async def wrong_kind(snap: Snap, ops: CasOps) -> None:
        await snap.get("h")

    with pytest.raises(ValidationError):
        await ns.with_cas("h", bad_slot)
    with pytest.raises(SlotKindError):
        await ns.with_cas("h", wrong_kind)


async def test_snapshot_and_ops_die_with_their_run(ns: Namespace[str]) -> None:
    kept: list[tuple[Snap, CasOps]] = []
    await ns.with_cas("s", lambda snap, ops: kept.append((snap, ops)))
    snap, ops = kept[0]
    with pytest.raises(ValidationError, match="closure"):
        ops.set("s", "late")
    with pytest.raises(ValidationError, match="closure"):
        await snap.get("s")
    assert await ns.get("s") is None


@pytest.mark.parametrize(
    ("slots", "kwargs"),
    [("", {}), ([], {}), (b"s", {}), (5, {}), (["s", ""], {}), ("s", {"max_retries": -1})],
)
async def test_bad_with_cas_arguments(ns: Namespace[str], slots: Any, kwargs: Any) -> None:
    with pytest.raises(ValidationError):
        await ns.with_cas(slots, lambda snap, ops: None, **kwargs)


async def test_the_closure_must_be_callable(ns: Namespace[str]) -> None:
    with pytest.raises(ValidationError, match="callable"):
        await ns.with_cas("s", "not callable")  # type: ignore[call-overload]


async def test_binary_snapshot(store: unistore.Store) -> None:
    ns = NamespacedStore(store, prefix="t", default_ttl=60, decode=False).namespace("x")
    await ns.set("s", b"\xff")
    await ns.hset("h", "f", b"\xfe")

    async def fn(snap: CasSnapshot[bytes], ops: CasOps) -> list[Any]:
        return [await snap.get("s"), await snap.hget("h", "f"), await snap.hgetall("h")]

    assert await ns.with_cas(["s", "h"], fn) == [b"\xff", b"\xfe", {"f": b"\xfe"}]


# -- retries (memory driver test hook) ----------------------------------------------


async def test_a_conflict_runs_the_closure_again(
    ns: Namespace[str], conflict: Callable[[str], None]
) -> None:
    await ns.set("s", "1")
    runs = 0

    async def fn(snap: Snap, ops: CasOps) -> str:
        nonlocal runs
        runs += 1
        value = await snap.get("s")
        ops.set(f"written-by-run-{runs}", "v")
        ops.set("s", f"{value}+{runs}")
        if runs == 1:
            conflict("s")
        return f"result of run {runs}"

    assert await ns.with_cas("s", fn) == "result of run 2"
    assert runs == 2
    # The first run's queue was discarded; the second saw a fresh snapshot.
    assert await ns.slots() == ["s", "written-by-run-2"]
    assert await ns.get("s") == "1+2"


async def test_exhaustion_raises_contention_error(
    ns: Namespace[str], conflict: Callable[[str], None]
) -> None:
    runs = 0

    def fn(snap: Snap, ops: CasOps) -> None:
        nonlocal runs
        runs += 1
        ops.set("s", "v")
        conflict("s")

    with pytest.raises(ContentionError) as info:
        await ns.with_cas("s", fn, max_retries=2)
    assert isinstance(info.value, ConflictError)
    assert info.value.slots == ("s",)
    assert info.value.slot == "s"
    assert info.value.attempts == 3 == runs
    assert "3 attempts" in str(info.value)
    assert await ns.slots() == []


async def test_default_retries_and_no_retry(
    ns: Namespace[str], conflict: Callable[[str], None]
) -> None:
    with pytest.raises(ContentionError) as info:
        await ns.with_cas("s", lambda snap, ops: conflict("s"))
    assert info.value.attempts == 4
    with pytest.raises(ContentionError) as info:
        await ns.with_cas("s", lambda snap, ops: conflict("s"), max_retries=0)
    assert info.value.attempts == 1


async def test_multi_slot_watch(ns: Namespace[str], conflict: Callable[[str], None]) -> None:
    await ns.set("from", "10")
    await ns.set("to", "0")
    runs = 0

    async def move(snap: Snap, ops: CasOps) -> None:
        nonlocal runs
        runs += 1
        src, dst = int(await snap.get("from") or 0), int(await snap.get("to") or 0)
        ops.set("from", str(src - 3))
        ops.set("to", str(dst + 3))
        if runs == 1:
            conflict("to")  # a change to any watched slot counts

    await ns.with_cas(["from", "to", "from"], move)
    assert runs == 2
    assert (await ns.get("from"), await ns.get("to")) == ("7", "3")

    with pytest.raises(ContentionError) as info:
        await ns.with_cas(("from", "to"), lambda snap, ops: conflict("from"), max_retries=1)
    assert info.value.slots == ("from", "to")
    assert info.value.attempts == 2


async def test_a_change_to_an_unwatched_slot_is_no_conflict(
    ns: Namespace[str], conflict: Callable[[str], None]
) -> None:
    runs = 0

    def fn(snap: Snap, ops: CasOps) -> None:
        nonlocal runs
        runs += 1
        conflict("other")
        ops.set("s", "v")

    await ns.with_cas("s", fn)
    assert runs == 1


async def test_retries_back_off(
    ns: Namespace[str], conflict: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    delays: list[float] = []
    real_sleep = asyncio.sleep

    async def record(delay: float) -> None:
        delays.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", record)
    with pytest.raises(ContentionError):
        await ns.with_cas("s", lambda snap, ops: conflict("s"), max_retries=3)
    assert len(delays) == 3
    for retry, delay in enumerate(delays, start=1):
        assert 0 <= delay <= BACKOFF_BASE * 2 ** (retry - 1)


async def test_retry_and_exhaustion_are_logged(
    ns: Namespace[str], conflict: Callable[[str], None], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="unistore.namespaced")
    with pytest.raises(ContentionError):
        await ns.with_cas(["a", "b"], lambda snap, ops: conflict("a"), max_retries=2)
    records = [r for r in caplog.records if r.name == "unistore.namespaced"]
    assert [(r.levelno, r.__dict__["event"]) for r in records] == [
        (logging.WARNING, "cas-retry"),
        (logging.WARNING, "cas-retry"),
        (logging.WARNING, "cas-exhausted"),
    ]
    assert [r.__dict__.get("attempt") for r in records[:2]] == [1, 2]
    assert records[2].__dict__["attempts"] == 3
    for record in records:
        assert record.__dict__["slots"] == ("a", "b")
        assert record.__dict__["namespace"] == "'t:cas'"
        assert record.__dict__["ts"].endswith("+00:00")
        assert "'a', 'b'" in record.getMessage()


# -- real concurrency ---------------------------------------------------------------


async def test_a_real_concurrent_write_makes_the_closure_run_again(
    data: NamespacedStore[str],
) -> None:
    ns, other = data.namespace("real"), data.namespace("real")
    await ns.set("s", "1")
    runs = 0

    async def fn(snap: Snap, ops: CasOps) -> str | None:
        nonlocal runs
        runs += 1
        before = await snap.get("s")
        if runs == 1:
            await other.set("s", "2")
        ops.set("s", f"{before}!")
        return before

    assert await asyncio.wait_for(ns.with_cas("s", fn), 30) == "2"
    assert runs == 2
    assert await ns.get("s") == "2!"


async def test_creating_a_watched_absent_slot_is_a_conflict(data: NamespacedStore[str]) -> None:
    ns = data.namespace("absent")
    runs = 0

    async def fn(snap: Snap, ops: CasOps) -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            assert await snap.get("s") is None
            await data.namespace("absent").set("s", "created")
        ops.set("s", f"run {runs}")

    await asyncio.wait_for(ns.with_cas("s", fn), 30)
    assert runs == 2
    assert await ns.get("s") == "run 2"


@pytest.mark.slow
async def test_no_update_is_lost_under_contention(
    store: unistore.Store, data: NamespacedStore[str]
) -> None:
    # Memory runs 32 tasks x 100 updates. Over I/O every round of contention
    # costs real round trips, and one round lets one of N tasks commit (N - 1
    # retry), so the work grows with N squared: the server and file drivers
    # run 8 x 20, which still conflicts on nearly every update.
    tasks, per_task = (32, 100) if store.url.scheme == "memory" else (8, 20)
    ns = data.namespace("contended")
    runs = 0

    async def bump(snap: Snap, ops: CasOps) -> None:
        nonlocal runs
        runs += 1
        value = int(await snap.get("n") or 0)
        # Yield to the loop so that the other tasks interleave even on the
        # memory driver, whose operations never suspend.
        await asyncio.sleep(0)
        ops.set("n", str(value + 1))

    async def worker() -> None:
        for _ in range(per_task):
            await ns.with_cas("n", bump, max_retries=10_000)

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(tasks))), 300)
    assert await ns.get("n") == str(tasks * per_task)
    assert runs > tasks * per_task  # there was contention, and it was resolved
