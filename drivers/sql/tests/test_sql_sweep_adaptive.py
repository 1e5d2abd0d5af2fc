"""The expiry sweep adapts its batch to the backlog, and runs off the loop on SQLite."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

import unistore_sql._db as db
import unistore_sql._inline as inline
from unistore.testing import ManualClock
from unistore_sql import SQLStore
from unistore_sql._slots import SWEEP_BATCH

SERVERS = ["sqlite-file", pytest.param("postgresql", marks=pytest.mark.postgres)]


async def _backlog(store: SQLStore, clock: ManualClock, rows: int) -> None:
    for start in range(0, rows, 2_000):
        values = {f"s{i}": b"v" for i in range(start, min(rows, start + 2_000))}
        await store.set_many("old", values, ttl=10)
    clock.advance(60)


def _record_batches(store: SQLStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each batch the store sweeps, negative for the one that was not full."""
    batches: list[int] = []
    real = store._db.sweep

    async def spy(batch: int = SWEEP_BATCH) -> int:
        count = await real(batch)
        batches.append(batch if count >= batch else -batch)
        return count

    monkeypatch.setattr(store._db, "sweep", spy)
    return batches


async def _write_until_drained(store: SQLStore, batches: list[int], limit: int) -> None:
    for i in range(limit):
        store._db._next_sweep = 0.0  # due now: no waiting in a test
        await store.set("live", f"k{i}", b"v", ttl=3600)
        if batches and batches[-1] < 0:
            return


@pytest.mark.parametrize("backend", SERVERS)
async def test_a_backlog_grows_the_batch_until_it_drains(
    sweeping: SQLStore, manual_clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every batch counts as quick, so each full one doubles the next.
    monkeypatch.setattr(db, "_SWEEP_TARGET", 3600.0)
    await _backlog(sweeping, manual_clock, 10_000)
    batches = _record_batches(sweeping, monkeypatch)
    await _write_until_drained(sweeping, batches, 50)
    assert batches == [500, 1_000, 2_000, 4_000, -8_000]
    assert sweeping._db._batch == SWEEP_BATCH  # the run ended: back to the first size
    monkeypatch.undo()
    assert await sweeping.sweep() == 0  # nothing expired is left
    assert await sweeping.get("live", "k0") == b"v"


@pytest.mark.parametrize("backend", SERVERS)
async def test_slow_batches_shrink_to_the_first_size(
    sweeping: SQLStore, manual_clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "_SWEEP_TARGET", 0.0)  # every batch counts as slow
    sweeping._db._batch = 4 * SWEEP_BATCH
    await _backlog(sweeping, manual_clock, 4_000)
    batches = _record_batches(sweeping, monkeypatch)
    await _write_until_drained(sweeping, batches, 50)
    assert batches[:3] == [2_000, 1_000, 500]


@pytest.mark.parametrize("backend", ["sqlite-file"])
async def test_sqlite_sweeps_in_a_worker_thread(
    sweeping: SQLStore, manual_clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _backlog(sweeping, manual_clock, 100)
    threads: list[int] = []
    real = inline.run_whole

    def spy(unit):  # type: ignore[no-untyped-def]
        threads.append(threading.get_ident())
        return real(unit)

    monkeypatch.setattr(db, "run_whole", spy)
    assert await sweeping.sweep() == 100
    assert threads
    assert threading.get_ident() not in threads
    assert await sweeping.get("old", "s1") is None


@pytest.mark.parametrize("backend", ["sqlite-file"])
async def test_sqlite_gives_swept_pages_back(
    sweeping: SQLStore, manual_clock: ManualClock, tmp_path: Path
) -> None:
    await sweeping.set_many("old", {f"s{i}": b"v" * 2_000 for i in range(2_000)}, ttl=10)
    manual_clock.advance(60)
    while await sweeping.sweep():
        pass
    conn = sqlite3.connect(tmp_path / "store.db")
    try:
        assert conn.execute("PRAGMA auto_vacuum").fetchone() == (2,)  # incremental
        assert conn.execute("PRAGMA freelist_count").fetchone() == (0,)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    finally:
        conn.close()
    assert pages < 200  # the 4 MB of values are gone from the file
