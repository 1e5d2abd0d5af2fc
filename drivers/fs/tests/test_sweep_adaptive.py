"""The background expiry sweep: adaptive batches, bounded steps, time-driven, several processes."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

import unistore
import unistore_fs._sweeper as sweeper
from unistore.testing import ManualClock
from unistore_fs import FileStore
from unistore_fs._sweeper import SweepStep

FIRST = 50


@pytest.fixture(autouse=True)
def _no_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("unistore_fs._ns_ops.SWEEP_GRACE", 0.0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest_asyncio.fixture
async def timed(root: Path, clock: ManualClock) -> AsyncIterator[FileStore]:
    """A store on the manual clock whose sweeper runs on a short timer only.

    Unused so far: its sweeper starts with the first operation of the test.
    """
    store = unistore.connect(
        f"file://{root}",
        clock=clock,
        durability="flush",
        sweep_every=0,
        sweep_interval=0.02,
        sweep_batch=FIRST,
    )
    assert isinstance(store, FileStore)
    async with store:
        yield store


def _files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


async def _backlog(root: Path, clock: ManualClock, spread: dict[str, int]) -> None:
    """Write ``count`` slots in each namespace of ``spread``, then let them all expire.

    Through a store of its own that never sweeps: the store under test finds
    the whole backlog in place when its sweeper starts.
    """
    async with unistore.connect(
        f"file://{root}", clock=clock, durability="flush", sweep_every=0, sweep_interval=0
    ) as store:
        for ns, count in spread.items():
            for start in range(0, count, 1_000):
                values = {f"s{i}": b"v" for i in range(start, min(count, start + 1_000))}
                await store.set_many(ns, values, ttl=10)
    clock.advance(60)


def _record_steps(store: FileStore, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, SweepStep]]:
    """Every step the sweeper takes: its batch and what it did."""
    steps: list[tuple[int, SweepStep]] = []
    real = store._sweep_once

    async def spy(batch: int, stop: Callable[[], bool]) -> SweepStep:
        step = await real(batch, stop)
        steps.append((batch, step))
        return step

    monkeypatch.setattr(store, "_sweep_once", spy)
    return steps


async def _until(check: Callable[[], bool], what: str) -> None:
    # A generous bound that only a broken sweeper reaches; no timing is asserted.
    for _ in range(3_000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the sweeper never {what}")


async def test_a_backlog_grows_the_batch_until_the_pass_ends(
    timed: FileStore, clock: ManualClock, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweeper, "SWEEP_TARGET", 3600.0)  # every step counts as quick
    await _backlog(root, clock, {"old": 1_000})
    steps = _record_steps(timed, monkeypatch)
    assert await timed.get("old", "s1") is None  # the first operation starts the sweeper
    await _until(lambda: any(step.passed for _, step in steps), "finished a pass")
    batches = [batch for batch, _ in steps]
    # 1,000 files, the lock and the folder: the fifth step does not fill up.
    assert batches[:5] == [FIRST, 2 * FIRST, 4 * FIRST, 8 * FIRST, 16 * FIRST]
    assert all(step.examined == batch for batch, step in steps[:4])
    assert sum(step.removed for _, step in steps) == 1_000
    assert timed._sweeper.batch == FIRST  # the run ended: back to the first batch
    assert not (root / "ns" / "old").exists()


async def test_slow_steps_shrink_the_batch_to_the_first_size(
    timed: FileStore, clock: ManualClock, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweeper, "SWEEP_TARGET", 0.0)  # every step counts as slow
    await _backlog(root, clock, {"old": 1_000})
    steps = _record_steps(timed, monkeypatch)
    assert await timed.get("old", "s1") is None  # the first operation starts the sweeper
    # Before the first run, as if it had grown already.
    timed._sweeper.batch = 8 * FIRST
    await _until(lambda: len(steps) >= 5, "took five steps")
    assert [batch for batch, _ in steps[:5]] == [8 * FIRST, 4 * FIRST, 2 * FIRST, FIRST, FIRST]


async def test_an_injected_timer_decides_growth(
    timed: FileStore, clock: ManualClock, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A timer that says every step took half a millisecond, far under the target.
    ticks = iter(range(10**9))
    timed._sweeper.timer = lambda: next(ticks) * 0.0005
    monkeypatch.setattr(sweeper, "SWEEP_TARGET", 0.01)  # a real step may take longer
    await _backlog(root, clock, {"old": 1_000})
    steps = _record_steps(timed, monkeypatch)
    assert await timed.get("old", "s1") is None
    await _until(lambda: any(step.passed for _, step in steps), "finished a pass")
    assert [batch for batch, _ in steps[:3]] == [FIRST, 2 * FIRST, 4 * FIRST]


async def test_an_idle_store_drains_its_backlog_without_writes(
    timed: FileStore, clock: ManualClock, root: Path
) -> None:
    await _backlog(root, clock, {f"old-{n}": 100 for n in range(10)})
    await timed.set("live", "kept", b"v", ttl=3600)
    assert _files(root / "ns") > 1_000
    # No operation from here on: only the sweeper's timer works.
    await _until(lambda: sorted(os.listdir(root / "ns")) == ["live"], "drained the backlog")
    assert await timed.get("live", "kept") == b"v"
    assert sorted(os.listdir(root / "ns" / "live")) == [".lock", "kept.json"]


async def test_one_huge_namespace_is_swept_in_bounded_steps(root: Path, clock: ManualClock) -> None:
    batch = 200
    async with unistore.connect(
        f"file://{root}",
        clock=clock,
        durability="flush",
        sweep_every=0,
        sweep_interval=0,
        sweep_batch=batch,
    ) as store:
        assert isinstance(store, FileStore)
        await _backlog(root, clock, {"huge": 3_000})
        folder = root / "ns" / "huge"
        step = await store._sweep_once(batch, lambda: False)
        assert step.examined <= batch
        assert 0 < step.removed <= batch
        assert not step.passed
        assert len(os.listdir(folder)) == 3_001 - step.removed  # the rest waits its turn
        removed, steps = step.removed, 1
        while not step.passed:
            step = await store._sweep_once(batch, lambda: False)
            assert step.examined <= batch
            removed += step.removed
            steps += 1
        assert removed == 3_000
        assert steps >= 15
        assert not folder.exists()


async def test_the_sweeper_stops_on_close(root: Path, clock: ManualClock) -> None:
    store = unistore.connect(
        f"file://{root}",
        clock=clock,
        durability="flush",
        sweep_every=0,
        sweep_interval=0.01,
        sweep_batch=FIRST,
    )
    assert isinstance(store, FileStore)
    await _backlog(root, clock, {"old": 2_000})
    assert await store.get("old", "s1") is None  # the first operation starts the sweeper
    await _until(lambda: _files(root / "ns") < 2_001, "started")
    task = store._sweeper._task
    assert task is not None
    await store.aclose()
    assert task.done()
    assert not store._sweeper.running
    left = _files(root / "ns")
    await asyncio.sleep(0.1)
    assert _files(root / "ns") == left  # nothing removed after close
    assert left > 0  # it was stopped half way, not left to finish


async def test_failed_steps_are_logged_not_raised(
    timed: FileStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    async def broken(batch: int, stop: Callable[[], bool]) -> SweepStep:
        nonlocal calls
        calls += 1
        raise OSError("disk on fire")

    monkeypatch.setattr(timed, "_sweep_once", broken)
    await timed.set("n", "s", b"v", ttl=60)
    await _until(lambda: calls >= 2, "ran again after a failure")
    assert timed._sweeper.running
    assert "expiry sweep failed" in caplog.text
    assert await timed.get("n", "s") == b"v"


_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    import unistore
    import unistore_fs._ns_ops as ns_ops

    ns_ops.SWEEP_GRACE = 0.0

    async def main(url, stop_file):
        removed = 0
        async with unistore.connect(url, sweep_every=0, sweep_interval=0.01, sweep_batch=50) as s:
            real = s._sweep_once

            async def counting(batch, stop):
                nonlocal removed
                step = await real(batch, stop)
                removed += step.removed
                return step

            s._sweep_once = counting
            await s.get("probe", "x")  # the first operation starts the sweeper
            print("ready", flush=True)
            import os
            while not os.path.exists(stop_file):
                await asyncio.sleep(0.01)
        print(removed, flush=True)

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


@pytest.mark.slow
async def test_two_processes_sweep_one_root_and_lose_no_rewrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    url = f"file://{root}"
    stop_file = tmp_path / "stop"
    namespaces = [f"old-{n}" for n in range(4)]
    async with unistore.connect(url, durability="flush", sweep_every=0, sweep_interval=0) as seed:
        for ns in namespaces:
            await seed.set_many(ns, {f"s{i}": b"old" for i in range(500)}, ttl=0.05)
    await asyncio.sleep(0.1)  # every seeded slot has expired (on the wall clock both use)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CHILD,
        url,
        str(stop_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        assert (await asyncio.wait_for(child.stdout.readline(), 60)).strip() == b"ready"
        async with unistore.connect(
            url, sweep_every=0, sweep_interval=0.01, sweep_batch=50
        ) as store:
            assert isinstance(store, FileStore)
            mine = _record_steps(store, monkeypatch)
            # Rewrite every tenth expired slot while both processes sweep.
            for i in range(0, 500, 10):
                for ns in namespaces:
                    await store.set(ns, f"s{i}", f"new-{i}".encode(), ttl=600)

            def drained() -> bool:
                return all(len(os.listdir(root / "ns" / ns)) == 51 for ns in namespaces)

            await _until(drained, "drained both processes' backlog")
            for ns in namespaces:
                assert await store.slots(ns) == sorted(f"s{i}" for i in range(0, 500, 10))
                for i in range(0, 500, 10):
                    assert await store.get(ns, f"s{i}") == f"new-{i}".encode()
        stop_file.touch()
        out, err = await asyncio.wait_for(child.communicate(), 60)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode == 0, err.decode()[-3000:]
    assert b"expiry sweep failed" not in err
    theirs = int(out.split()[-1])
    ours = sum(step.removed for _, step in mine)
    assert theirs > 0
    assert theirs + ours <= 4 * 500  # no file counted twice
    assert theirs + ours >= 4 * 450  # every expired file went, rewritten ones aside


async def test_a_namespace_that_fails_does_not_hold_the_walk(
    root: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    await _backlog(root, clock, {"broken": 10, "fine": 10})
    (root / "ns" / "broken" / ".journal").write_bytes(b"{not json")
    async with unistore.connect(
        f"file://{root}", clock=clock, sweep_every=0, sweep_interval=0
    ) as store:
        assert isinstance(store, FileStore)
        for _ in range(4):
            await store._sweep_once(500, lambda: False)
    assert not (root / "ns" / "fine").exists()
    assert len(os.listdir(root / "ns" / "broken")) == 12  # left for a person to look at
    assert "expiry sweep skipped a namespace directory" in caplog.text
