"""Benchmark of the batch operations and of the unconditional session append.

1. ``get_many`` of 100 slots against 100 single ``get`` calls, on Redis,
   PostgreSQL and SQLite (interleaved rounds, medians, ratio single / batch).
2. Redis only: the server's ``total_commands_processed`` delta for one
   ``get_many(100)`` (the contract says at most 2).
3. Session appends from 4 concurrent writers to one session: unconditional
   (``expected_length`` omitted) against the expected-length append that
   re-reads the length and retries on ``SessionConflictError``. Messages per
   second, medians of interleaved rounds, and the retries the second needed.

Servers come from ``UNISTORE_TEST_REDIS_URL`` and ``UNISTORE_TEST_POSTGRES_URL``
under unique prefixes, destroyed afterwards. Runtime: about a minute.

    ./dev bench batch [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from _bench_stores import bench_store_url

import unistore
from unistore import SessionConflictError, StoreURL

SLOTS = [f"slot-{i:03d}" for i in range(100)]
WRITERS = 4
PER_WRITER = 50


async def one_get_many(store: Any, ns: str) -> float:
    start = time.perf_counter()
    values = await store.get_many(ns, SLOTS)
    elapsed = time.perf_counter() - start
    assert all(value is not None for value in values)
    return elapsed


async def hundred_gets(store: Any, ns: str) -> float:
    start = time.perf_counter()
    for slot in SLOTS:
        await store.get(ns, slot)
    return time.perf_counter() - start


async def commands_for_get_many(url: str, store: Any, ns: str) -> int:
    parsed = StoreURL.parse(url)
    client = aioredis.Redis(host=parsed.host or "127.0.0.1", port=parsed.port or 6379)
    try:
        # INFO itself counts once; measure it and subtract it.
        before = (await client.info("stats"))["total_commands_processed"]
        between = (await client.info("stats"))["total_commands_processed"]
        await store.get_many(ns, SLOTS)
        after = (await client.info("stats"))["total_commands_processed"]
        return int(after - between - (between - before))
    finally:
        await client.aclose()


async def unconditional(store: Any, sid: str, writer: int) -> int:
    for i in range(PER_WRITER):
        await store.append_messages(sid, [f'{{"w":{writer},"i":{i}}}'])
    return 0


async def expected_length(store: Any, sid: str, writer: int) -> int:
    retries = 0
    for i in range(PER_WRITER):
        while True:
            record = await store.get_session(sid)
            try:
                await store.append_messages(
                    sid, [f'{{"w":{writer},"i":{i}}}'], expected_length=record.message_count
                )
                break
            except SessionConflictError:
                retries += 1
    return retries


async def append_round(store: Any, mode: Any) -> tuple[float, int]:
    sid = f"bench-{uuid.uuid4().hex}"
    await store.create_session(sid)
    start = time.perf_counter()
    retries = await asyncio.gather(*(mode(store, sid, w) for w in range(WRITERS)))
    elapsed = time.perf_counter() - start
    record = await store.get_session(sid)
    assert record is not None
    assert record.message_count == WRITERS * PER_WRITER
    await store.delete_session(sid)
    return WRITERS * PER_WRITER / elapsed, sum(retries)


async def bench_driver(driver: str, url: str, rounds: int) -> None:
    async with unistore.connect(url) as store:
        try:
            ns = f"bench-{uuid.uuid4().hex}"
            await store.set_many(ns, dict.fromkeys(SLOTS, b"v" * 64), ttl=600)
            batch: list[float] = []
            single: list[float] = []
            for _ in range(rounds):
                batch.append(await one_get_many(store, ns))
                single.append(await hundred_gets(store, ns))
            b, s = statistics.median(batch), statistics.median(single)
            print(
                f"{driver:<11} get_many(100) {b * 1e3:8.2f} ms   100 x get {s * 1e3:8.2f} ms"
                f"   ratio {s / b:6.1f}x"
            )
            if driver == "redis":
                count = await commands_for_get_many(url, store, ns)
                print(f"{'':<11} redis commands for one get_many(100): {count}")
            free: list[float] = []
            checked: list[float] = []
            retried: list[int] = []
            for _ in range(rounds):
                rate, _unused = await append_round(store, unconditional)
                free.append(rate)
                rate, retries = await append_round(store, expected_length)
                checked.append(rate)
                retried.append(retries)
            f, c = statistics.median(free), statistics.median(checked)
            print(
                f"{'':<11} {WRITERS} writers: unconditional {f:8.0f} msg/s   "
                f"expected-length+retry {c:8.0f} msg/s ({statistics.median(retried):.0f} "
                f"retries)   ratio {f / c:5.1f}x"
            )
        finally:
            destroy = getattr(store, "destroy", None)
            if destroy is not None:
                await destroy()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--drivers", default="redis,postgresql,sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for driver in args.drivers.split(","):
            url = bench_store_url(driver, Path(tmp))
            if url is not None:
                await bench_driver(driver, url, args.rounds)


if __name__ == "__main__":
    asyncio.run(main())
