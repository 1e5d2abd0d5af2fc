"""Benchmark of the redis driver against raw redis-py on the same connection pool.

1. Namespaced set / get (``NamespacedStore`` text handles, the way applications
   call unistore) against raw redis-py ``SET EX`` / ``GET`` on the store's own
   client and against ``aiocache.RedisCache`` (when aiocache is installed), at
   concurrency 1 and 50: a 100-character string under one of 1,000 keys with a
   300-second expiry. Concurrency 1 alternates single calls between the
   contenders; 50 times one sample per contender in an order that rotates
   every round. Prints the median ops/s and the median and spread of the
   per-round ratios.
2. Throughput of get / set / hset / incr through the driver versus raw redis-py
   issuing the equivalent commands (``GET``; ``SET PX``; ``HSET`` + ``PEXPIRE`` in
   ``MULTI``, the raw way to make the TTL atomic; ``INCRBY``), at concurrency 1
   and 50. Prints operations per second and the ratio driver / raw.
3. ``purge`` of a 20-slot namespace in a database holding 1,000,000 other keys,
   versus a ``SCAN MATCH`` + ``DEL`` purge (the approach that scans the keyspace)
   on the same data. Prints the medians and their ratio.

It uses database 14 of the server (override with ``--url``), refuses to run if
that database is not empty, and flushes it at the end. Prints the load
average first and last. Runtime: about two minutes (``--only peers`` runs
part 1 alone).

    uv run --all-packages python benchmarks/bench_redis.py [--url redis://127.0.0.1:6379/14]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

import unistore
from unistore import NamespacedStore, StoreURL
from unistore_redis import RedisStore

TTL = 300.0
VALUE = b"v" * 64
OTHER_KEYS = 1_000_000

Op = Callable[[int], Awaitable[object]]


async def throughput(op: Op, concurrency: int, seconds: float) -> float:
    """Run ``op`` from ``concurrency`` tasks for ``seconds``; return operations per second."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        nonlocal done
        i = n
        while time.perf_counter() < deadline:
            await op(i)
            done += 1
            i += concurrency

    start = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return done / (time.perf_counter() - start)


async def alternating(driver_op: Op, raw_op: Op, seconds: float) -> tuple[float, float]:
    """At concurrency 1, alternate the two call by call; return both rates in ops/s.

    Interleaving single calls exposes both sides to the same background load,
    which on a busy machine matters more than anything the driver does.
    """
    spent = {"driver": 0.0, "raw": 0.0}
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for side, op in (("driver", driver_op), ("raw", raw_op)):
            start = time.perf_counter()
            await op(count)
            spent[side] += time.perf_counter() - start
        count += 1
    return count / spent["driver"], count / spent["raw"]


# -- 1. namespaced set / get against the peers -----------------------------------

PEER_VALUE = "v" * 100
PEER_KEYS = 1_000
PEER_TTL = 300


@asynccontextmanager
async def peer_contenders(store: RedisStore) -> AsyncIterator[dict[str, dict[str, Op]]]:
    """Yield contender name -> {"set": op, "get": op}; unistore first, raw redis-py second."""
    ns = NamespacedStore(store, prefix="bench", default_ttl=PEER_TTL).namespace("peers")
    client: aioredis.Redis = store.client
    raw_keys = [f"raw:peers:k{i}".encode() for i in range(PEER_KEYS)]
    slots = [f"k{i}" for i in range(PEER_KEYS)]
    contenders: dict[str, dict[str, Op]] = {
        "unistore": {
            "set": lambda i: ns.set(slots[i % PEER_KEYS], PEER_VALUE),
            "get": lambda i: ns.get(slots[i % PEER_KEYS]),
        },
        "redis-py": {
            "set": lambda i: client.set(raw_keys[i % PEER_KEYS], PEER_VALUE, ex=PEER_TTL),
            "get": lambda i: client.get(raw_keys[i % PEER_KEYS]),
        },
    }
    cache: Any = None
    try:
        from aiocache import RedisCache  # type: ignore[import-untyped,unused-ignore]
        from aiocache.serializers import StringSerializer  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        print("  (aiocache is not installed: it is left out)")
    else:
        url = StoreURL.parse(store.url.render(hide_secrets=False))
        db = int((url.path or "/0").strip("/") or 0)
        cache = RedisCache(
            endpoint=url.host or "127.0.0.1",
            port=url.port or 6379,
            db=db,
            namespace="aiocache:peers:",
            serializer=StringSerializer(),
            pool_max_size=50,  # the size of the store's pool
        )
        contenders["aiocache"] = {
            "set": lambda i: cache.set(slots[i % PEER_KEYS], PEER_VALUE, ttl=PEER_TTL),
            "get": lambda i: cache.get(slots[i % PEER_KEYS]),
        }
    try:
        yield contenders
    finally:
        if cache is not None:
            await cache.close()


async def alternating_many(ops: dict[str, Op], seconds: float) -> dict[str, float]:
    """At concurrency 1, call each op in turn (the first one rotating); return ops/s each."""
    names = list(ops)
    spent = dict.fromkeys(names, 0.0)
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        shift = count % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            await ops[name](count)
            spent[name] += time.perf_counter() - start
        count += 1
    return {name: count / spent[name] for name in names}


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


async def bench_peers(store: RedisStore, seconds: float, rounds: int) -> None:
    print(
        f"namespaced set / get vs peers, ops/s: medians of {rounds} rounds "
        f"({PEER_KEYS:,} keys, {len(PEER_VALUE)}-character values, ttl {PEER_TTL} s)"
    )
    async with peer_contenders(store) as contenders:
        names = list(contenders)
        for i in range(PEER_KEYS):  # every key a get reads exists
            for ops in contenders.values():
                await ops["set"](i)
        header = "".join(f"{name:>11}" for name in names)
        ratios_head = "".join(f"{'/' + name:>18}" for name in names[1:])
        print(f"  {'op':<5}{'conc':>5}{header}{ratios_head}   (ratio median, min-max)")
        for op in ("set", "get"):
            for concurrency in (1, 50):
                rates: dict[str, list[float]] = {name: [] for name in names}
                for round_ in range(rounds):
                    if concurrency == 1:
                        ops = {name: contenders[name][op] for name in names}
                        for name, rate in (await alternating_many(ops, 3 * seconds)).items():
                            rates[name].append(rate)
                        continue
                    shift = round_ % len(names)
                    for name in names[shift:] + names[:shift]:
                        rate = await throughput(contenders[name][op], concurrency, seconds)
                        rates[name].append(rate)
                cells = "".join(f"{statistics.median(rates[name]):>11,.0f}" for name in names)
                ours = rates["unistore"]
                ratio_cells = ""
                for name in names[1:]:
                    ratio = [u / p for u, p in zip(ours, rates[name], strict=True)]
                    ratio_cells += f"{statistics.median(ratio):>7.2f} ({spread(ratio)})"
                print(f"  {op:<5}{concurrency:>5}{cells}{ratio_cells}")


def load_average() -> str:
    try:
        return ", ".join(f"{load:.2f}" for load in os.getloadavg())
    except OSError:  # not available on this platform
        return "unknown"


def operations(store: RedisStore) -> dict[str, tuple[Op, Op]]:
    client: aioredis.Redis = store.client
    ns = "bench:ns"
    keys = [f"raw:{{bench}}:s:k{i}".encode() for i in range(100)]
    px = int(TTL * 1000)

    async def raw_hset(i: int) -> object:
        async with client.pipeline(transaction=True) as pipe:
            pipe.hset(keys[i % 100] + b"h", mapping={"f": VALUE})
            pipe.pexpire(keys[i % 100] + b"h", px)
            return await pipe.execute()

    return {
        "get": (
            lambda i: store.get(ns, f"k{i % 100}"),
            lambda i: client.get(keys[i % 100]),
        ),
        "set": (
            lambda i: store.set(ns, f"k{i % 100}", VALUE, ttl=TTL),
            lambda i: client.set(keys[i % 100], VALUE, px=px),
        ),
        "hset": (
            lambda i: store.hset(ns, f"h{i % 100}", {"f": VALUE}, ttl=TTL),
            raw_hset,
        ),
        "incr": (
            lambda i: store.incr(ns, f"c{i % 100}", ttl=TTL),
            lambda i: client.incrby(keys[i % 100] + b"c", 1),
        ),
    }


async def bench_throughput(store: RedisStore, seconds: float, pairs: int) -> None:
    print(
        f"throughput, ops/s: medians of {pairs} paired samples of {seconds:.2f} s each "
        "(concurrency 1 alternates single calls; 50 alternates samples)"
    )
    print(f"  {'op':<6}{'conc':>5}{'driver':>12}{'raw':>12}{'ratio':>8}")
    ops = operations(store)
    for i in range(100):  # the slots every operation reads exist
        await store.set("bench:ns", f"k{i}", VALUE, ttl=TTL)
        await store.client.set(f"raw:{{bench}}:s:k{i}", VALUE, px=int(TTL * 1000))
    for name, (driver_op, raw_op) in ops.items():
        for concurrency in (1, 50):
            drivers: list[float] = []
            raws: list[float] = []
            for pair in range(pairs):
                if concurrency == 1:
                    driver_rate, raw_rate = await alternating(driver_op, raw_op, 2 * seconds)
                    drivers.append(driver_rate)
                    raws.append(raw_rate)
                    continue
                order = [(drivers, driver_op), (raws, raw_op)]
                for samples, op in order if pair % 2 else order[::-1]:
                    samples.append(await throughput(op, concurrency, seconds))
            ratio = statistics.median(d / r for d, r in zip(drivers, raws, strict=True))
            driver_ops, raw_ops = statistics.median(drivers), statistics.median(raws)
            print(f"  {name:<6}{concurrency:>5}{driver_ops:>12,.0f}{raw_ops:>12,.0f}{ratio:>8.2f}")


async def load_other_keys(client: aioredis.Redis) -> None:
    start = time.perf_counter()
    try:
        await client.execute_command("DEBUG", "POPULATE", OTHER_KEYS, "other")  # type: ignore[no-untyped-call]
        how = "DEBUG POPULATE"
    except ResponseError:  # DEBUG is disabled on this server: pipelined MSETs instead
        batch = 1000
        for first in range(0, OTHER_KEYS, batch * 10):
            async with client.pipeline(transaction=False) as pipe:
                for chunk in range(first, min(first + batch * 10, OTHER_KEYS), batch):
                    pipe.mset({f"other:{i}": b"x" for i in range(chunk, chunk + batch)})
                await pipe.execute()
        how = "pipelined MSET"
    print(f"loaded {OTHER_KEYS:,} other keys with {how} in {time.perf_counter() - start:.1f} s")


async def scan_purge(client: aioredis.Redis, pattern: str) -> int:
    """Purge the way that scans the keyspace: SCAN MATCH, then DEL what matched."""
    deleted = 0
    async for key in client.scan_iter(match=pattern, count=1000):
        deleted += await client.delete(key)
    return deleted


async def bench_purge(store: RedisStore, reps: int, scan_reps: int) -> None:
    client = store.client
    await load_other_keys(client)
    ours: list[float] = []
    for rep in range(reps):
        ns = f"purge:{rep}"
        for i in range(20):
            await store.set(ns, f"slot{i}", VALUE, ttl=TTL)
        start = time.perf_counter()
        count = await store.purge(ns)
        ours.append(time.perf_counter() - start)
        assert count == 20, count
    scans: list[float] = []
    for rep in range(scan_reps):
        prefix = f"ref:purge{rep}"
        for i in range(20):
            await client.set(f"{prefix}:slot{i}", VALUE, px=int(TTL * 1000))
        start = time.perf_counter()
        count = await scan_purge(client, f"{prefix}:*")
        scans.append(time.perf_counter() - start)
        assert count == 20, count
    ours_ms = statistics.median(ours) * 1000
    scan_ms = statistics.median(scans) * 1000
    print(f"purge of a 20-slot namespace among {await client.dbsize():,} keys:")
    print(f"  driver (index)    median {ours_ms:9.3f} ms over {reps} runs")
    print(f"  SCAN MATCH + DEL  median {scan_ms:9.3f} ms over {scan_reps} runs (COUNT 1000)")
    print(f"  ratio             {scan_ms / ours_ms:9.0f}x faster")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--seconds", type=float, default=0.08, help="per throughput sample")
    parser.add_argument("--pairs", type=int, default=20, help="samples per operation")
    parser.add_argument("--rounds", type=int, default=15, help="rounds of the peers comparison")
    parser.add_argument("--only", choices=("peers", "driver", "purge"), help="run one part")
    args = parser.parse_args()
    store = unistore.connect(args.url, key_prefix="bench")
    assert isinstance(store, RedisStore)
    print(f"load average {load_average()}; {os.cpu_count()} CPUs")
    async with store:
        if await store.client.dbsize():
            print(f"refusing to run: database of {store.url} is not empty", file=sys.stderr)
            return 2
        try:
            if args.only in (None, "peers"):
                await bench_peers(store, args.seconds, args.rounds)
            if args.only in (None, "driver"):
                await bench_throughput(store, args.seconds, args.pairs)
            if args.only in (None, "purge"):
                await bench_purge(store, reps=31, scan_reps=5)
        finally:
            await store.client.flushdb()
    print(f"load average {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
