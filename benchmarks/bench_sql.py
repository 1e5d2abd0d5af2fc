"""Benchmark of the sql driver on SQLite (a file) and PostgreSQL.

1. Latency of get / set / incr through the driver (``store.get(ns, slot)``) and
   through the namespaced store (``Namespace.get(slot)``), versus raw SQLAlchemy
   Core executing the same prebuilt statements, with the same parameters, on
   the same engine and in the same connection mode (one connection checkout
   per operation, as an application would). Prints microseconds per operation
   and the overhead over raw. Goal: under 25%.
2. Session append stays flat: appending one message to a session holding
   10,000 messages versus one holding 100. Goal: at most 1.5x.
3. Listing the 50 newest sessions with 100 versus 100,000 sessions stored,
   and a keyset page from the middle of the 100,000. Goal: within 2x.

Sessions for (2) and (3) are bulk-inserted as rows for setup speed. Every
table the benchmark creates has a prefix of its own and is dropped at the end.
Runtime: about a minute per database.

    uv run --all-packages python benchmarks/bench_sql.py [--postgres URL] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text

import unistore
from unistore import NamespacedStore
from unistore_sql import SQLStore
from unistore_sql._keys import digest
from unistore_sql._sessions import encode_cursor

TTL = 300.0
VALUE = b"v" * 64
KV_OPS = 400
ROUNDS = 3
APPENDS = 100
LISTINGS = 150

Op = Callable[[int], Awaitable[object]]


def open_store(url: str, **options: Any) -> SQLStore:
    store = unistore.connect(url, **options)
    assert isinstance(store, SQLStore)
    return store


async def per_op(op: Op, count: int) -> float:
    """Run ``op`` ``count`` times one after the other; return microseconds per call."""
    start = time.perf_counter()
    for i in range(count):
        await op(i)
    return (time.perf_counter() - start) / count * 1e6


def raw_operations(store: SQLStore, ns: str) -> dict[str, Op]:
    """The driver's own statements, run through plain SQLAlchemy Core."""
    q = store._q
    engine = store._db._autocommit  # the connection mode the driver uses for these
    keys = [q.keys(ns, f"k{i}") for i in range(100)]
    rows = [q.row(ns, f"k{i}", 0, 0.0) for i in range(100)]
    counters = [q.row(ns, f"c{i}", 0, 0.0) for i in range(100)]

    async def get(i: int) -> object:
        async with engine.connect() as conn:
            row = (await conn.execute(q.q_get, {**keys[i % 100], "now": time.time()})).first()
            await conn.commit()
            return row

    async def set_(i: int) -> object:
        params = {**rows[i % 100], "value": VALUE, "expires_at": time.time() + TTL}
        async with engine.connect() as conn:
            await conn.execute(q.q_set, params)
            await conn.commit()
        return None

    async def incr(i: int) -> object:
        now = time.time()
        params = {
            **counters[i % 100],
            "num": 1,
            "now": now,
            "expires_at": now + TTL,
            "lo": -(2**63),
            "hi": 2**63 - 2,
        }
        async with engine.connect() as conn:
            value = (await conn.execute(q.q_incr, params)).scalar()
            await conn.commit()
            return value

    return {"get": get, "set": set_, "incr": incr}


async def bench_kv(store: SQLStore) -> None:
    data = NamespacedStore(store, prefix="bench", default_ttl=TTL, decode=False)
    handle = data.namespace("n1")
    ns = handle.store_namespace
    raw = raw_operations(store, ns)
    driver: dict[str, Op] = {
        "get": lambda i: store.get(ns, f"k{i % 100}"),
        "set": lambda i: store.set(ns, f"k{i % 100}", VALUE, ttl=TTL),
        "incr": lambda i: store.incr(ns, f"c{i % 100}", ttl=TTL),
    }
    namespaced: dict[str, Op] = {
        "get": lambda i: handle.get(f"k{i % 100}"),
        "set": lambda i: handle.set(f"k{i % 100}", VALUE),
        "incr": lambda i: handle.incr(f"c{i % 100}"),
    }
    for i in range(100):  # warm up: rows exist, statements compiled, pool filled
        await store.set(ns, f"k{i}", VALUE, ttl=TTL)
        await store.incr(ns, f"c{i}", ttl=TTL)
    print(
        f"  {'op':<6}{'raw µs':>10}{'driver µs':>12}{'overhead':>10}"
        f"{'namespaced µs':>16}{'overhead':>10}"
    )
    for name in ("get", "set", "incr"):
        best = {"raw": float("inf"), "driver": float("inf"), "ns": float("inf")}
        for _ in range(ROUNDS):
            # Interleaved rounds, best of each: the machine is shared and noisy.
            best["raw"] = min(best["raw"], await per_op(raw[name], KV_OPS))
            best["driver"] = min(best["driver"], await per_op(driver[name], KV_OPS))
            best["ns"] = min(best["ns"], await per_op(namespaced[name], KV_OPS))
        over_driver = best["driver"] / best["raw"] - 1
        over_ns = best["ns"] / best["raw"] - 1
        print(
            f"  {name:<6}{best['raw']:>10.0f}{best['driver']:>12.0f}{over_driver:>10.0%}"
            f"{best['ns']:>16.0f}{over_ns:>10.0%}"
        )


async def bulk_sessions(store: SQLStore, count: int, first_us: int) -> None:
    """Insert ``count`` empty sessions as rows, updated one microsecond apart."""
    table = store._db.tables.sessions
    batch = 10_000
    for start in range(0, count, batch):
        rows = [
            {
                "sid_key": digest(f"s{i:07d}"),
                "sid": f"s{i:07d}".encode(),
                "label": None,
                "parent_id": None,
                "fork_point": None,
                "base_key": None,
                "own_start": 0,
                "metadata_json": '{"bench":true}',
                "created_us": first_us + i,
                "updated_us": first_us + i,
                "message_count": 0,
            }
            for i in range(start, min(count, start + batch))
        ]
        async with store.engine.begin() as conn:
            await conn.execute(table.insert(), rows)


async def bulk_messages(store: SQLStore, session_id: str, count: int) -> None:
    """Give a session ``count`` messages by inserting rows directly."""
    tables = store._db.tables
    key = digest(session_id)
    body = '{"role":"user","content":"' + "x" * 200 + '"}'
    async with store.engine.begin() as conn:
        for start in range(0, count, 5_000):
            rows = [
                {"sid_key": key, "seq": i, "body": body}
                for i in range(start, min(count, start + 5_000))
            ]
            await conn.execute(tables.messages.insert(), rows)
        await conn.execute(
            tables.sessions.update()
            .where(tables.sessions.c.sid_key == key)
            .values(message_count=count)
        )


async def analyze(store: SQLStore) -> None:
    if store.engine.dialect.name == "postgresql":
        async with store.engine.connect() as conn:
            await conn.execute(text(f"ANALYZE {store.table_prefix}sessions"))
            await conn.execute(text(f"ANALYZE {store.table_prefix}messages"))
            await conn.commit()


async def bench_append(store: SQLStore) -> None:
    sizes = (100, 10_000)
    for size in sizes:
        await store.create_session(f"len{size}")
        await bulk_messages(store, f"len{size}", size - 1)
    await analyze(store)
    message = '{"role":"assistant","content":"' + "y" * 200 + '"}'
    times: dict[int, list[float]] = {size: [] for size in sizes}
    for j in range(APPENDS):
        for size in sizes:
            start = time.perf_counter()
            await store.append_messages(f"len{size}", [message], expected_length=size - 1 + j)
            times[size].append(time.perf_counter() - start)
    small, big = (statistics.median(times[s]) * 1e6 for s in sizes)
    print(
        f"  append one message: to message 100 {small:.0f} µs, to message 10,000 {big:.0f} µs"
        f" -> ratio {big / small:.2f} (goal <= 1.5)"
    )


async def bench_listing(small: SQLStore, big: SQLStore) -> None:
    base = 1_700_000_000_000_000
    await bulk_sessions(small, 100, base)
    await bulk_sessions(big, 100_000, base)
    await analyze(small)
    await analyze(big)
    middle = encode_cursor(base + 50_000, b"s0050000")
    for store in (small, big):  # warm up
        await store.list_sessions(limit=50)

    async def timed(store: SQLStore, cursor: str | None) -> float:
        samples = []
        for _ in range(LISTINGS):
            start = time.perf_counter()
            page = await store.list_sessions(limit=50, cursor=cursor)
            samples.append(time.perf_counter() - start)
            assert len(page.items) == 50
        return statistics.median(samples) * 1e6

    few = await timed(small, None)
    many = await timed(big, None)
    deep = await timed(big, middle)
    print(
        f"  50 newest sessions: of 100 {few:.0f} µs, of 100,000 {many:.0f} µs"
        f" -> ratio {many / few:.2f} (goal <= 2); a page from the middle of 100,000:"
        f" {deep:.0f} µs"
    )


async def run(name: str, url: str) -> None:
    tag = uuid.uuid4().hex[:8]
    print(f"== {name} ==")
    kv = open_store(url, table_prefix=f"bench{tag}_kv_", sweep_interval=0)
    sessions = open_store(url, table_prefix=f"bench{tag}_se_", engine=kv.engine)
    few = open_store(url, table_prefix=f"bench{tag}_l1_", engine=kv.engine)
    many = open_store(url, table_prefix=f"bench{tag}_l2_", engine=kv.engine)
    stores = (many, few, sessions, kv)
    try:
        for store in stores:
            await store.migrate()
        await bench_kv(kv)
        await bench_append(sessions)
        await bench_listing(few, many)
    finally:
        for store in stores:
            await store.destroy()
            await store.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres",
        default=os.environ.get("UNISTORE_TEST_POSTGRES_URL")
        or "postgresql://postgres@127.0.0.1:5432/test",
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        await run("SQLite (file, WAL)", f"sqlite:///{directory}/bench.db")
    if not args.no_postgres:
        try:
            await run("PostgreSQL (asyncpg)", args.postgres)
        except unistore.DriverError as exc:
            print(f"PostgreSQL skipped: {exc}", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
