"""Benchmarks of the file driver (unistore-fs).

Run: ``uv run --all-packages python benchmarks/bench_fs.py [--quick]``

Prints, with the targets of the driver's acceptance criteria:

* session append flat: saving message 10,000 costs at most 1.5x saving message 100;
* listing the 50 newest sessions costs the same with 100 or 10,000 stored (within 2x);
* set/get throughput with ``durability=fsync`` and ``durability=flush``.

Timings are medians of repeated single operations, so a compaction or a slow
disk flush in one sample does not decide the result. Absolute numbers depend
on the disk (fsync latency dominates); the ratios are what the targets bound.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import unistore

SAMPLES = 25


async def _paired_ms(
    small: Callable[[], Awaitable[Any]], large: Callable[[], Awaitable[Any]]
) -> tuple[float, float]:
    """Median ms of two operations, sampled alternately so disk noise hits both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(SAMPLES):
        for op, out in ((small, times[0]), (large, times[1])):
            start = time.perf_counter()
            await op()
            out.append(time.perf_counter() - start)
    return statistics.median(times[0]) * 1000, statistics.median(times[1]) * 1000


async def bench_append(folder: str, durability: str, big: int) -> tuple[float, float]:
    """Median cost of appending one message to a session of ~100 and of ~``big`` messages."""
    async with unistore.connect(f"file://{folder}/append-{durability}", durability=durability) as s:
        lengths = {"short": 0, "long": 0}

        async def fill(sid: str, target: int) -> None:
            await s.create_session(sid)
            while lengths[sid] < target:
                n = lengths[sid]
                batch = [
                    f'{{"role": "user", "n": {n + i}, "text": "{"x" * 200}"}}'
                    for i in range(min(500, target - n))
                ]
                await s.append_messages(sid, batch, expected_length=n)
                lengths[sid] += len(batch)

        def one(sid: str) -> Callable[[], Awaitable[None]]:
            async def append() -> None:
                n = lengths[sid]
                message = f'{{"role": "assistant", "n": {n}, "text": "{"y" * 200}"}}'
                await s.append_messages(sid, [message], expected_length=n)
                lengths[sid] = n + 1

            return append

        await fill("short", 100)
        await fill("long", big)
        return await _paired_ms(one("short"), one("long"))


async def _create_many(store: Any, count: int) -> None:
    gate = asyncio.Semaphore(16)

    async def create(n: int) -> None:
        async with gate:
            await store.create_session(f"session-{n:06d}", metadata={"n": n})

    await asyncio.gather(*(create(n) for n in range(count)))


async def bench_listing(folder: str, big: int) -> tuple[float, float, float]:
    """Median cost of listing the 50 newest with 100 and with ``big`` sessions stored."""
    # Setting up 10,000 sessions with fsync would measure the disk, not the listing.
    async with (
        unistore.connect(f"file://{folder}/list-small", durability="flush") as small,
        unistore.connect(f"file://{folder}/list-large", durability="flush") as large,
    ):
        await _create_many(small, 100)
        await _create_many(large, big)
        small_ms, large_ms = await _paired_ms(
            lambda: small.list_sessions(limit=50), lambda: large.list_sessions(limit=50)
        )
        cursor = None
        for _ in range(big // 100):  # a page far down the listing
            page = await large.list_sessions(limit=50, cursor=cursor)
            cursor = page.next_cursor
        _, deep_ms = await _paired_ms(
            lambda: small.list_sessions(limit=50),
            lambda: large.list_sessions(limit=50, cursor=cursor),
        )
        return small_ms, large_ms, deep_ms


async def bench_throughput(folder: str, durability: str, ops: int) -> dict[str, float]:
    """Operations per second: sequential set, sequential get, 8 concurrent writers."""
    url = f"file://{folder}/kv-{durability}"
    value = b"v" * 256
    async with unistore.connect(url, durability=durability, sweep_every=0) as store:
        start = time.perf_counter()
        for n in range(ops):
            await store.set("bench:seq", f"slot-{n % 50}", value, ttl=600)
        set_rate = ops / (time.perf_counter() - start)
        start = time.perf_counter()
        for n in range(ops * 2):
            await store.get("bench:seq", f"slot-{n % 50}")
        get_rate = ops * 2 / (time.perf_counter() - start)

        async def writer(w: int) -> None:
            for n in range(ops // 8):
                await store.set(f"bench:w{w}", f"slot-{n % 10}", value, ttl=600)

        start = time.perf_counter()
        await asyncio.gather(*(writer(w) for w in range(8)))
        parallel_rate = (ops // 8) * 8 / (time.perf_counter() - start)
    return {"set": set_rate, "get": get_rate, "set x8": parallel_rate}


def _verdict(ratio: float, bound: float) -> str:
    return "ok" if ratio <= bound else "OVER TARGET"


async def main(quick: bool) -> None:
    big = 2_000 if quick else 10_000
    ops = 100 if quick else 300
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="unistore-bench-fs-") as folder:
        print(f"unistore-fs benchmarks (medians of {SAMPLES} samples; big = {big:,})\n")
        for durability in ("fsync", "flush"):
            small, large = await bench_append(folder, durability, big)
            ratio = large / small
            print(
                f"append 1 message [{durability}]: at ~100: {small:.2f} ms, "
                f"at ~{big:,}: {large:.2f} ms, ratio {ratio:.2f} "
                f"(target <= 1.5: {_verdict(ratio, 1.5)})"
            )
        small, large, deep = await bench_listing(folder, big)
        ratio = large / small
        print(
            f"list 50 newest: 100 sessions {small:.2f} ms, {big:,} sessions {large:.2f} ms, "
            f"ratio {ratio:.2f} (target <= 2: {_verdict(ratio, 2.0)}); "
            f"page {big // 100 + 1}: {deep:.2f} ms"
        )
        rates = {d: await bench_throughput(folder, d, ops) for d in ("fsync", "flush")}
        for name in ("set", "get", "set x8"):
            fsync_rate, flush_rate = rates["fsync"][name], rates["flush"][name]
            print(
                f"{name:>7}: fsync {fsync_rate:8.0f} ops/s, flush {flush_rate:8.0f} ops/s "
                f"(flush/fsync {flush_rate / fsync_rate:.1f}x)"
            )
    print(f"\ntotal {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    asyncio.run(main(parser.parse_args().quick))
