"""Session manager costs that must not grow with the data: save, fork, list.

1. Save cost is flat: the median time of ``SessionManager.save()`` for one new
   message when the conversation holds about 10,000 messages, against about
   100, as a ratio (target <= 1.5). Beside it, in the same run and on the same
   store, two full-rewrite baselines in the style of the reference design:
   re-encoding every message and ``replace_messages(0, all)``, and one JSON blob
   per session written to a key-value slot.
2. Fork is O(1): the median time of ``SessionManager.fork()`` of a
   10,000-message session against a 10-message one (target <= 1.5).
3. Listing reads records only: ``SessionManager.list(limit=50)`` over many
   sessions (10,000 where the driver creates them fast enough, fewer on slow
   drivers: the table says how many) through a spy store that counts
   ``read_messages`` calls (must be 0); its time beside the same listing when
   the store held only 100 sessions.

Runs on every driver that is installed and reachable: memory, sqlite and file
(in a temporary folder), redis and postgresql (``UNISTORE_TEST_REDIS_URL``,
``UNISTORE_TEST_POSTGRES_URL``, under a unique key or table prefix destroyed
afterwards).

    uv run --all-packages python benchmarks/bench_sessions.py [--drivers memory,redis]
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from unistore import Conversation, SessionManager

SMALL, LARGE = 100, 10_000
SAVE_REPS = 25
REWRITE_REPS = {SMALL: 10, LARGE: 4}
FORK_REPS = 20
LIST_REPS = 20
LIST_TARGET = 10_000
LIST_BUDGET_S = 15.0  # time allowed for creating the listed sessions, per driver
TEXT = ("The quick brown fox jumps over the lazy dog while the model thinks. " * 3).strip()


def message(i: int) -> dict[str, Any]:
    return {"role": "user" if i % 2 == 0 else "assistant", "content": f"{i}: {TEXT}"}


def encode(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class CountingStore:
    """Passes everything through, counting the calls that read message data."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.message_reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def read_messages(self, session_id: str, **options: Any) -> list[str]:
        self.message_reads += 1
        return await self.inner.read_messages(session_id, **options)  # type: ignore[no-any-return]


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await call()
    return time.perf_counter() - start


async def prefill(store: Any, session_id: str, count: int) -> list[dict[str, Any]]:
    await store.create_session(session_id)
    messages = [message(i) for i in range(count)]
    for start in range(0, count, 1000):
        chunk = [encode(m) for m in messages[start : start + 1000]]
        await store.append_messages(session_id, chunk, expected_length=start)
    return messages


async def bench_save(store: Any) -> dict[str, Any]:
    """Median seconds per save of one new message at SMALL and LARGE sizes."""
    ours: dict[int, float] = {}
    rewrite: dict[int, float] = {}
    blob: dict[int, float] = {}
    large_id = ""
    for size in (SMALL, LARGE):
        session_id = f"save-{size}-{uuid.uuid4().hex[:8]}"
        await prefill(store, session_id, size - 1)
        conversation = Conversation()
        manager = SessionManager(store, conversation, auto_save=False)
        await manager.load(session_id)
        samples = []
        for i in range(SAVE_REPS):
            conversation.append(message(size - 1 + i))
            samples.append(await timed(manager.save))
        await manager.aclose()
        ours[size] = statistics.median(samples)
        if size == LARGE:
            large_id = session_id

        # Baseline 1: the whole log re-encoded and rewritten on each save.
        naive_id = f"naive-{size}-{uuid.uuid4().hex[:8]}"
        history = await prefill(store, naive_id, size - 1)
        samples = []
        for i in range(REWRITE_REPS[size]):
            history.append(message(size - 1 + i))

            async def rewrite_all() -> None:
                texts = [encode(m) for m in history]  # noqa: B023
                await store.replace_messages(
                    naive_id,  # noqa: B023
                    0,
                    texts,
                    expected_length=len(history) - 1,  # noqa: B023
                )

            samples.append(await timed(rewrite_all))
        rewrite[size] = statistics.median(samples)
        await store.delete_session(naive_id)

        # Baseline 2: one JSON document per session in a key-value slot.
        blob_history = [message(i) for i in range(size - 1)]
        samples = []
        for i in range(REWRITE_REPS[size]):
            blob_history.append(message(size - 1 + i))

            async def write_blob() -> None:
                data = json.dumps(blob_history).encode()  # noqa: B023
                await store.set("bench-sessions", f"blob-{size}", data, ttl=600.0)  # noqa: B023

            samples.append(await timed(write_blob))
        blob[size] = statistics.median(samples)
        await store.delete("bench-sessions", f"blob-{size}")
    return {"ours": ours, "rewrite": rewrite, "blob": blob, "large_id": large_id}


async def bench_fork(store: Any, large_id: str) -> dict[int, float]:
    small_id = f"fork-small-{uuid.uuid4().hex[:8]}"
    await prefill(store, small_id, 10)
    manager = SessionManager(store, Conversation(), auto_save=False)
    samples: dict[int, list[float]] = {10: [], LARGE: []}
    for _ in range(FORK_REPS):
        # Interleaved, so drift in the machine's load hits both sides alike.
        samples[LARGE].append(await timed(lambda: manager.fork(large_id)))
        samples[10].append(await timed(lambda: manager.fork(small_id)))
    await manager.aclose()
    return {size: statistics.median(values) for size, values in samples.items()}


async def bench_list(store: Any, parallel: int) -> dict[str, Any]:
    spy = CountingStore(store)
    manager = SessionManager(spy, Conversation(), auto_save=False)
    payload = [encode(message(0)), encode(message(1))]
    created = 0
    started = time.perf_counter()

    async def create_one(number: int) -> None:
        session_id = f"list-{number:06d}-{uuid.uuid4().hex[:6]}"
        await store.create_session(session_id, metadata={"n": number})
        await store.append_messages(session_id, payload, expected_length=0)

    async def create(count: int) -> None:
        nonlocal created
        for start in range(created, created + count, parallel):
            batch = range(start, min(start + parallel, created + count))
            await asyncio.gather(*(create_one(number) for number in batch))
        created += count

    async def list_times() -> float:
        samples = []
        for _ in range(LIST_REPS):
            page = None

            async def one() -> None:
                nonlocal page
                page = await manager.list(limit=50)

            samples.append(await timed(one))
            assert page is not None
            assert len(page.items) == 50
        return statistics.median(samples)

    await create(100)
    at_100 = await list_times()
    # Create up to LIST_TARGET sessions, fewer if this driver is too slow for the budget.
    while created < LIST_TARGET and time.perf_counter() - started < LIST_BUDGET_S:
        await create(min(500, LIST_TARGET - created))
    at_many = await list_times()
    await manager.aclose()
    return {
        "sessions": created,
        "at_100": at_100,
        "at_many": at_many,
        "reads": spy.message_reads,
    }


async def bench_driver(driver: str, url: str) -> dict[str, Any]:
    store: Any = unistore.connect(url)
    async with store:
        try:
            began = time.perf_counter()
            save = await bench_save(store)
            fork = await bench_fork(store, save["large_id"])
            # Server drivers take concurrent writers; local files are written one by one.
            parallel = 25 if driver in ("redis", "postgresql") else 1
            listing = await bench_list(store, parallel)
            return {
                "save": save,
                "fork": fork,
                "list": listing,
                "seconds": time.perf_counter() - began,
            }
        finally:
            await store.destroy()


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f}"


def report(results: dict[str, dict[str, Any]]) -> None:
    print("\n## 1. Save of one new message: median µs at 100 -> 10,000 messages (ratio)\n")
    print(
        "| driver | unistore save | ratio | rewrite all (replace_messages) | ratio "
        "| JSON blob in a KV slot | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for driver, r in results.items():
        cells = []
        for key in ("ours", "rewrite", "blob"):
            small, large = r["save"][key][SMALL], r["save"][key][LARGE]
            cells.append(f"{us(small)} -> {us(large)} | {large / small:.2f}x")
        print(f"| {driver} | " + " | ".join(cells) + " |")

    print("\n## 2. Fork: median µs, 10 vs 10,000 messages (ratio)\n")
    print("| driver | 10 messages | 10,000 messages | ratio |")
    print("|---|---|---|---|")
    for driver, r in results.items():
        small, large = r["fork"][10], r["fork"][LARGE]
        print(f"| {driver} | {us(small)} | {us(large)} | {large / small:.2f}x |")

    print("\n## 3. List the 50 newest sessions: median µs, read_messages calls\n")
    print("| driver | sessions | at 100 sessions | at all | read_messages calls |")
    print("|---|---|---|---|---|")
    for driver, r in results.items():
        listing = r["list"]
        print(
            f"| {driver} | {listing['sessions']:,} | {us(listing['at_100'])} "
            f"| {us(listing['at_many'])} | {listing['reads']} |"
        )
    print()
    for driver, r in results.items():
        print(f"# {driver}: {r['seconds']:.1f} s")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drivers", default=",".join(ALL_DRIVERS))
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for driver in args.drivers.split(","):
            url = bench_store_url(driver.strip(), Path(tmp))
            if url is None:
                continue
            print(f"# {driver} ...", file=sys.stderr, flush=True)
            results[driver] = await bench_driver(driver, url)
    report(results)
    for driver, r in results.items():
        save_ratio = r["save"]["ours"][LARGE] / r["save"]["ours"][SMALL]
        fork_ratio = r["fork"][LARGE] / r["fork"][10]
        if save_ratio > 1.5 or fork_ratio > 1.5 or r["list"]["reads"]:
            print(f"# {driver}: OVER TARGET (save {save_ratio:.2f}x, fork {fork_ratio:.2f}x)")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
