"""Benchmark of the bucketed Redis session layout against the previous one (one hash tag).

1. Append latency: one message appended with an expected length to a session
   of each layout, in rounds of 200 calls per layout, the order of the layouts
   alternating between rounds. Prints the median per-call time of each and the
   median of the per-round ratios.
2. Listing: ``list_sessions(limit=50)`` (the 50 newest) in a store holding
   100,000 sessions, per layout, alternating call by call; the bucketed
   layout also with the merge a cluster gets (pipelined reads per bucket,
   then the page's records), forced on the one server. Prints the medians
   and the ratios.

Both run on a private ``redis-server`` (loopback, a temporary folder, no
persistence) that the script starts and stops, so nothing else shares it.
The previous layout is the copy the migration tests write old data with
(``drivers/redis/tests/old_layout.py``). Runtime: about a minute.

    uv run --all-packages python benchmarks/bench_redis_sessions_layout.py [--sessions 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import unistore
from unistore import StoreURL
from unistore_redis import RedisStore
from unistore_redis import _sessions as sessions_module

_is_cluster = sessions_module.is_cluster
CLUSTER_MERGE = "buckets, cluster merge"

ROOT = Path(__file__).resolve().parent.parent


def _old_layout() -> ModuleType:
    path = ROOT / "drivers" / "redis" / "tests" / "old_layout.py"
    spec = importlib.util.spec_from_file_location("unistore_redis_old_layout", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def private_server() -> Iterator[str]:
    """Start a redis-server on a free loopback port; yield its URL; stop it by PID."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", folder]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise SystemExit("the private redis-server did not start") from None
                    time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.kill()
            process.wait(timeout=10)


async def timed(call: Callable[[], Awaitable[object]], times: int) -> float:
    """Return the mean seconds of ``times`` sequential calls."""
    start = time.perf_counter()
    for _ in range(times):
        await call()
    return (time.perf_counter() - start) / times


async def fill(store: Any, count: int) -> None:
    for start in range(0, count, 500):
        ids = range(start, min(count, start + 500))
        await asyncio.gather(*(store.create_session(f"user-{i}", label=f"s{i}") for i in ids))


async def bench_appends(stores: dict[str, Any], rounds: int) -> None:
    lengths = dict.fromkeys(stores, 0)
    for store in stores.values():
        await store.create_session("chat")

    def append(name: str) -> Callable[[], Awaitable[object]]:
        async def call() -> None:
            lengths[name] = await stores[name].append_messages(
                "chat", ['{"role": "user", "content": "hello"}'], expected_length=lengths[name]
            )

        return call

    samples: dict[str, list[float]] = {name: [] for name in stores}
    ratios = []
    names = list(stores)
    for i in range(rounds):
        order = names if i % 2 == 0 else names[::-1]
        for name in order:
            samples[name].append(await timed(append(name), 200))
        ratios.append(samples["buckets"][-1] / samples["one tag"][-1])
    print("append (one message, expected length), per call:")
    for name, values in samples.items():
        print(f"  {name:8}  median {statistics.median(values) * 1e6:7.1f} us")
    print(f"  buckets / one tag: median ratio {statistics.median(ratios):.2f}")


async def bench_listing(stores: dict[str, Any], sessions: int, rounds: int) -> None:
    for store in stores.values():
        await fill(store, sessions)
    names = [*stores, CLUSTER_MERGE]
    samples: dict[str, list[float]] = {name: [] for name in names}
    ratios: dict[str, list[float]] = {"buckets": [], CLUSTER_MERGE: []}
    for _ in range(rounds):
        for name in names:
            store = stores.get(name, stores["buckets"])
            # The merge a cluster gets (pipelined per-bucket reads), on this one server.
            sessions_module.is_cluster = (
                (lambda client: True) if name == CLUSTER_MERGE else _is_cluster
            )
            samples[name].append(await timed(lambda s=store: s.list_sessions(limit=50), 1))
        sessions_module.is_cluster = _is_cluster
        for name in ratios:
            ratios[name].append(samples[name][-1] / samples["one tag"][-1])
    print(f"list_sessions(limit=50) among {sessions:,} sessions:")
    for name, values in samples.items():
        print(f"  {name:22}  median {statistics.median(values) * 1e3:7.2f} ms")
    for name, values in ratios.items():
        print(f"  {name} / one tag: median ratio {statistics.median(values):.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=21)
    options = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    old = _old_layout()
    with private_server() as url:
        new_store = unistore.connect(url, key_prefix="bench-new")
        assert isinstance(new_store, RedisStore)
        old_store = old.OldLayoutStore(StoreURL.parse(url), {"key_prefix": "bench-old"})
        stores = {"buckets": new_store, "one tag": old_store}
        async with new_store, old_store:
            await bench_appends(stores, options.rounds)
            await bench_listing(stores, options.sessions, options.rounds * 3)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
