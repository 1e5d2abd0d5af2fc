"""The SQL driver's adaptive expiry sweep: draining a backlog while serving traffic.

Fills a store with ``--rows`` slots (default 1,000,000) that have all expired
(an injected clock moves past their TTL), then serves traffic: one task reads
a live slot in a loop, another writes a live slot every millisecond (writes
run the sweep when it is due, as in production). It reports how long the
backlog took to drain (target: 5 minutes for 1,000,000 rows), the p50/p99
latency of the reads while it drained against the same reads on the quiet
store afterwards (target: p99 within 3x), and, on SQLite, the file size
before and after (space given back with ``auto_vacuum=INCREMENTAL``).

    uv run --all-packages python benchmarks/bench_sweep.py [--drivers sqlite,postgresql] [--rows N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _bench_stores import bench_store_url
from sqlalchemy import text

import unistore

FILL = 5_000


class Clock:
    """A clock the benchmark moves forward past the backlog's TTL."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


async def backlog(store: Any) -> int:
    table = f"{store.table_prefix}slots"

    async def count(conn: Any) -> int:
        query = text(f"SELECT count(*) FROM {table} WHERE expires_at <= :now")
        return int((await conn.execute(query, {"now": store.clock()})).scalar_one())

    return int(await store._run("count", count))


async def drained(store: Any) -> bool:
    """Whether no expired slot is left: one index probe, where a count would scan the backlog.

    Asked twice a second while the backlog drains; a count of a million rows
    would load the database as much as the sweep it measures.
    """
    table = f"{store.table_prefix}slots"

    async def probe(conn: Any) -> bool:
        query = text(f"SELECT 1 FROM {table} WHERE expires_at <= :now LIMIT 1")
        return (await conn.execute(query, {"now": store.clock()})).first() is None

    return bool(await store._run("probe", probe))


def pages(path: str) -> tuple[float, float]:
    """The database's size and its free pages' size, in MB (WAL included)."""
    conn = sqlite3.connect(path)
    try:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        count = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    finally:
        conn.close()
    return count * size / 1e6, free * size / 1e6


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def serve(
    store: Any, seconds: float | None, until_drained: bool
) -> tuple[list[float], float]:
    latencies: list[float] = []
    stop = asyncio.Event()

    async def reader() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            await store.get("live", "a")
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0)

    async def writer() -> None:
        i = 0
        while not stop.is_set():
            await store.set("live", f"w{i % 100}", b"x", ttl=3600)
            i += 1
            await asyncio.sleep(0.001)

    started = time.monotonic()
    tasks = [asyncio.create_task(reader()), asyncio.create_task(writer())]
    try:
        while True:
            await asyncio.sleep(0.5)
            elapsed = time.monotonic() - started
            if seconds is not None and elapsed >= seconds:
                break
            if until_drained and await drained(store):
                break
            if elapsed > 900:
                break
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    return latencies, time.monotonic() - started


async def run(name: str, url: str, rows: int) -> None:
    clock = Clock()
    async with unistore.connect(url, clock=clock, sweep_interval=1.0) as store:
        try:
            await store.set("live", "a", b"value", ttl=3600)
            filled = time.monotonic()
            for start in range(0, rows, FILL):
                values = {f"s{i}": b"v" * 32 for i in range(start, min(rows, start + FILL))}
                await store.set_many(f"ns{start // 50_000}", values, ttl=60)
            print(f"{name}: filled {rows:,} rows in {time.monotonic() - filled:.1f} s", flush=True)
            path = store._db.path
            size_before = pages(path) if path else None
            clock.offset = 120.0  # every filled row has expired
            during, drained = await serve(store, None, until_drained=True)
            left = await backlog(store)
            quiet, _ = await serve(store, 5.0, until_drained=False)
            size_after = pages(path) if path else None
            print(
                f"{name}: drained {rows - left:,} of {rows:,} expired rows in {drained:.1f} s "
                f"({(rows - left) / drained:,.0f} rows/s)"
            )
            p50d, p99d = quantile(during, 0.5) * 1e6, quantile(during, 0.99) * 1e6
            p50q, p99q = quantile(quiet, 0.5) * 1e6, quantile(quiet, 0.99) * 1e6
            print(
                f"{name}: get p50 {p50d:,.0f} us / p99 {p99d:,.0f} us while sweeping "
                f"({len(during):,} reads), p50 {p50q:,.0f} us / p99 {p99q:,.0f} us quiet "
                f"({len(quiet):,} reads): p99 ratio {p99d / p99q:.2f}x, "
                f"median {statistics.median(during) / statistics.median(quiet):.2f}x"
            )
            if size_before is not None and size_after is not None:
                print(
                    f"{name}: database {size_before[0]:,.1f} MB before the sweep, "
                    f"{size_after[0]:,.1f} MB after ({size_after[1]:,.1f} MB of it free pages)"
                )
        finally:
            await store.destroy()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drivers", default="sqlite,postgresql")
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        for name in args.drivers.split(","):
            url = bench_store_url(name, Path(folder))
            if url is None:
                print(f"{name}: not reachable, skipped")
                continue
            await run(name, url, args.rows)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
