"""A 3-master Redis Cluster against one Redis server: throughput, appends and listing.

Starts its own servers on free loopback ports (a 6-node cluster, 3 masters with
a replica each, as the tests make it, and one plain ``redis-server``), and
stops them by PID at the end. On both it measures, in interleaved rounds:

* namespaced ``set`` and ``get`` throughput with ``--tasks`` concurrent tasks
  (50 by default), over many namespaces (so the cluster's masters share the
  load);
* the latency of a one-message session append;
* listing the 50 newest of ``--sessions`` sessions (100,000 by default),
  spread over the buckets.

The servers and this process share the machine's cores: on a 2-core machine
the cluster's three masters cannot run in parallel with each other and the
client, so its throughput shows the cost of routing more than the gain of
sharding. Run it on separate hosts for capacity planning.

    uv run --all-packages python benchmarks/bench_cluster.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import unistore


def _servers() -> ModuleType:
    # The test servers module: the same cluster the tests run against.
    path = Path(__file__).parent.parent / "drivers" / "redis" / "tests" / "servers.py"
    spec = importlib.util.spec_from_file_location("unistore_bench_servers", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _SingleServer:
    """One plain redis-server on a free loopback port."""

    def __init__(self, servers: ModuleType) -> None:
        self.port = servers.free_ports(1)[0]
        self._dir = tempfile.mkdtemp(prefix="unistore-bench-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> _SingleServer:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed"
        flags = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        flags += ["--appendonly", "no", "--dir", self._dir]
        self._proc = subprocess.Popen(
            [binary, *flags],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


async def _throughput(store: Any, op: str, tasks: int, seconds: float) -> float:
    data = unistore.NamespacedStore(store, prefix="bench", default_ttl=600)
    spaces = [data.namespace(f"user{i}") for i in range(200)]
    for space in spaces:
        await space.set("k", "v")
    done = 0
    stop = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        nonlocal done
        i = w
        while time.perf_counter() < stop:
            space = spaces[i % len(spaces)]
            if op == "set":
                await space.set("k", "value")
            else:
                await space.get("k")
            i += tasks
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(tasks)))
    return done / (time.perf_counter() - start)


async def _append_us(store: Any, sid: str, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        await store.append_messages(sid, [f'{{"n": {i}}}'])
    return (time.perf_counter() - start) / n * 1e6


async def _list_ms(store: Any, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        page = await store.list_sessions(limit=50)
        assert len(page.items) == 50
    return (time.perf_counter() - start) / n * 1e3


async def _fill(store: Any, count: int) -> None:
    sem = asyncio.Semaphore(64)

    async def one(i: int) -> None:
        async with sem:
            await store.create_session(f"s{i:07d}", messages=['{"role": "user"}'])

    await asyncio.gather(*(one(i) for i in range(count)))


async def run(args: argparse.Namespace, urls: dict[str, str]) -> None:
    prefix = f"b{uuid.uuid4().hex[:8]}"
    stores = {name: unistore.connect(url, key_prefix=prefix) for name, url in urls.items()}
    results: dict[tuple[str, str], list[float]] = {}
    try:
        for store in stores.values():
            await store.__aenter__()
            await _fill(store, args.sessions)
            await store.create_session("appender")
        for round_ in range(args.rounds):
            order = list(stores.items())
            if round_ % 2:
                order.reverse()
            for name, store in order:
                for op in ("set", "get"):
                    ops = await _throughput(store, op, args.tasks, args.seconds)
                    results.setdefault((name, f"{op} ops/s, c={args.tasks}"), []).append(ops)
                append = await _append_us(store, "appender", args.appends)
                results.setdefault((name, "append µs"), []).append(append)
                listing = await _list_ms(store, args.lists)
                results.setdefault((name, f"list 50 of {args.sessions:,} ms"), []).append(listing)
    finally:
        for store in stores.values():
            destroy = getattr(store, "destroy", None)
            if destroy is not None:
                await destroy()
            await store.aclose()
    load = os.getloadavg()
    print(f"# Python {sys.version.split()[0]}; {args.rounds} interleaved rounds, medians")
    print(f"# load average {[round(x, 2) for x in load]}")
    print("| measure | one server | cluster (3 masters) | cluster / one |")
    print("|---|---:|---:|---:|")
    measures = dict.fromkeys(m for _, m in results)
    for measure in measures:
        one = statistics.median(results[("one server", measure)])
        many = statistics.median(results[("cluster", measure)])
        print(f"| {measure} | {one:,.1f} | {many:,.1f} | {many / one:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of a throughput run")
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--appends", type=int, default=2_000)
    parser.add_argument("--lists", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="3 rounds, 10,000 sessions")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.sessions, args.seconds, args.appends = 3, 10_000, 1.0, 500
    servers = _servers()
    with servers.RedisCluster() as cluster, _SingleServer(servers) as single:
        asyncio.run(run(args, {"one server": single.url, "cluster": cluster.url}))


if __name__ == "__main__":
    main()
