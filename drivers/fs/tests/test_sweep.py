"""Expired slots vanish at once and their files are reclaimed by a bounded sweep."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest

import unistore
from unistore import StoreTimeoutError
from unistore_fs import FileStore
from unistore_fs._locks import DirLock, try_lock_dir


def _listdir(path: Path) -> list[str]:
    return sorted(os.listdir(path)) if path.is_dir() else []


@pytest.fixture(autouse=True)
def _no_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("unistore_fs._ns_ops.SWEEP_GRACE", 0.0)


async def test_expired_slots_are_invisible_at_once(store: FileStore, root: Path) -> None:
    await store.set("app", "short", b"v", ttl=0.05)
    await store.hset("app", "hash", {"f": b"v"}, ttl=0.05)
    await store.set("app", "long", b"v", ttl=60)
    await asyncio.sleep(0.08)
    assert await store.get("app", "short") is None
    assert await store.hgetall("app", "hash") == {}
    assert await store.get_ttl("app", "short") is None
    assert await store.slot_kind("app", "hash") is None
    assert not await store.expire("app", "short", 60)
    assert await store.incr("app", "short", ttl=60) == 1  # a fresh counter, not the old value
    assert await store.slots("app") == ["long", "short"]
    # slots() saw the expired hash and swept its namespace.
    assert _listdir(root / "ns" / "app") == [".lock", "long.json", "short.json"]


async def _eventually(check: Callable[[], bool]) -> None:
    """Wait for the background sweeper to make ``check`` true (a generous bound)."""
    for _ in range(1_000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the sweeper did not get there")


async def test_writes_wake_the_sweeper_which_reclaims_files_and_empty_folders(
    root: Path,
) -> None:
    # No timer: only the writes start the sweep.
    async with unistore.connect(
        f"file://{root}", sweep_every=5, sweep_batch=50, sweep_interval=0
    ) as store:
        for n in range(20):
            await store.set(f"gone-{n}", "s", b"v", ttl=0.05)
        await store.set("kept", "s", b"v", ttl=60)
        await asyncio.sleep(0.08)
        for n in range(10):
            await store.set("kept", f"s{n}", b"v", ttl=60)
        await _eventually(lambda: _listdir(root / "ns") == ["kept"])
        assert len(_listdir(root / "ns" / "kept")) == 12  # .lock and 11 live slots


async def test_a_run_woken_by_a_write_also_sweeps_what_it_walked_before_expiry(
    root: Path,
) -> None:
    # Runs that found nothing (the slots had not expired yet) left the walk
    # part way through the store; the run after they expire must not end at
    # the end of the store, short of the folders it walked before.
    async with unistore.connect(
        f"file://{root}", sweep_every=1, sweep_batch=8, sweep_interval=0
    ) as store:
        for n in range(12):
            await store.set(f"gone-{n:02d}", "s", b"v", ttl=0.3)
            await asyncio.sleep(0.01)  # a run, one step, between the writes
        await asyncio.sleep(0.35)
        await store.set("kept", "s", b"v", ttl=60)  # the one write after expiry
        await _eventually(lambda: _listdir(root / "ns") == ["kept"])


async def test_without_writes_nor_timer_nothing_is_swept(root: Path) -> None:
    async with unistore.connect(f"file://{root}", sweep_every=0, sweep_interval=0) as store:
        for n in range(5):
            await store.set(f"gone-{n}", "s", b"v", ttl=0.01)
        await asyncio.sleep(0.05)
        for _ in range(5):
            assert await store.get("gone-0", "s") is None
        await asyncio.sleep(0.05)
        assert len(_listdir(root / "ns")) == 5
        assert await store.sweep() == 5  # on demand it still works
        assert _listdir(root / "ns") == []


async def test_sweep_is_bounded_per_step(root: Path) -> None:
    batch = 10
    async with unistore.connect(
        f"file://{root}", sweep_every=0, sweep_interval=0, sweep_batch=batch
    ) as store:
        assert isinstance(store, FileStore)
        for n in range(9):
            await store.set_many(f"gone-{n}", {f"s{i}": b"v" for i in range(5)}, ttl=0.05)
        await asyncio.sleep(0.08)
        total = 0
        steps = 0
        while _listdir(root / "ns"):
            removed = await store.sweep()
            assert removed <= batch  # each step examines at most `batch` directory entries
            total += removed
            steps += 1
            assert steps < 100
        assert total == 45
        # 9 folders, each with 5 files and a lock: at least 63 entries to examine.
        assert steps >= 63 // batch


async def test_touch_and_purge_reclaim_the_namespace(store: FileStore, root: Path) -> None:
    await store.set("app", "old", b"v", ttl=0.05)
    await store.set("app", "new", b"v", ttl=60)
    await asyncio.sleep(0.08)
    assert await store.touch("app", ttl=120) == 1
    assert _listdir(root / "ns" / "app") == [".lock", "new.json"]
    ttl = await store.get_ttl("app", "new")
    assert ttl is not None
    assert ttl > 60
    assert await store.purge("app") == 1
    assert "app" not in _listdir(root / "ns")
    assert await store.touch("app", ttl=10) == 0


def _hold_lock(folder: Path, name: str) -> DirLock:
    parent = os.open(folder, os.O_RDONLY)
    try:
        lock = try_lock_dir(parent, name, create=False)
    finally:
        os.close(parent)
    assert isinstance(lock, DirLock)
    return lock


async def test_a_busy_namespace_is_skipped_not_waited_for(root: Path) -> None:
    async with (
        unistore.connect(f"file://{root}", sweep_every=0) as first,
        unistore.connect(f"file://{root}", lock_timeout=0.2) as second,
    ):
        assert isinstance(first, FileStore)
        await first.set("app", "s", b"v", ttl=0.01)
        await asyncio.sleep(0.03)
        held = _hold_lock(root / "ns", "app")
        try:
            assert await first.sweep() == 0
            with pytest.raises(StoreTimeoutError, match="lock_timeout"):
                await second.set("app", "s", b"w", ttl=60)
        finally:
            held.release()
        await second.set("app", "s", b"w", ttl=60)
        assert await first.get("app", "s") == b"w"
