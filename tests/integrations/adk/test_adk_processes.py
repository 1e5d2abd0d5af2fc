"""Two processes append events to one ADK session through the service."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

from unistore.integrations.adk import UnistoreSessionService
from unistore_test_support import destroy_url, make_store_url, require_server

# Run with exec in a spawned interpreter: nothing of the parent is inherited.
WORKER = """
import asyncio
from google.adk.errors import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.events import Event, EventActions
from google.adk.sessions.base_session_service import GetSessionConfig
from unistore.integrations.adk import UnistoreSessionService

async def work(url):
    async with UnistoreSessionService(url) as service:
        try:
            await service.create_session(app_name="app", user_id="u", session_id="shared")
        except AlreadyExistsError:
            pass
        session = await service.get_session(app_name="app", user_id="u", session_id="shared")
        # Both workers have opened this store before either appends.
        barrier.wait(60)
        for n in range(count):
            item = Event(
                id=f"w{worker}-{n}",
                author=f"w{worker}",
                actions=EventActions(state_delta={f"w{worker}": n, f"user:w{worker}": n}),
            )
            while True:
                try:
                    await service.append_event(session, item)
                    break
                except StaleSessionError:
                    # As with DatabaseSessionService: reload, then append again.
                    session = await service.get_session(
                        app_name="app", user_id="u", session_id="shared",
                        config=GetSessionConfig(num_recent_events=0),
                    )

for url in urls:
    asyncio.run(work(url))
"""

SHARED = ("sqlite", "postgresql", "redis", "file")


def test_two_processes_append_to_one_session_on_every_shared_driver(tmp_path: Path) -> None:
    from unistore_test_support import POSTGRES_URL, REDIS_URL

    require_server(REDIS_URL, "UNISTORE_TEST_REDIS_URL")
    require_server(POSTGRES_URL, "UNISTORE_TEST_POSTGRES_URL")
    urls = [make_store_url(d, tmp_path, name=d) for d in SHARED]
    count = 6
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    workers = [
        ctx.Process(
            target=exec,
            args=(
                WORKER,
                {"urls": urls, "worker": w, "count": count, "barrier": barrier},
            ),
        )
        for w in range(2)
    ]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
            assert worker.exitcode == 0
        for url in urls:
            check(url, count)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
        for url in urls:
            if url.startswith(("redis", "postgresql")):
                destroy_url(url)


def check(url: str, count: int) -> None:
    async def go() -> None:
        async with UnistoreSessionService(url) as service:
            got = await service.get_session(app_name="app", user_id="u", session_id="shared")
            assert got is not None, url
            names = [e.id for e in got.events]
            assert len(names) == 2 * count, url
            for w in range(2):
                assert [n for n in names if n.startswith(f"w{w}-")] == [
                    f"w{w}-{n}" for n in range(count)
                ], url
            last = count - 1
            assert got.state == {"w0": last, "w1": last, "user:w0": last, "user:w1": last}, url

    asyncio.run(go())
