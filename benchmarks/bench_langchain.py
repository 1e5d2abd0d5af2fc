"""Benchmark of the LangChain adapter against the raw unistore calls it makes.

No persistent LangChain backend is installed beside the adapter (the
LangChain stores and histories for Redis, PostgreSQL and SQL live in
``langchain-redis``, ``langchain-postgres`` and ``langchain-community``), so
this measures the adapter's overhead on the same store and database:

* ``UnistoreByteStore.amget`` / ``amset`` of 10 keys and ``ayield_keys`` of
  the whole namespace, against ``get_many`` / ``set_many`` / ``slots``;
* ``UnistoreChatMessageHistory.aadd_messages`` of one message and
  ``aget_messages``, against what a hand-written history on the raw store
  does: ``message_to_dict`` + ``json.dumps`` + ``append_messages`` (with an
  idempotency token, as the adapter sends), and
  ``read_messages`` + ``json.loads`` + ``messages_from_dict``.

Each at 100 and 10,000 items (keys in the namespace, messages in the
session), with the store borrowed (the adapter runs on the caller's loop)
and owned (opened from the URL: every call hops to the adapter's private
loop thread and back). Rounds interleave adapter and baseline; figures are
medians; the ratio is adapter / baseline (1.00x: no overhead).

    python benchmarks/bench_langchain.py [--rounds 7] [--drivers redis,postgresql,sqlite]
    python benchmarks/bench_langchain.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _bench_stores import bench_store_url
from langchain_core.messages import HumanMessage, message_to_dict, messages_from_dict

import unistore
from unistore.integrations.langchain import UnistoreByteStore, UnistoreChatMessageHistory

BATCH = 10
CHUNK = 500
Op = Callable[[], Awaitable[Any]]


async def timed(op: Op, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        await op()
    return (time.perf_counter() - start) / repeat


async def compare(name: str, adapter: Op, raw: Op, rounds: int, repeat: int) -> None:
    ours: list[float] = []
    base: list[float] = []
    for _ in range(3):  # warm both paths (connections, statement caches, threads)
        await adapter()
        await raw()
    for index in range(rounds):
        # Alternate who goes first, so neither always meets a warm cache.
        if index % 2:
            base.append(await timed(raw, repeat))
            ours.append(await timed(adapter, repeat))
        else:
            ours.append(await timed(adapter, repeat))
            base.append(await timed(raw, repeat))
    a, b = statistics.median(ours), statistics.median(base)
    print(f"    {name:<34} adapter {a * 1e3:9.3f} ms   raw {b * 1e3:9.3f} ms   ratio {a / b:5.2f}x")


async def fill_keys(store: Any, ns: str, n: int) -> list[str]:
    keys = [f"key-{i:05d}" for i in range(n)]
    for start in range(0, n, CHUNK):
        chunk = keys[start : start + CHUNK]
        await store.set_many(ns, dict.fromkeys(chunk, b"v" * 64), ttl=None)
    return keys


async def fill_session(store: Any, sid: str, n: int) -> None:
    await store.create_session(sid)
    text = json.dumps(message_to_dict(HumanMessage("m" * 64)))
    for start in range(0, n, CHUNK):
        await store.append_messages(sid, [text] * min(CHUNK, n - start))


async def bench_size(store: Any, url: str, n: int, rounds: int, owned: bool) -> None:
    mode = "owned (URL, private loop)" if owned else "borrowed (caller's loop)"
    print(f"  {n} items, store {mode}")
    tag = uuid.uuid4().hex[:8]
    namespace = f"bench-{tag}"
    ns = "langchain:" + namespace
    keys = await fill_keys(store, ns, n)
    some = keys[:: max(1, n // BATCH)][:BATCH]
    pairs = [(key, b"w" * 64) for key in some]
    kv = UnistoreByteStore(url if owned else store, namespace=namespace)
    repeat = 20 if n <= 100 else 5
    await compare(
        f"amget({BATCH})", lambda: kv.amget(some), lambda: store.get_many(ns, some), rounds, repeat
    )
    await compare(
        f"amset({BATCH})",
        lambda: kv.amset(pairs),
        lambda: store.set_many(ns, dict(pairs), ttl=None),
        rounds,
        repeat,
    )

    async def all_keys() -> list[str]:
        return [key async for key in kv.ayield_keys()]

    await compare(
        f"ayield_keys() of {n}", all_keys, lambda: store.slots(ns, ""), rounds, max(1, repeat // 2)
    )
    await store.purge(ns)
    await kv.aclose()

    sid = f"bench-{tag}"
    await fill_session(store, sid, n)
    history = UnistoreChatMessageHistory(sid, url if owned else store)
    message = HumanMessage("hello from the benchmark")

    async def raw_add() -> None:
        # With a token, as the adapter sends: that is what makes a retry exactly-once.
        text = json.dumps(message_to_dict(message))
        await store.append_messages(sid, [text], token=uuid.uuid4().hex)

    async def raw_read() -> list[Any]:
        return messages_from_dict([json.loads(t) for t in await store.read_messages(sid)])

    await compare(
        "aadd_messages(1)", lambda: history.aadd_messages([message]), raw_add, rounds, repeat
    )
    await compare(
        f"aget_messages() of {n}", history.aget_messages, raw_read, rounds, 10 if n <= 100 else 1
    )
    await store.delete_session(sid)
    await history.aclose()


async def bench_driver(driver: str, url: str, sizes: list[int], rounds: int) -> None:
    print(driver)
    async with unistore.connect(url) as store:
        try:
            for n in sizes:
                await bench_size(store, url, n, rounds, owned=False)
                if driver != "memory":  # an owned memory:// store would be a different store
                    await bench_size(store, url, n, rounds, owned=True)
        finally:
            destroy = getattr(store, "destroy", None)
            if destroy is not None:
                await destroy()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--drivers", default="redis,postgresql,sqlite")
    parser.add_argument("--quick", action="store_true", help="3 rounds, 100 items, memory+sqlite")
    args = parser.parse_args()
    sizes = [100, 10_000]
    if args.quick:
        args.rounds, args.drivers, sizes = 3, "memory,sqlite", [100]
    with tempfile.TemporaryDirectory() as tmp:
        for driver in args.drivers.split(","):
            url = bench_store_url(driver, Path(tmp))
            if url is not None:
                await bench_driver(driver, url, sizes, args.rounds)


if __name__ == "__main__":
    asyncio.run(main())
