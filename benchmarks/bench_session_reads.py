"""Session reads that must cost O(n) in the messages asked for, not in the session.

1. ``read_messages(last=20)`` of a 10,000-message session against a
   100-message one, as a ratio (target <= 1.2).
2. The same read, 10,000 against 100, of a fork of that session with 5
   messages of its own, and of the tip of a chain of 10 forks of it, each
   forked at its parent's end with 5 messages of its own (target <= 1.2).
3. Appending one message as the session saver does (expected length and
   token) to a session of about 10,000 messages against about 100 (target
   <= 1.5; each round adds its messages, so the sizes creep up a little).
4. Creating a session with its first 2 messages (``create_session`` then
   ``append_messages``), median time.

Rounds interleave the measures, so a load spike hits all of them alike; each
figure is the median of the per-round medians, with the spread (min-max of
the round medians) beside it.

Runs on every driver that is installed and reachable: memory, sqlite and file
(in a temporary folder), redis and postgresql (``UNISTORE_TEST_REDIS_URL``,
``UNISTORE_TEST_POSTGRES_URL``, under a unique key or table prefix destroyed
afterwards).

    uv run --all-packages python benchmarks/bench_session_reads.py [--drivers sqlite,redis]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _bench_stores import ALL_DRIVERS, bench_store_url

import unistore

SMALL, LARGE = 100, 10_000
LAST = 20
CHAIN = 10
OWN = 5
ROUNDS = 7
REPS = 30
CREATE_REPS = 10
TEXT = ("The quick brown fox jumps over the lazy dog while the model thinks. " * 3).strip()
SHAPES = ("plain", "fork", "chain")


def encode(i: int) -> str:
    role = "user" if i % 2 == 0 else "assistant"
    return json.dumps({"role": role, "content": f"{i}: {TEXT}"}, separators=(",", ":"))


async def prefill(store: Any, session_id: str, count: int) -> None:
    await store.create_session(session_id)
    for start in range(0, count, 1000):
        chunk = [encode(i) for i in range(start, min(count, start + 1000))]
        await store.append_messages(session_id, chunk, expected_length=start)


async def fork_with_own(store: Any, parent: str, child: str) -> None:
    await store.fork_session(parent, child)
    record = await store.get_session(child)
    base = record.message_count
    await store.append_messages(child, [encode(base + i) for i in range(OWN)], expected_length=base)


async def median_of(reps: int, call: Callable[[], Awaitable[Any]]) -> float:
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def build(store: Any, tag: str, size: int) -> dict[str, str]:
    """Create a ``size``-message session, a fork of it and a chain of forks of it."""
    plain = f"s{size}-{tag}"
    await prefill(store, plain, size)
    fork = f"fork{size}-{tag}"
    await fork_with_own(store, plain, fork)
    tip = plain
    for depth in range(CHAIN):
        child = f"chain{size}.{depth}-{tag}"
        await fork_with_own(store, tip, child)
        tip = child
    expected = [encode(i) for i in range(size - LAST, size)]
    if await store.read_messages(plain, last=LAST) != expected:
        raise AssertionError("read_messages(last=20) returned the wrong messages")
    return {"plain": plain, "fork": fork, "chain": tip}


async def appender(store: Any, session_id: str, size: int) -> Callable[[], Awaitable[Any]]:
    """Return a call appending one message as a session saver does (length and token)."""
    await prefill(store, session_id, size)
    length = size

    async def append() -> None:
        nonlocal length
        token = uuid.uuid4().hex
        await store.append_messages(
            session_id, [encode(length)], expected_length=length, token=token
        )
        length += 1

    return append


async def bench_driver(url: str) -> dict[str, list[float]]:
    store: Any = unistore.connect(url)
    async with store:
        try:
            tag = uuid.uuid4().hex[:8]
            ids = {size: await build(store, tag, size) for size in (SMALL, LARGE)}
            made = 0

            async def create_2() -> None:
                nonlocal made
                made += 1
                sid = f"new{made}-{tag}"
                await store.create_session(sid)
                await store.append_messages(sid, [encode(0), encode(1)], expected_length=0)

            def reader(sid: str) -> Callable[[], Awaitable[Any]]:
                return lambda: store.read_messages(sid, last=LAST)

            calls: dict[str, tuple[int, Callable[[], Awaitable[Any]]]] = {
                f"{shape}_{size}": (REPS, reader(ids[size][shape]))
                for shape in SHAPES
                for size in (SMALL, LARGE)
            }
            calls["create_2"] = (CREATE_REPS, create_2)
            for size in (SMALL, LARGE):
                calls[f"append_{size}"] = (REPS, await appender(store, f"a{size}-{tag}", size))
            # One warm-up pass, so caches and prepared statements exist for all.
            for _, call in calls.values():
                await median_of(2, call)
            names = list(calls)
            rounds: dict[str, list[float]] = {name: [] for name in names}
            for round_no in range(ROUNDS):
                # Alternate the order, so neither size always runs first.
                order = names if round_no % 2 == 0 else list(reversed(names))
                for name in order:
                    reps, call = calls[name]
                    rounds[name].append(await median_of(reps, call))
            return rounds
        finally:
            await store.destroy()


def cell(samples: list[float]) -> str:
    mid = statistics.median(samples) * 1e6
    return f"{mid:,.0f} ({min(samples) * 1e6:,.0f}-{max(samples) * 1e6:,.0f})"


def report(results: dict[str, dict[str, list[float]]]) -> list[str]:
    print(
        f"\n## read_messages(last={LAST}): median µs (spread of round medians), "
        f"{SMALL:,} -> {LARGE:,} messages, ratio\n"
    )
    print(
        "| driver | session | ratio | fork (+5 own) | ratio "
        f"| tip of {CHAIN} forks (+5 own each) | ratio | append 1 (token) | ratio "
        "| create + 2 msgs |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    over = []
    for driver, r in results.items():
        cells = []
        for shape in SHAPES:
            small, large = r[f"{shape}_{SMALL}"], r[f"{shape}_{LARGE}"]
            ratio = statistics.median(large) / statistics.median(small)
            cells.append(f"{cell(small)} -> {cell(large)} | {ratio:.2f}x")
            if ratio > 1.2:
                over.append(f"{driver} {shape} {ratio:.2f}x")
        small, large = r[f"append_{SMALL}"], r[f"append_{LARGE}"]
        ratio = statistics.median(large) / statistics.median(small)
        cells.append(f"{cell(small)} -> {cell(large)} | {ratio:.2f}x")
        if ratio > 1.5:
            over.append(f"{driver} append {ratio:.2f}x")
        cells.append(cell(r["create_2"]))
        print(f"| {driver} | " + " | ".join(cells) + " |")
    return over


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drivers", default=",".join(ALL_DRIVERS))
    args = parser.parse_args()
    print(f"# load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for driver in args.drivers.split(","):
            url = bench_store_url(driver.strip(), Path(tmp))
            if url is None:
                continue
            print(f"# {driver} ...", file=sys.stderr, flush=True)
            results[driver] = await bench_driver(url)
    over = report(results)
    print(f"\n# load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for line in over:
        print(f"# OVER TARGET: {line}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
