"""The file driver's adaptive expiry sweep: draining a backlog while serving traffic.

Fills a store with ``--files`` slot files (default 200,000, spread over
namespaces of ``--per-namespace`` files; ``--per-namespace 0`` puts them all in
one namespace) that have all expired (an injected clock moves past their TTL),
then serves traffic through one store object: a task reads a live slot in a
loop, another writes a live slot every millisecond. The sweep runs in a second
store object on the same folder and in the same process (same event loop,
same worker threads), which the benchmark opens and closes to alternate
windows: a quiet window (no sweeper), then a sweeping window, and again, until
the backlog is gone. Interleaving keeps the comparison fair on a machine whose
load changes: each sweeping window is compared with the quiet one just before.

It reports the drain rate over the sweeping windows (target: 1,000,000 files
within 5 minutes, and at least 10,000 files per second to keep pace), the
p50/p99 latency of the reads in each kind of window, the median over the
window pairs of the p99 ratio (target: within 3x), and the ratio of the median
p99s.

    uv run --all-packages python benchmarks/bench_sweep_fs.py [--files N] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import unistore

FILL = 2_000


class Clock:
    """A clock the benchmark moves forward past the backlog's TTL."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Traffic:
    """Reads a live slot in a loop and writes one every millisecond; keeps read latencies."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.latencies: list[float] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def _reader(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            await self.store.get("live", "a")
            self.latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0)

    async def _writer(self) -> None:
        i = 0
        while not self._stop.is_set():
            await self.store.set("live", f"w{i % 100}", b"x", ttl=3600)
            i += 1
            await asyncio.sleep(0.001)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._reader()), asyncio.create_task(self._writer())]

    async def window(self, seconds: float) -> list[float]:
        """The read latencies of the next ``seconds``."""
        self.latencies = []
        await asyncio.sleep(seconds)
        return self.latencies

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


async def fill(url: str, clock: Clock, files: int, per_namespace: int) -> None:
    async with unistore.connect(
        url, clock=clock, durability="flush", sweep_every=0, sweep_interval=0
    ) as store:
        started = time.monotonic()
        per = per_namespace or files
        for start in range(0, files, FILL):
            values = {f"s{i}": b"v" * 32 for i in range(start, min(files, start + FILL))}
            await store.set_many(f"ns{start // per}", values, ttl=60)
        print(f"filled {files:,} files in {time.monotonic() - started:.1f} s", flush=True)


def counting(store: Any, total: list[int], steps: list[tuple[int, float]]) -> None:
    """Count the files the store's sweeper removes into ``total[0]``, each step's batch and time."""
    real: Callable[..., Any] = store._sweep_once

    async def spy(batch: int, stop: Callable[[], bool]) -> Any:
        started = time.perf_counter()
        step = await real(batch, stop)
        total[0] += step.removed
        if step.removed:
            steps.append((batch, time.perf_counter() - started))
        return step

    store._sweep_once = spy


async def run(root: Path, files: int, per_namespace: int, window: float, durability: str) -> None:
    url = f"file://{root}"
    clock = Clock()
    await fill(url, clock, files, per_namespace)
    # An expired backlog is old data, long on disk: write the fill out first, so
    # the sweep is not measured against the kernel flushing it.
    started = time.monotonic()
    await asyncio.to_thread(os.sync)
    print(f"synced in {time.monotonic() - started:.1f} s", flush=True)
    clock.offset = 120.0  # every filled file has expired
    quiet_p99: list[float] = []
    sweep_p99: list[float] = []
    quiet_all: list[float] = []
    sweep_all: list[float] = []
    removed = [0]
    steps: list[tuple[int, float]] = []
    swept_for = 0.0
    async with unistore.connect(
        url, clock=clock, durability=durability, sweep_every=0, sweep_interval=0
    ) as store:
        await store.set("live", "a", b"value", ttl=3600)
        traffic = Traffic(store)
        traffic.start()
        try:
            while removed[0] < files and swept_for < 900:
                quiet = await traffic.window(window)
                # A store of its own sweeps: opening it starts the sweeper, closing stops it.
                sweeping = unistore.connect(url, clock=clock, sweep_every=0, sweep_interval=0.001)
                counting(sweeping, removed, steps)
                started = time.monotonic()
                async with sweeping:
                    await sweeping.get("live", "a")  # the first operation starts the sweeper
                    during = await traffic.window(window)
                swept_for += time.monotonic() - started
                quiet_p99.append(quantile(quiet, 0.99))
                sweep_p99.append(quantile(during, 0.99))
                quiet_all += quiet
                sweep_all += during
                print(
                    f"  window {len(sweep_p99)}: {removed[0]:,} removed; p99 quiet "
                    f"{quiet_p99[-1] * 1e6:,.0f} us, sweeping {sweep_p99[-1] * 1e6:,.0f} us",
                    flush=True,
                )
        finally:
            await traffic.stop()
        await store.destroy()
    rate = removed[0] / swept_for
    print(
        f"drained {removed[0]:,} of {files:,} expired files in {swept_for:.1f} s of sweeping "
        f"({rate:,.0f} files/s; 1,000,000 would take {1e6 / rate:,.0f} s at this rate)"
    )
    print(
        f"{len(steps):,} steps that removed files: batch {min(b for b, _ in steps):,} to "
        f"{max(b for b, _ in steps):,} entries, median step "
        f"{statistics.median(t for _, t in steps) * 1e3:.1f} ms"
    )
    ratios = [s / q for s, q in zip(sweep_p99, quiet_p99, strict=True)]
    print(
        f"get p50 {quantile(sweep_all, 0.5) * 1e6:,.0f} us / p99 "
        f"{quantile(sweep_all, 0.99) * 1e6:,.0f} us while sweeping ({len(sweep_all):,} reads), "
        f"p50 {quantile(quiet_all, 0.5) * 1e6:,.0f} us / p99 "
        f"{quantile(quiet_all, 0.99) * 1e6:,.0f} us quiet ({len(quiet_all):,} reads)"
    )
    print(
        f"p99 ratio per window pair: median {statistics.median(ratios):.2f}x "
        f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x); ratio of median p99s "
        f"{statistics.median(sweep_p99) / statistics.median(quiet_p99):.2f}x; "
        f"median read {statistics.median(sweep_all) / statistics.median(quiet_all):.2f}x"
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--per-namespace", type=int, default=2_000)
    parser.add_argument("--window", type=float, default=2.0, help="seconds per window")
    parser.add_argument("--durability", default="fsync", help="of the traffic's writes")
    parser.add_argument("--quick", action="store_true", help="20,000 files, 1 s windows")
    args = parser.parse_args()
    if args.quick:
        args.files, args.window = min(args.files, 20_000), 1.0
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        await run(
            Path(folder) / "bench", args.files, args.per_namespace, args.window, args.durability
        )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
