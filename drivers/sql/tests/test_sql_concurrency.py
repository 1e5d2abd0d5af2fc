"""Concurrent writers: several OS processes and tasks never lose an update."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import unistore
from unistore.errors import StoreTimeoutError
from unistore_sql import SQLStore

WORKER = Path(__file__).with_name("cas_worker.py")
PROCESSES = 4
TASKS = 8
INCREMENTS = 4


def _has_namespaced_store() -> bool:
    try:
        from unistore._namespaced import NamespacedStore  # noqa: F401
    except ImportError:
        return False
    return True


#: The backends other processes can share (in-memory SQLite cannot).
SERVERS = ["sqlite-file", pytest.param("postgresql", marks=pytest.mark.postgres)]

MODES = [
    pytest.param(
        "cas",
        marks=pytest.mark.skipif(
            not _has_namespaced_store(), reason="the namespaced store is not available"
        ),
    ),
    "tx",
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend", ["sqlite-file", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
@pytest.mark.parametrize("mode", MODES)
async def test_processes_and_tasks_lose_no_increment(
    store: SQLStore, db_url: str, prefix: str, mode: str
) -> None:
    await store.migrate()  # the tables exist before the workers race for them
    workers = [
        subprocess.Popen(  # noqa: ASYNC220 - the workers run beside this event loop
            [sys.executable, str(WORKER), db_url, prefix, mode, str(TASKS), str(INCREMENTS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(PROCESSES)
    ]
    conflicts = 0
    for worker in workers:
        out, err = await asyncio.to_thread(worker.communicate, timeout=110)
        assert worker.returncode == 0, err.decode()[-3000:]
        assert b"locked" not in err
        conflicts += int(out)
    expected = PROCESSES * TASKS * INCREMENTS
    assert await store.get("cas:counter", "n") == str(expected).encode()
    assert conflicts > 0  # the workers really contended


@pytest.mark.parametrize(
    "backend", ["sqlite-file", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_concurrent_incr_is_exact(store: SQLStore) -> None:
    await asyncio.gather(*(store.incr("ns", "c", ttl=60) for _ in range(200)))
    assert await store.get("ns", "c") == b"200"


@pytest.mark.parametrize("backend", ["sqlite-file"])
async def test_sqlite_writer_waits_for_another_process_lock(
    db_url: str, prefix: str, tmp_path: Path
) -> None:
    async with unistore.connect(db_url, table_prefix=prefix, busy_timeout=5) as store:
        await store.set("ns", "a", b"1", ttl=60)
        held = threading.Event()
        release = threading.Event()

        def hold_lock() -> None:
            # Another connection (as another process would) takes the write lock.
            conn = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            held.set()
            release.wait(5)
            time.sleep(0.3)
            conn.execute("COMMIT")
            conn.close()

        thread = threading.Thread(target=hold_lock)
        thread.start()
        await asyncio.to_thread(held.wait, 5)
        release.set()
        started = time.monotonic()
        await store.set("ns", "a", b"2", ttl=60)  # waits, never "database is locked"
        waited = time.monotonic() - started
        await asyncio.to_thread(thread.join)
        assert await store.get("ns", "a") == b"2"
        assert waited >= 0.2
        await store.destroy()


@pytest.mark.parametrize("backend", ["sqlite-file"])
async def test_sqlite_lock_held_past_busy_timeout_is_a_timeout(
    db_url: str, prefix: str, tmp_path: Path
) -> None:
    async with unistore.connect(db_url, table_prefix=prefix, busy_timeout=0.2) as store:
        await store.set("ns", "a", b"1", ttl=60)
        conn = sqlite3.connect(tmp_path / "store.db", isolation_level=None, timeout=5)
        try:
            conn.execute("BEGIN IMMEDIATE")
            with pytest.raises(StoreTimeoutError, match="busy_timeout") as info:
                await store.set("ns", "a", b"2", ttl=60)
            assert str(store.url) in str(info.value)
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        assert await store.get("ns", "a") == b"1"
        await store.destroy()
