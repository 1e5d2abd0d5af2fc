"""Benchmark of the ADK session service against ADK's DatabaseSessionService.

Per-operation latency of ``append_event`` and of
``get_session(num_recent_events=20)``, on a session already holding 100 and
10,000 events, for:

* ``UnistoreSessionService("sqlite:///...")`` against
  ``DatabaseSessionService("sqlite+aiosqlite:///...")``, each on its own file;
* ``UnistoreSessionService("postgresql://...")`` against
  ``DatabaseSessionService("postgresql+asyncpg://...")`` on the same server
  and database (ADK's tables in a schema of their own, dropped afterwards).

Two kinds of event are appended: one whose state delta has a session key
only (the common case: an agent's ``output_key``), and one with a session, a
``user:`` and an ``app:`` key, which unistore writes in two steps (the event
with the session state, then the user's and the app's hashes side by side)
where ADK's database service writes one transaction.

Rounds interleave the two services; each figure is the median over rounds of
the mean latency of one round's operations, and the ratio is unistore / ADK
(below 1.0: unistore is faster). Both services are given a URL, as an
application would. Runtime: a few minutes (``--quick``: sizes 100 and 1,000,
fewer rounds, under a minute).

    ./dev bench adk [--quick] [--rounds 7] [--backends sqlite,postgresql]
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

import asyncpg
from _bench_stores import POSTGRES_URL, bench_store_url
from google.adk.events import Event, EventActions
from google.adk.sessions import BaseSessionService, Session
from google.adk.sessions.base_session_service import GetSessionConfig
from google.adk.sessions.database_session_service import DatabaseSessionService
from google.genai import types

import unistore
from unistore import StoreURL
from unistore.integrations.adk import UnistoreSessionService

APP = "bench"
USER = "user"
RECENT = GetSessionConfig(num_recent_events=20)
OPS_PER_ROUND = 10


def make_event(n: int, *, shared: bool = False) -> Event:
    delta: dict[str, Any] = {"turn": n}
    if shared:
        delta.update({"user:seen": n, "app:total": n})
    return Event(
        author="agent",
        invocation_id=f"inv-{n // 4}",
        content=types.Content(role="model", parts=[types.Part(text=f"reply number {n} " * 8)]),
        actions=EventActions(state_delta=delta),
    )


class Subject:
    """One service under test, with its session kept current between appends."""

    def __init__(self, name: str, service: BaseSessionService) -> None:
        self.name = name
        self.service = service
        self.session: Session | None = None
        self.count = 0

    async def prepare(self, size: int) -> None:
        self.session = await self.service.create_session(
            app_name=APP, user_id=USER, session_id=f"s-{uuid.uuid4().hex}"
        )
        await self.fill(size)

    async def fill(self, size: int) -> None:
        assert self.session is not None
        while self.count < size:
            await self.service.append_event(self.session, make_event(self.count))
            self.count += 1

    async def append(self) -> None:
        assert self.session is not None
        await self.service.append_event(self.session, make_event(self.count))
        self.count += 1

    async def append_shared(self) -> None:
        assert self.session is not None
        await self.service.append_event(self.session, make_event(self.count, shared=True))
        self.count += 1

    async def recent(self) -> None:
        assert self.session is not None
        got = await self.service.get_session(
            app_name=APP, user_id=USER, session_id=self.session.id, config=RECENT
        )
        assert got is not None
        assert len(got.events) == 20


async def timed(op: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    for _ in range(OPS_PER_ROUND):
        await op()
    return (time.perf_counter() - start) / OPS_PER_ROUND


async def compare(backend: str, size: int, ours: Subject, theirs: Subject, rounds: int) -> None:
    for subject in (ours, theirs):
        await subject.prepare(size)
    results: dict[tuple[str, str], list[float]] = {}
    labels = ("append_event", "append_event +user/app", "get_session(last 20)")
    for _ in range(rounds):
        for subject in (ours, theirs):
            ops = (subject.append, subject.append_shared, subject.recent)
            for label, op in zip(labels, ops, strict=True):
                results.setdefault((subject.name, label), []).append(await timed(op))
    for label in labels:
        mine = statistics.median(results[(ours.name, label)])
        adk = statistics.median(results[(theirs.name, label)])
        print(
            f"{backend:<11} {size:>6} events  {label:<23} unistore {mine * 1e3:7.2f} ms"
            f"   DatabaseSessionService {adk * 1e3:7.2f} ms   ratio {mine / adk:5.2f}x"
        )


def adk_postgres_dsn() -> str:
    """The benchmark's PostgreSQL server and database, as a plain DSN."""
    parsed = StoreURL.parse(POSTGRES_URL)
    auth = parsed.username or "postgres"
    if parsed.password:
        auth += f":{parsed.password}"
    return f"postgresql://{auth}@{parsed.host}:{parsed.port or 5432}{parsed.path}"


async def run_sql(sql: str) -> None:
    conn = await asyncpg.connect(adk_postgres_dsn())
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def bench_backend(backend: str, tmp: Path, sizes: list[int], rounds: int) -> None:
    url = bench_store_url(backend, tmp)
    if url is None:
        return
    schema = f"adk_bench_{uuid.uuid4().hex[:10]}"
    adk_kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        adk_url = f"sqlite+aiosqlite:///{tmp / 'adk.db'}"
    else:
        adk_url = adk_postgres_dsn().replace("postgresql://", "postgresql+asyncpg://", 1)
        adk_kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
        await run_sql(f'CREATE SCHEMA "{schema}"')
    ours_service = UnistoreSessionService(url)
    theirs_service = DatabaseSessionService(adk_url, **adk_kwargs)
    try:
        for size in sizes:
            ours = Subject("unistore", ours_service)
            theirs = Subject("adk", theirs_service)
            await compare(backend, size, ours, theirs, rounds)
    finally:
        await ours_service.close()
        await theirs_service.close()
        if backend == "postgresql":
            async with unistore.connect(url) as store:
                await store.destroy()  # type: ignore[attr-defined]
            await run_sql(f'DROP SCHEMA "{schema}" CASCADE')


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--quick", action="store_true", help="sizes 100 and 1,000, 3 rounds")
    args = parser.parse_args()
    sizes = [100, 1_000] if args.quick else [100, 10_000]
    rounds = 3 if args.quick else args.rounds
    print(f"# {OPS_PER_ROUND} operations a round, {rounds} rounds, medians of round means")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            await bench_backend(backend, Path(tmp), sizes, rounds)


if __name__ == "__main__":
    asyncio.run(main())
