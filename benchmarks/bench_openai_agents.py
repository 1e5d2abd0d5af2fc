"""Benchmark of UnistoreSession against the OpenAI Agents SDK's own sessions.

Per-operation latency of ``add_items`` (one item), ``get_items(limit=20)`` and
``pop_item`` on a session already holding 100 or 10,000 items, for:

* SQLite: ``UnistoreSession("sqlite:///...")`` against the SDK's ``SQLiteSession``,
  both on files in one temporary folder;
* Redis: against the SDK's ``RedisSession`` on the same server;
* PostgreSQL: against the SDK's ``SQLAlchemySession`` (asyncpg) on the same server.

Ours is measured twice: opened from a URL (the store lives on unistore's
portal thread, one hand-over per call) and on a store the caller opened (no
hand-over). Rounds are interleaved (ours, theirs, ours, ...) so that a busy
machine slows every contender alike; each figure is the median over all
calls, and the ratio is ours / theirs in the same run (target: <= 1.0).

Servers come from ``UNISTORE_TEST_REDIS_URL`` and ``UNISTORE_TEST_POSTGRES_URL``
under unique prefixes and tables, removed afterwards.

    ./dev bench openai_agents [--quick] [--rounds 5] [--drivers sqlite,redis]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _bench_stores import POSTGRES_URL, REDIS_URL, bench_store_url

import unistore
from unistore import StoreURL
from unistore.integrations.openai_agents import UnistoreSession

ITEM = {"role": "user", "content": "Plan a weekend in Turin, please. " * 6}
OPS = ("add_items", "get_items(20)", "pop_item")


async def fill(session: Any, size: int) -> None:
    for start in range(0, size, 500):
        await session.add_items([dict(ITEM, n=n) for n in range(start, min(size, start + 500))])


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await call()
    return time.perf_counter() - start


async def one_round(session: Any, calls: int, samples: dict[str, list[float]]) -> None:
    for _ in range(calls):
        # add then pop: the session keeps its size across rounds.
        samples["add_items"].append(await timed(lambda: session.add_items([dict(ITEM)])))
        samples["get_items(20)"].append(await timed(lambda: session.get_items(20)))
        samples["pop_item"].append(await timed(session.pop_item))


def baseline(driver: str, sid: str, tmp: Path, tag: str) -> tuple[str, Any]:
    if driver == "sqlite":
        from agents import SQLiteSession

        return "SQLiteSession", SQLiteSession(sid, tmp / f"sdk-{tag}.db")
    if driver == "redis":
        from agents.extensions.memory import RedisSession

        url = StoreURL.parse(REDIS_URL).render(hide_secrets=False).split("?")[0]
        return "RedisSession", RedisSession.from_url(sid, url=url, key_prefix=f"{tag}:agents")
    from agents.extensions.memory import SQLAlchemySession

    parsed = StoreURL.parse(POSTGRES_URL).render(hide_secrets=False).split("?")[0]
    url = parsed.replace("postgresql://", "postgresql+asyncpg://", 1)
    session = SQLAlchemySession.from_url(
        sid,
        url=url,
        create_tables=True,
        sessions_table=f"{tag}_sessions",
        messages_table=f"{tag}_messages",
    )
    return "SQLAlchemySession", session


async def close_baseline(driver: str, session: Any, tag: str) -> None:
    await session.clear_session()
    if driver == "sqlite":
        session.close()
    elif driver == "redis":
        await session.close()
    else:
        from sqlalchemy import text

        async with session._engine.begin() as conn:
            await conn.execute(text(f'DROP TABLE IF EXISTS "{tag}_messages", "{tag}_sessions"'))
        await session.engine.dispose()


async def bench(driver: str, size: int, rounds: int, calls: int, tmp: Path) -> None:
    url = bench_store_url(driver, tmp / f"{size}")
    if url is None:
        return
    (tmp / f"{size}").mkdir(exist_ok=True)
    url = bench_store_url(driver, tmp / f"{size}")
    assert url is not None
    tag = f"b{uuid.uuid4().hex[:10]}"
    sid = f"bench-{tag}"
    owned = UnistoreSession(sid, url)
    store = unistore.connect(url)
    borrowed = UnistoreSession(sid + "-b", store)
    name, theirs = baseline(driver, sid, tmp, tag)
    contenders = {"ours (url)": owned, "ours (store)": borrowed, name: theirs}
    try:
        for session in contenders.values():
            await fill(session, size)
        samples: dict[str, dict[str, list[float]]] = {
            who: {op: [] for op in OPS} for who in contenders
        }
        for _ in range(rounds):
            for who, session in contenders.items():
                await one_round(session, calls, samples[who])
        for op in OPS:
            base = statistics.median(samples[name][op])
            cells = []
            for who in contenders:
                value = statistics.median(samples[who][op])
                ratio = "" if who == name else f" ({value / base:4.2f}x)"
                cells.append(f"{who} {value * 1e3:7.3f} ms{ratio}")
            print(f"{driver:<10} {size:>6} {op:<14} " + "   ".join(cells), flush=True)
    finally:
        await close_baseline(driver, theirs, tag)
        await owned.clear_session()
        await owned.aclose()
        destroy = getattr(store, "destroy", None)
        if destroy is not None:
            await destroy()
        await store.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=40, help="calls per operation per round")
    parser.add_argument("--drivers", default="sqlite,redis,postgresql")
    parser.add_argument("--quick", action="store_true", help="sizes 100 and 1,000, fewer calls")
    args = parser.parse_args()
    sizes = (100, 1_000) if args.quick else (100, 10_000)
    rounds, calls = (3, 10) if args.quick else (args.rounds, args.calls)
    print(f"# median per call; ratio = ours / the SDK's own session; {rounds} x {calls} calls")
    with tempfile.TemporaryDirectory() as tmp:
        for driver in args.drivers.split(","):
            for size in sizes:
                await bench(driver, size, rounds, calls, Path(tmp))


if __name__ == "__main__":
    asyncio.run(main())
