"""Benchmark of the redis driver against raw redis-py on the same connection pool.

1. Throughput of get / set / hset / incr through the driver versus raw redis-py
   issuing the equivalent commands (``GET``; ``SET PX``; ``HSET`` + ``PEXPIRE`` in
   ``MULTI``, the raw way to make the TTL atomic; ``INCRBY``), at concurrency 1
   and 50. Prints operations per second and the ratio driver / raw.
2. ``purge`` of a 20-slot namespace in a database holding 1,000,000 other keys,
   versus a ``SCAN MATCH`` + ``DEL`` purge (the approach that scans the keyspace)
   on the same data. Prints the medians and their ratio.

It uses database 14 of the server (override with ``--url``), refuses to run if
that database is not empty, and flushes it at the end. Runtime: about a minute.

    uv run --all-packages python benchmarks/bench_redis.py [--url redis://127.0.0.1:6379/14]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

import unistore
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
    args = parser.parse_args()
    store = unistore.connect(args.url, key_prefix="bench")
    assert isinstance(store, RedisStore)
    async with store:
        if await store.client.dbsize():
            print(f"refusing to run: database of {store.url} is not empty", file=sys.stderr)
            return 2
        try:
            await bench_throughput(store, args.seconds, args.pairs)
            await bench_purge(store, reps=31, scan_reps=5)
        finally:
            await store.client.flushdb()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
