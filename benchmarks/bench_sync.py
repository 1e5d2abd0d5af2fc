"""Benchmark of the blocking facade, ``unistore.sync``.

1. Per-operation latency of a namespaced ``get`` and ``set`` through
   ``unistore.sync`` against the async API awaited on its own loop, on memory,
   SQLite, Redis and PostgreSQL: interleaved rounds, medians, the ratio
   sync / async (target: at most 1.3).
2. Throughput of 8 threads sharing one blocking store against 1 thread, on
   Redis and PostgreSQL (operations per second, medians).

Servers come from ``UNISTORE_TEST_REDIS_URL`` and ``UNISTORE_TEST_POSTGRES_URL``
under unique prefixes, destroyed afterwards. Runtime: about a minute.

    ./dev bench sync [--rounds 7] [--ops 400]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _bench_stores import bench_store_url

import unistore
from unistore import sync

THREADS = 8


async def async_round(ns: Any, ops: int) -> tuple[float, float]:
    start = time.perf_counter()
    for i in range(ops):
        await ns.set("k", str(i))
    middle = time.perf_counter()
    for _ in range(ops):
        await ns.get("k")
    end = time.perf_counter()
    return (middle - start) / ops, (end - middle) / ops


def sync_round(ns: sync.Namespace[str], ops: int) -> tuple[float, float]:
    start = time.perf_counter()
    for i in range(ops):
        ns.set("k", str(i))
    middle = time.perf_counter()
    for _ in range(ops):
        ns.get("k")
    end = time.perf_counter()
    return (middle - start) / ops, (end - middle) / ops


def threaded_round(ns: sync.Namespace[str], threads: int, ops: int) -> float:
    """Operations per second of ``threads`` threads doing ``ops`` set+get each."""

    def work() -> None:
        for i in range(ops):
            ns.set(f"t-{threading.get_ident()}", str(i))
            ns.get(f"t-{threading.get_ident()}")

    workers = [threading.Thread(target=work) for _ in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return threads * ops * 2 / (time.perf_counter() - start)


def measure_latency(url: str, rounds: int, ops: int) -> dict[str, float]:
    # The async store runs on this thread's loop; the blocking one on its own.
    loop = asyncio.new_event_loop()
    async_data: Any = unistore.NamespacedStore(url, prefix="bsync", default_ttl=600)
    async_ns = async_data.namespace("async")
    sync_data = sync.NamespacedStore(url, prefix="bsync", default_ttl=600)
    sync_ns = sync_data.namespace("sync")
    samples: dict[str, list[float]] = {"aset": [], "aget": [], "sset": [], "sget": []}
    try:
        loop.run_until_complete(async_round(async_ns, 20))  # warm both
        sync_round(sync_ns, 20)
        for _ in range(rounds):
            aset, aget = loop.run_until_complete(async_round(async_ns, ops))
            sset, sget = sync_round(sync_ns, ops)
            samples["aset"].append(aset)
            samples["aget"].append(aget)
            samples["sset"].append(sset)
            samples["sget"].append(sget)
        loop.run_until_complete(async_ns.purge())
        sync_ns.purge()
    finally:
        sync_data.close()
        destroy = getattr(async_data.store, "destroy", None)
        if destroy is not None:
            loop.run_until_complete(destroy())
        loop.run_until_complete(async_data.aclose())
        loop.close()
    return {name: statistics.median(values) for name, values in samples.items()}


def measure_threads(url: str, rounds: int, ops: int) -> tuple[float, float]:
    with sync.NamespacedStore(url, prefix="bthreads", default_ttl=600) as data:
        ns = data.namespace("threads")
        one: list[float] = []
        many: list[float] = []
        for _ in range(rounds):
            one.append(threaded_round(ns, 1, ops))
            many.append(threaded_round(ns, THREADS, ops // THREADS * 2))
        ns.purge()
    return statistics.median(one), statistics.median(many)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--ops", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print("# per-operation latency, median of interleaved rounds (microseconds)")
        print(f"{'driver':<11} {'op':<4} {'async':>9} {'sync':>9} {'sync/async':>11}")
        for driver in ("memory", "sqlite", "redis", "postgresql"):
            url = bench_store_url(driver, Path(tmp) / driver)
            if url is None:
                continue
            Path(tmp, driver).mkdir(exist_ok=True)
            result = measure_latency(url, args.rounds, args.ops)
            for op in ("get", "set"):
                a, s = result[f"a{op}"] * 1e6, result[f"s{op}"] * 1e6
                print(f"{driver:<11} {op:<4} {a:>9.1f} {s:>9.1f} {s / a:>10.2f}x")
        print(f"\n# {THREADS} threads sharing one blocking store (set+get ops per second)")
        print(f"{'driver':<11} {'1 thread':>10} {f'{THREADS} threads':>10} {'ratio':>7}")
        for driver in ("redis", "postgresql"):
            url = bench_store_url(driver, Path(tmp) / driver)
            if url is None:
                continue
            one, many = measure_threads(url, max(3, args.rounds // 2), args.ops)
            print(f"{driver:<11} {one:>10.0f} {many:>10.0f} {many / one:>6.2f}x")
            if driver == "postgresql":
                with sync.connect(url) as store:
                    destroy = getattr(store.async_store, "destroy", None)
                    if destroy is not None:
                        store.runner.run(destroy(), "destroy")


if __name__ == "__main__":
    main()
