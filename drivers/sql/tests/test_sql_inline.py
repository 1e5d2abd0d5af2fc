"""A SQLite file store's statements run inline on the loop, and never hold it up."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sqlalchemy_event

import unistore
import unistore_sql._inline as inline
from unistore.errors import StoreTimeoutError
from unistore_sql import SQLStore

pytestmark = pytest.mark.parametrize("backend", ["sqlite-file"])


Around = Callable[[str, str], None]


class _Reader:
    """A connection's cursor for reads at once, with ``around`` called before each statement."""

    def __init__(self, cursor: sqlite3.Cursor, around: Around) -> None:
        self.cursor, self.around = cursor, around

    def execute(self, sql: str, values: Any) -> sqlite3.Cursor:
        self.around("first", sql)
        return self.cursor.execute(sql, values)


def _around_statements(store: SQLStore, monkeypatch: pytest.MonkeyPatch, around: Around) -> None:
    """Call ``around(way, sql)`` before each compiled statement a connection runs.

    Both ways a statement runs: in a unit (``"_run"``) and as a read at once
    (``"first"``). ``around`` may raise a ``sqlite3.Error``: it comes out
    where SQLite's own would. No turn of the loop falls due meanwhile, so
    every read that can runs at once.
    """
    pool = store._db.inline
    assert pool is not None
    _no_turn_due(store, monkeypatch)
    run = inline.InlineConnection._run

    def spy_run(self: inline.InlineConnection, plan: inline._Plan, parameters: Any) -> Any:
        try:
            around("_run", plan.sql)
        except sqlite3.Error as exc:
            raise inline._wrap(plan.sql, exc) from exc
        return run(self, plan, parameters)

    first = inline.InlinePool.first

    def spy_first(self: inline.InlinePool, read: inline.OneRow, values: Any) -> Any:
        self.release(self.acquire())  # at least one connection to watch
        for connection in self._all:
            if not isinstance(connection.reader, _Reader):
                monkeypatch.setattr(connection, "reader", _Reader(connection.reader, around))
        return first(self, read, values)

    monkeypatch.setattr(inline.InlineConnection, "_run", spy_run)
    # The store holds the pool's bound method, not the class's function.
    monkeypatch.setattr(store._db, "at_once", lambda read, values: spy_first(pool, read, values))


def _no_turn_due(store: SQLStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """No turn of the loop falls due (a read due one runs as a unit, which gives it)."""
    assert store._db.inline is not None
    monkeypatch.setattr(inline, "SLICE", 3600.0)


async def test_reads_and_writes_run_on_the_loops_thread(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: set[int] = set()
    _around_statements(store, monkeypatch, lambda way, sql: threads.add(threading.get_ident()))
    await store.set("ns", "a", b"1", ttl=60)
    assert await store.get("ns", "a") == b"1"
    await store.hset("ns", "h", {"f": b"2"}, ttl=60)
    assert await store.hget("ns", "h", "f") == b"2"
    assert threads == {threading.get_ident()}


async def test_each_statement_is_compiled_once(store: SQLStore) -> None:
    await store.set("ns", "a", b"1", ttl=60)
    await store.get("ns", "a")
    pool = store._db.inline
    assert pool is not None
    plans = len(pool._plans)
    for i in range(50):
        await store.set("ns", f"k{i}", b"v", ttl=60)
        await store.get("ns", f"k{i}")
    assert len(pool._plans) == plans


async def test_the_loop_keeps_running_while_another_process_holds_the_lock(
    db_url: str, table_prefix: str, tmp_path: Path
) -> None:
    async with unistore.connect(db_url, table_prefix=table_prefix, busy_timeout=5) as store:
        await store.set("ns", "a", b"1", ttl=60)
        conn = sqlite3.connect(tmp_path / "store.db", isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN IMMEDIATE")
        ticks: list[float] = []

        async def ticker() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        def release_later() -> None:
            time.sleep(0.5)
            conn.execute("COMMIT")

        tick = asyncio.create_task(ticker())
        releaser = threading.Thread(target=release_later)
        releaser.start()
        try:
            await store.set("ns", "a", b"2", ttl=60)
        finally:
            tick.cancel()
            await asyncio.to_thread(releaser.join)
            conn.close()
        assert await store.get("ns", "a") == b"2"
        # A wait inside SQLite would have stopped the ticker for the 0.5 s.
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        assert len(ticks) >= 10
        assert max(gaps) < 0.25


async def test_a_loop_of_calls_lets_other_tasks_run(store: SQLStore) -> None:
    await store.set("ns", "a", b"1", ttl=60)
    turns = 0

    async def other() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    await asyncio.sleep(0)
    before = turns
    deadline = time.monotonic() + 0.05
    while time.monotonic() < deadline:
        await store.get("ns", "a")
    task.cancel()
    # A turn every slice (2 ms) of 50 ms of reads, not one per two slices.
    assert turns >= before + 10


async def test_reads_between_other_awaits_never_wait_for_a_turn(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller that lets the loop run between calls already gives the other tasks their turn."""
    await store.set("ns", "a", b"1", ttl=60)
    units = _units(store, monkeypatch)
    deadline = time.monotonic() + 20 * inline.SLICE
    reads = 0
    while time.monotonic() < deadline:
        assert await store.get("ns", "a") == b"1"
        reads += 1
        await asyncio.sleep(0)
    assert reads > 100
    assert units == []


async def test_reads_now_and_then_all_run_at_once(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only reads back to back for a slice wait for the loop's turn; a pause gave it one."""
    await store.set("ns", "a", b"1", ttl=60)
    units = _units(store, monkeypatch)
    for _ in range(5):
        await asyncio.sleep(inline.SLICE * 2)
        assert await store.get("ns", "a") == b"1"
    assert units == []


async def test_checkpoints_run_off_the_loop(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inline, "CHECKPOINT_EVERY", 5)
    pool = store._db.inline
    assert pool is not None
    threads: list[int] = []
    original = pool._checkpoint_now

    def spy() -> None:
        threads.append(threading.get_ident())
        original()

    monkeypatch.setattr(pool, "_checkpoint_now", spy)
    for i in range(12):
        await store.set("ns", f"k{i}", b"v", ttl=60)
    for _ in range(200):
        if threads and pool._checkpoint is None:
            break
        await asyncio.sleep(0.01)
    assert threads
    assert threading.get_ident() not in threads


async def test_the_wal_starts_over_under_a_steady_stream_of_writes(
    db_url: str, table_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint beside the writers never copies every frame; one that restarts does.

    SQLite rewinds the WAL only after a checkpoint that copied all of it, so
    without the restarting one the file grows by every write (about 12 KB
    per set here) for as long as the writes keep coming.
    """
    kept = 256 * 4096
    monkeypatch.setattr(inline, "CHECKPOINT_EVERY", 50)
    monkeypatch.setattr(inline, "RESTART_FRAMES", 256)
    monkeypatch.setattr(inline, "WAL_KEPT_BYTES", kept)
    wal = tmp_path / "store.db-wal"
    async with unistore.connect(db_url, table_prefix=table_prefix) as store:
        for i in range(20_000):
            await store.set("ns", f"k{i % 100}", b"v" * 100, ttl=60)
            # Past 12 MB of writes, the file is back near its kept size.
            if i >= 1_000 and i % 10 == 0 and wal.stat().st_size <= 2 * kept:
                break
        else:
            pytest.fail(f"the WAL never started over: {wal.stat().st_size} bytes")


async def test_statements_built_per_call_do_not_pile_up(store: SQLStore) -> None:
    from sqlalchemy import literal_column, select

    pool = store._db.inline
    assert pool is not None
    for i in range(3 * inline._PLANS_KEPT):

        async def op(conn: object, i: int = i) -> object:
            statement: Any = select(literal_column(str(i)))
            return (await conn.execute(statement)).scalar()  # type: ignore[attr-defined]

        assert await store._run("probe", op) == i
    assert len(pool._plans) <= inline._PLANS_KEPT


async def test_session_writes_compile_once_and_rows_go_in_one_executemany(
    store: SQLStore,
) -> None:
    """Appends, edits, pops and updates reuse their statements; message rows are one call."""
    pool = store._db.inline
    assert pool is not None
    many: list[int] = []
    original = inline.InlineConnection._run_many

    def spy(self: inline.InlineConnection, plan: inline._Plan, sets: list[Any]) -> inline.Rows:
        many.append(len(sets))
        return original(self, plan, sets)

    def writes(round_: int) -> list[Any]:
        sid = f"s{round_}"
        return [
            store.create_session(sid, messages=['{"a": 1}', '{"b": 2}']),
            store.append_messages(sid, ['{"c": 3}']),
            store.append_messages(sid, ['{"d": 4}', '{"e": 5}'], expected_length=3),
            store.append_messages(sid, ['{"f": 6}'], token=f"t{round_}"),
            store.replace_messages(sid, 1, ['{"B": 2}'], expected_length=6),
            store.pop_messages(sid),
            store.update_session(sid, label="L", metadata={"m": round_}),
        ]

    for call in writes(0):
        await call
    plans = len(pool._plans)
    inline.InlineConnection._run_many = spy  # type: ignore[method-assign]
    try:
        for round_ in range(1, 20):
            for call in writes(round_):
                await call
    finally:
        inline.InlineConnection._run_many = original  # type: ignore[method-assign]
    assert len(pool._plans) == plans, "a session write compiled a statement again"
    assert many[:4] == [2, 1, 2, 1]  # each write's rows in one executemany
    assert await store.read_messages("s19") == ['{"a": 1}']


def _units(store: SQLStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The operations that run as units of work from now on, in order."""
    units: list[str] = []
    execute = store._db._execute

    def spy(operation: str, *args: Any) -> Any:
        units.append(operation)
        return execute(operation, *args)

    monkeypatch.setattr(store._db, "_execute", spy)
    return units


async def test_a_read_is_its_one_statement_and_leaves_no_transaction(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.set("ns", "a", b"1", ttl=60)
    await store.hset("ns", "h", {"f": b"2"}, ttl=60)
    pool = store._db.inline
    assert pool is not None
    # No unit of work around a read: the statement runs at once.
    _no_turn_due(store, monkeypatch)
    units = _units(store, monkeypatch)
    seen: list[str] = []

    def listener(*args: Any) -> None:
        seen.append(args[2])

    sqlalchemy_event.listen(store.engine.sync_engine, "before_cursor_execute", listener)
    try:
        assert await store.get("ns", "a") == b"1"
        assert await store.hget("ns", "h", "f") == b"2"
        assert await store.get("ns", "absent") is None
    finally:
        sqlalchemy_event.remove(store.engine.sync_engine, "before_cursor_execute", listener)
    assert units == []
    assert len(seen) == 3
    assert all(sql.lstrip().upper().startswith("SELECT") for sql in seen)
    assert not any(connection.raw.in_transaction for connection in pool._all)


async def test_reads_at_once_leave_no_statement_open_to_pin_a_snapshot(
    db_url: str, table_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each read fetches its one row and SQLite resets the statement: a checkpoint can finish."""
    async with unistore.connect(db_url, table_prefix=table_prefix) as store:
        assert isinstance(store, SQLStore)
        await store.set("ns", "a", b"1", ttl=60)
        await store.set("ns", "n", b"42", ttl=60)  # held as a number
        await store.hset("ns", "h", {"f": b"2"}, ttl=60)
        _no_turn_due(store, monkeypatch)
        units = _units(store, monkeypatch)
        assert await store.get("ns", "a") == b"1"
        assert await store.get("ns", "n") == b"42"
        assert await store.get("ns", "absent") is None
        assert await store.hget("ns", "h", "f") == b"2"
        assert await store.hget("ns", "h", "absent") is None
        assert units == []
        other = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
        try:
            other.execute(f"UPDATE {table_prefix}meta SET value = value")
            # (busy, frames in the WAL, frames checkpointed): a reader's open
            # statement would hold its snapshot and leave busy at 1.
            assert other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone() == (0, 0, 0)
        finally:
            other.close()


async def test_a_new_connection_writes_nothing_and_needs_no_lock(
    db_url: str, table_prefix: str, tmp_path: Path
) -> None:
    """A connection the store opens on its file (a checkpoint's, a busier pool's) only reads it.

    Setting ``auto_vacuum`` is a write transaction even where the file has
    it: done on every open, it took the write lock (busy for the store's
    own writers, then an fsync under the default ``synchronous``).
    """
    async with unistore.connect(db_url, table_prefix=table_prefix) as store:
        assert isinstance(store, SQLStore)
        await store.set("ns", "a", b"1", ttl=60)
        pool = store._db.inline
        assert pool is not None
        watcher = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
        writer = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
        try:
            version = watcher.execute("PRAGMA data_version").fetchone()
            pool._open().close()
            assert watcher.execute("PRAGMA data_version").fetchone() == version  # nothing written
            writer.execute("BEGIN IMMEDIATE")
            pool._open().close()  # busy_timeout=0: a lock it needed would raise at once
            writer.execute("ROLLBACK")
            assert watcher.execute("PRAGMA auto_vacuum").fetchone() == (2,)  # incremental
        finally:
            writer.close()
            watcher.close()


def _busy() -> sqlite3.Error:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorname = "SQLITE_BUSY"
    return error


async def test_a_read_that_meets_a_busy_database_is_retried_as_a_unit(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.set("ns", "a", b"1", ttl=60)
    calls: list[str] = []

    def twice_busy(way: str, sql: str) -> None:
        calls.append(way)
        if len(calls) <= 2:  # the read at once, then the unit's first attempt
            raise _busy()

    _around_statements(store, monkeypatch, twice_busy)
    units = _units(store, monkeypatch)
    assert await store.get("ns", "a") == b"1"
    assert calls == ["first", "_run", "_run"]
    assert units == ["get"]  # the read at once failed; one unit retried it


async def test_a_read_that_stays_busy_fails_after_busy_timeout(
    db_url: str, table_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with unistore.connect(db_url, table_prefix=table_prefix, busy_timeout=0.2) as store:
        assert isinstance(store, SQLStore)
        await store.set("ns", "a", b"1", ttl=60)

        def busy(way: str, sql: str) -> None:
            raise _busy()

        _around_statements(store, monkeypatch, busy)
        started = time.monotonic()
        with pytest.raises(StoreTimeoutError, match="busy_timeout"):
            await store.get("ns", "a")
        assert 0.15 < time.monotonic() - started < 5
        monkeypatch.undo()
        assert await store.get("ns", "a") == b"1"
        await store.destroy()
