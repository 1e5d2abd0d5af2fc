"""Concurrent writers: several OS processes and tasks never lose an update."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import unistore
from unistore import StoreURL
from unistore.errors import StoreTimeoutError
from unistore.sdk import TOKENS_KEPT
from unistore.testing.contention import run_contention
from unistore_sql import SQLStore

PROCESSES = 4
TASKS = 8
INCREMENTS = 4

#: The backends other processes can share (in-memory SQLite cannot).
SERVERS = ["sqlite-file", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.mark.slow
@pytest.mark.parametrize("backend", SERVERS)
@pytest.mark.parametrize("mode", ["cas", "tx"])
async def test_processes_and_tasks_lose_no_increment(
    store: SQLStore, db_url: str, table_prefix: str, mode: str
) -> None:
    await store.migrate()  # the tables exist before the workers race for them
    shared = StoreURL.parse(db_url).with_options(table_prefix=table_prefix)
    result = await run_contention(
        shared.render(hide_secrets=False),
        processes=PROCESSES,
        tasks=TASKS,
        increments=INCREMENTS,
        mode=mode,
    )
    assert result.value == result.expected == PROCESSES * TASKS * INCREMENTS
    assert result.conflicts > 0  # the workers really contended


@pytest.mark.parametrize(
    "backend", ["sqlite-file", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_concurrent_incr_is_exact(store: SQLStore) -> None:
    await asyncio.gather(*(store.incr("ns", "c", ttl=60) for _ in range(200)))
    assert await store.get("ns", "c") == b"200"


@pytest.mark.parametrize("backend", ["sqlite-file"])
async def test_sqlite_writer_waits_for_another_process_lock(
    db_url: str, table_prefix: str, tmp_path: Path
) -> None:
    async with unistore.connect(db_url, table_prefix=table_prefix, busy_timeout=5) as store:
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
    db_url: str, table_prefix: str, tmp_path: Path
) -> None:
    async with unistore.connect(db_url, table_prefix=table_prefix, busy_timeout=0.2) as store:
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


WRITERS = 4
APPENDS = 50


@pytest.mark.parametrize("backend", SERVERS)
@pytest.mark.parametrize("with_token", [False, True])
async def test_concurrent_unconditional_appends_lose_nothing(
    store: SQLStore, db_url: str, table_prefix: str, with_token: bool
) -> None:
    # Several stores (engines, pools) write one session at once, as processes would.
    await store.create_session("s")
    writers = [unistore.connect(db_url, table_prefix=table_prefix) for _ in range(WRITERS)]
    expected = {f'"{w}-{i}"' for w in range(WRITERS) for i in range(APPENDS)}

    async def append(writer: Any, w: int, i: int) -> int:
        token = f"{w}-{i}" if with_token else None
        length: int = await writer.append_messages("s", [f'"{w}-{i}"'], token=token)
        return length

    try:
        lengths = await asyncio.gather(
            *(append(writer, w, i) for w, writer in enumerate(writers) for i in range(APPENDS))
        )
        if with_token:
            # A retry of any of the latest TOKENS_KEPT writes finds its token.
            calls = [(w, i) for w in range(WRITERS) for i in range(APPENDS)]
            recent = [
                (call, length)
                for call, length in zip(calls, lengths, strict=True)
                if length > WRITERS * APPENDS - TOKENS_KEPT
            ]
            again = await asyncio.gather(*(append(writers[w], w, i) for (w, i), _ in recent))
            assert again == [length for _, length in recent]
    finally:
        for writer in writers:
            await writer.aclose()
    total = WRITERS * APPENDS
    assert sorted(lengths) == list(range(1, total + 1))
    stored = await store.read_messages("s")
    assert len(stored) == total
    assert set(stored) == expected
    record = await store.get_session("s")
    assert record is not None
    assert record.message_count == total
