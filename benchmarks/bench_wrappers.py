"""Overhead of the value wrappers (Encrypted, Compressed, both stacked) over the bare store.

For ``get`` and ``set`` of a 200 B and a 64 KB value it times each wrapper
stack against the bare store doing the same call, on memory and Redis
(``UNISTORE_TEST_REDIS_URL``, under a unique key prefix destroyed afterwards).
The values are text-like (compressible), as stored state usually is.

Each variant and the bare store run in the same process in interleaved rounds
(their order flips every round); each round times a batch of about
``--batch-ms``. The table shows the median ns/op of each side and the median
of the per-round ratios.

    uv run --all-packages python benchmarks/bench_wrappers.py [--drivers memory,redis]
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

from _bench_stores import bench_store_url

import unistore
from unistore.wrappers import Compressed, Encrypted

TTL = 300.0
KEYS = {"k1": bytes(range(32))}
SIZES = {"200B": 200, "64KB": 64 * 1024}

Loop = Callable[[int], Awaitable[None]]


def _value(size: int) -> bytes:
    words = b"session state with some repeated words and numbers 12345 "
    return (words * (size // len(words) + 1))[:size]


def _variants(store: Any) -> dict[str, Any]:
    return {
        "encrypted": Encrypted(store, keys=KEYS, current="k1"),
        "compressed": Compressed(store),
        "both": Compressed(Encrypted(store, keys=KEYS, current="k1")),
    }


def _loops(target: Any, value: bytes, slot: str) -> dict[str, Loop]:
    async def get(n: int) -> None:
        for _ in range(n):
            await target.get("bench", slot)

    async def set_(n: int) -> None:
        for _ in range(n):
            await target.set("bench", slot, value, ttl=TTL)

    return {"get": get, "set": set_}


async def _time(loop: Loop, n: int) -> float:
    gc.collect()
    start = time.perf_counter()
    await loop(n)
    return (time.perf_counter() - start) / n * 1e9


async def _pair(bare: Loop, layer: Loop, rounds: int, batch_s: float) -> tuple[float, float, float]:
    per_op = await _time(bare, 5) * 1e-9
    n = max(5, int(batch_s / max(per_op, 1e-7)))
    await bare(n // 4 + 1)
    await layer(n // 4 + 1)
    bare_ns: list[float] = []
    layer_ns: list[float] = []
    for i in range(rounds):
        first, second = (layer, bare) if i % 2 else (bare, layer)
        a = await _time(first, n)
        b = await _time(second, n)
        (layer_ns if i % 2 else bare_ns).append(a)
        (bare_ns if i % 2 else layer_ns).append(b)
    ratio = statistics.median(lay / bar for bar, lay in zip(bare_ns, layer_ns, strict=True))
    return statistics.median(bare_ns), statistics.median(layer_ns), ratio


async def _bench_driver(driver: str, url: str, rounds: int, batch_s: float) -> None:
    store = unistore.connect(url)
    async with store:
        try:
            for size_name, size in SIZES.items():
                value = _value(size)
                for name, wrapped in _variants(store).items():
                    # Each side reads its own slot, written in its own format.
                    bare_loops = _loops(store, value, f"bare-{size_name}")
                    layer_loops = _loops(wrapped, value, f"{name}-{size_name}")
                    await bare_loops["set"](1)
                    await layer_loops["set"](1)
                    for op in ("get", "set"):
                        bare_ns, layer_ns, ratio = await _pair(
                            bare_loops[op], layer_loops[op], rounds, batch_s
                        )
                        print(
                            f"| {driver:<6} | {size_name:<4} | {name:<10} | {op:<3} "
                            f"| {bare_ns:>10.0f} | {layer_ns:>13.0f} | {ratio:>5.2f}x |",
                            flush=True,
                        )
        finally:
            destroy = getattr(store, "destroy", None)
            if destroy is not None:
                await destroy()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drivers", default="memory,redis")
    parser.add_argument("--rounds", type=int, default=15, help="rounds per op (memory)")
    parser.add_argument("--io-rounds", type=int, default=7, help="rounds per op (redis)")
    parser.add_argument("--batch-ms", type=float, default=20.0, help="batch length (memory)")
    parser.add_argument("--io-batch-ms", type=float, default=40.0, help="batch (redis)")
    args = parser.parse_args()
    print(f"# Python {sys.version.split()[0]}; median of interleaved rounds")
    print("| driver | size | wrapper    | op  | bare ns/op | wrapped ns/op | ratio |")
    print("|--------|------|------------|-----|-----------:|--------------:|------:|")
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
