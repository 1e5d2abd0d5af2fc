"""What the SDK port decided for this driver: watches, the clock, names, the finaliser."""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

import unistore
from unistore import StoreURL
from unistore.errors import StoreClosedError, TransactionConflictError
from unistore.testing import ManualClock
from unistore_sql import SQLStore


def open_with(url: str, **options: Any) -> SQLStore:
    """Open a store the way the registry does, with options it may not declare yet."""
    parsed = StoreURL.parse(url)
    driver = unistore.get_driver(parsed.scheme)
    values = {option.name: option.default for option in driver.options}
    values.update(options)
    return SQLStore(parsed, values)


def aiosqlite_threads() -> int:
    return sum("_connection_worker_thread" in t.name for t in threading.enumerate())


async def test_touch_of_a_watched_slot_fails_the_commit(store: SQLStore) -> None:
    await store.set("ns", "a", b"1", ttl=30)
    async with store.transaction("ns", ["a"]) as tx:
        assert await tx.get("a") == b"1"
        tx.set("b", b"2", ttl=30)
        assert await store.touch("ns", ttl=60) == 1
        with pytest.raises(TransactionConflictError):
            await tx.commit()
    assert await store.get("ns", "b") is None


async def test_expire_of_a_watched_slot_fails_the_commit(store: SQLStore) -> None:
    await store.hset("ns", "h", {"f": b"1"}, ttl=30)
    async with store.transaction("ns", ["h"]) as tx:
        tx.hset("h", {"g": b"2"}, ttl=30)
        assert await store.expire("ns", "h", 60)
        with pytest.raises(TransactionConflictError):
            await tx.commit()
    assert await store.hgetall("ns", "h") == {"f": b"1"}


async def test_a_touch_elsewhere_leaves_the_commit_alone(store: SQLStore) -> None:
    await store.set("ns", "a", b"1", ttl=30)
    await store.set("other", "a", b"1", ttl=30)
    async with store.transaction("ns", ["a"]) as tx:
        tx.set("a", b"2", ttl=30)
        await store.touch("other", ttl=60)
        await tx.commit()
    assert await store.get("ns", "a") == b"2"


async def test_expiry_and_stamps_follow_the_injected_clock(db_url: str, table_prefix: str) -> None:
    clock = ManualClock(start=1_000_000.0)
    store = open_with(db_url, table_prefix=table_prefix, clock=clock)
    async with store:
        try:
            assert store.clock is clock
            await store.set("ns", "a", b"1", ttl=10)
            await store.hset("ns", "h", {"f": b"1"}, ttl=10)
            assert await store.get_ttl("ns", "a") == pytest.approx(10)
            clock.advance(9)
            assert await store.get("ns", "a") == b"1"
            async with store.transaction("ns", ["a"]) as tx:
                clock.advance(2)  # the watched slot expires before the read
                assert await tx.get("a") is None
            assert await store.get("ns", "a") is None
            assert await store.slots("ns") == []
            record = await store.create_session("s")
            assert record.created_at.timestamp() == pytest.approx(1_000_011.0)
            clock.advance(100)
            assert await store.sweep() == 2  # the sweep reads the same clock
        finally:
            await store.destroy()


async def test_errors_name_the_dialect(db_url: str, backend: str) -> None:
    store = unistore.connect(db_url)
    await store.aclose()
    with pytest.raises(StoreClosedError) as info:
        await store.get("ns", "a")
    dialect = "sqlite" if backend.startswith("sqlite") else "postgresql"
    assert str(info.value).startswith(f"{dialect} store {store.url}")


async def test_a_dropped_unclosed_store_releases_its_engine(db_url: str, table_prefix: str) -> None:
    await drop_unclosed(db_url, table_prefix)


@pytest.mark.postgres
async def test_a_dropped_psycopg_store_releases_its_connections(
    pg_url: str, table_prefix: str
) -> None:
    await drop_unclosed(
        replace(StoreURL.parse(pg_url), dialect="psycopg").render(hide_secrets=False), table_prefix
    )


async def drop_unclosed(db_url: str, table_prefix: str) -> None:
    before = aiosqlite_threads()
    store = open_with(db_url, table_prefix=table_prefix)
    await store.migrate()
    await store.set("ns", "a", b"1", ttl=30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del store
        gc.collect()
        for _ in range(100):  # a closing connection finishes on the loop or its thread
            if aiosqlite_threads() <= before:
                break
            await asyncio.sleep(0.01)
        gc.collect()
    assert [str(w.message).split(" was ")[0] for w in caught] == [
        f"unclosed store {StoreURL.parse(db_url)}"
    ]
    assert issubclass(caught[0].category, ResourceWarning)
    # No aiosqlite worker thread left behind, and asyncpg or psycopg did not
    # warn of an unclosed connection (the only warning caught is the store's).
    assert aiosqlite_threads() <= before
    async with open_with(db_url, table_prefix=table_prefix) as cleanup:
        await cleanup.destroy()


async def test_a_never_used_store_drops_silently(db_url: str) -> None:
    store = unistore.connect(db_url)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del store
        gc.collect()
    assert caught == []


async def test_a_dropped_store_leaves_an_application_engine_alone(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/own.db")
    try:
        store = open_with("sqlite://", engine=engine, table_prefix="mine_")
        await store.set("ns", "a", b"1", ttl=30)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del store
            gc.collect()
        assert caught == []
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
    finally:
        await engine.dispose()
