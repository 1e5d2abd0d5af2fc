"""Overhead of the namespace layer over the bare driver call doing the same work.

For get / set / hset / incr (and hget, and get on a ``decode=False`` store), it
times ``Namespace.<op>`` against the driver call with the same encoding and
decoding done inline (for example ``(await store.get(ns, slot)).decode()``),
on every driver that is installed and reachable: memory, sqlite and file (in a
temporary folder), redis and postgresql (``UNISTORE_TEST_REDIS_URL``,
``UNISTORE_TEST_POSTGRES_URL``, under a unique key or table prefix that is
destroyed afterwards).

Both sides run in the same process in interleaved rounds (their order flips
every round); each round times a batch of about ``--batch-ms``. The table shows
the median ns/op of each side and the median of the per-round overheads.

    uv run --all-packages python benchmarks/bench_namespaced.py [--drivers memory,redis]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _bench_stores import ALL_DRIVERS, bench_store_url

import unistore
from unistore import NamespacedStore

TTL = 300.0
VALUE = "value"  # a str, encoded by both sides

Loop = Callable[[int], Awaitable[None]]


def _pairs(store: Any, text: Any, raw: Any) -> dict[str, tuple[Loop, Loop]]:
    """Return ``{op: (bare loop, layer loop)}``; each loop runs ``n`` operations."""
    ns = text.store_namespace

    async def bare_get(n: int) -> None:
        for _ in range(n):
            data = await store.get(ns, "k")
            _ = None if data is None else data.decode()

    async def layer_get(n: int) -> None:
        for _ in range(n):
            await text.get("k")

    async def bare_get_bytes(n: int) -> None:
        for _ in range(n):
            await store.get(ns, "k")

    async def layer_get_bytes(n: int) -> None:
        for _ in range(n):
            await raw.get("k")

    async def bare_set(n: int) -> None:
        for _ in range(n):
            await store.set(ns, "k", VALUE.encode(), ttl=TTL)

    async def layer_set(n: int) -> None:
        for _ in range(n):
            await text.set("k", VALUE)

    async def bare_hget(n: int) -> None:
        for _ in range(n):
            data = await store.hget(ns, "h", "f")
            _ = None if data is None else data.decode()

    async def layer_hget(n: int) -> None:
        for _ in range(n):
            await text.hget("h", "f")

    async def bare_hset(n: int) -> None:
        for _ in range(n):
            await store.hset(ns, "h", {"f": VALUE.encode()}, ttl=TTL)

    async def layer_hset(n: int) -> None:
        for _ in range(n):
            await text.hset("h", "f", VALUE)

    async def bare_incr(n: int) -> None:
        for _ in range(n):
            await store.incr(ns, "c", 1, ttl=TTL)

    async def layer_incr(n: int) -> None:
        for _ in range(n):
            await text.incr("c")

    return {
        "get": (bare_get, layer_get),
        "set": (bare_set, layer_set),
        "hset": (bare_hset, layer_hset),
        "incr": (bare_incr, layer_incr),
        "hget": (bare_hget, layer_hget),
        "get (bytes)": (bare_get_bytes, layer_get_bytes),
    }


async def _time(loop: Loop, n: int) -> float:
    gc.collect()
    start = time.perf_counter()
    await loop(n)
    return (time.perf_counter() - start) / n * 1e9


async def _bench_driver(driver: str, url: str, rounds: int, batch_s: float) -> list[str]:
    store = unistore.connect(url)
    rows: list[str] = []
    async with store:
        try:
            text = NamespacedStore(store, prefix="bench", default_ttl=TTL).namespace("s1")
            raw = NamespacedStore(store, prefix="bench", default_ttl=TTL, decode=False).namespace(
                "s1"
            )
            await text.set("k", "value")
            await text.hset("h", "f", "value")
            pairs = _pairs(store, text, raw)
            for op, (bare, layer) in pairs.items():
                # Calibrate on the bare call: about ``batch_s`` per batch.
                per_op = await _time(bare, 5) * 1e-9
                n = max(5, int(batch_s / max(per_op, 1e-7)))
                await bare(n // 4 + 1)  # warm up
                await layer(n // 4 + 1)
                bare_ns: list[float] = []
                layer_ns: list[float] = []
                for i in range(rounds):
                    if i % 2:
                        layer_ns.append(await _time(layer, n))
                        bare_ns.append(await _time(bare, n))
                    else:
                        bare_ns.append(await _time(bare, n))
                        layer_ns.append(await _time(layer, n))
                overhead = statistics.median(
                    (lay / bar - 1.0) * 100 for bar, lay in zip(bare_ns, layer_ns, strict=True)
                )
                rows.append(
                    f"| {driver:<10} | {op:<11} | {statistics.median(bare_ns):>10.0f} "
                    f"| {statistics.median(layer_ns):>11.0f} | {overhead:>+7.1f}% | {n:>6} |"
                )
                print(rows[-1], flush=True)
        finally:
            destroy = getattr(store, "destroy", None)
            if destroy is not None:
                await destroy()
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drivers", default=",".join(ALL_DRIVERS))
    parser.add_argument("--rounds", type=int, default=21, help="rounds per op (memory)")
    parser.add_argument("--io-rounds", type=int, default=9, help="rounds per op (other drivers)")
    # 50 ms: a memory-driver read is about 0.4 µs, and 10 ms batches swung
    # the overhead of one run by several points.
    parser.add_argument("--batch-ms", type=float, default=50.0, help="batch length (memory)")
    parser.add_argument("--io-batch-ms", type=float, default=40.0, help="batch (other drivers)")
    args = parser.parse_args()
    print(f"# Python {sys.version.split()[0]}; median of interleaved rounds")
    print("| driver     | op          | bare ns/op | layer ns/op | overhead |  batch |")
    print("|------------|-------------|-----------:|------------:|---------:|-------:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.drivers.split(","):
            driver = name.strip()
            url = bench_store_url(driver, Path(tmp))
            if url is None:
                continue
            if driver == "memory":
                await _bench_driver(driver, url, args.rounds, args.batch_ms / 1000)
            else:
                await _bench_driver(driver, url, args.io_rounds, args.io_batch_ms / 1000)


if __name__ == "__main__":
    asyncio.run(main())
