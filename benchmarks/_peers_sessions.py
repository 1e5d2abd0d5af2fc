"""Session contenders: unistore sessions against the OpenAI Agents SDK's own sessions.

On each backend (sqlite, postgresql, redis) both sides hold a 100-message and
a 10,000-message session, plus one that the appends grow. The measures:

* ``append one message``: ``append_messages`` on the store, ``save()`` of one
  new message through a ``SessionManager``, ``add_items([item])`` on the peer;
* ``read last 20 of 10,000`` and ``of 100``: ``read_messages(last=20)`` against
  ``get_items(20)``;
* ``create + 2 messages``: a new session holding two messages (store:
  ``create_session(messages=...)``, one write; manager: ``save()`` of a new
  conversation; peer: a new session object and its first ``add_items``).
"""

from __future__ import annotations

import inspect
import json
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from _bench_stores import POSTGRES_URL, REDIS_URL, bench_store_url
from _peers_core import Case, Contender, Op
from _peers_kv import drop_redis_keys

import unistore
from unistore import Conversation, SessionManager, StoreURL

TEXT = "Plan a weekend in Turin, please. " * 6
SMALL, LARGE = 100, 10_000
DRIVERS = ("sqlite", "postgresql", "redis")
PEER_NAMES = {"sqlite": "SQLiteSession", "postgresql": "SQLAlchemySession", "redis": "RedisSession"}


def item(n: int) -> dict[str, Any]:
    return {"role": "user" if n % 2 == 0 else "assistant", "content": f"{n}: {TEXT}"}


def encode(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


async def ours(stack: AsyncExitStack, url: str, size: int) -> dict[str, Op]:
    store: Any = unistore.connect(url)
    await stack.enter_async_context(store)
    destroy = getattr(store, "destroy", None)
    if destroy is not None:
        stack.push_async_callback(destroy)
    tag = uuid.uuid4().hex[:8]
    sids = {n: f"read-{n}-{tag}" for n in (SMALL, size)}
    for n, sid in sids.items():
        await store.create_session(sid)
        for start in range(0, n, 1000):
            chunk = [encode(item(i)) for i in range(start, min(n, start + 1000))]
            await store.append_messages(sid, chunk)
    # One session grown by the store's appends, another by the manager's saves
    # (the manager checks the length it last saw).
    appended, managed = f"append-{tag}", f"append-m-{tag}"
    for sid in (appended, managed):
        await store.create_session(sid)
        await store.append_messages(sid, [encode(item(i)) for i in range(SMALL)])
    manager = SessionManager(store, Conversation(), auto_save=False)
    stack.push_async_callback(manager.aclose)
    await manager.load(managed)

    async def append(i: int) -> None:
        await store.append_messages(appended, [encode(item(i))])

    async def append_manager(i: int) -> None:
        manager.conversation.append(item(i))
        await manager.save()

    def reader(sid: str) -> Op:
        async def read(i: int) -> None:
            await store.read_messages(sid, last=20)

        return read

    async def create(i: int) -> None:
        sid = f"new-{tag}-{i}-{uuid.uuid4().hex[:6]}"
        await store.create_session(sid, messages=[encode(item(0)), encode(item(1))])

    async def create_manager(i: int) -> None:
        async with SessionManager(store, Conversation(), auto_save=False) as fresh:
            fresh.conversation.append(item(0))
            fresh.conversation.append(item(1))
            await fresh.save()

    return {
        "append": append,
        "append (manager)": append_manager,
        "read large": reader(sids[size]),
        "read small": reader(sids[SMALL]),
        "create": create,
        "create (manager)": create_manager,
    }


async def peer(stack: AsyncExitStack, driver: str, tmp: Path) -> Any:
    """Return ``new(session_id)`` making a session of the OpenAI Agents SDK on ``driver``."""
    tag = f"p{uuid.uuid4().hex[:10]}"
    if driver == "sqlite":
        from agents import SQLiteSession

        path = tmp / "agents.db"
        opened: list[Any] = []

        def close_all() -> None:
            for session in opened:
                session.close()

        stack.callback(close_all)

        def new_sqlite(sid: str) -> Any:
            opened.append(SQLiteSession(sid, path))
            return opened[-1]

        return new_sqlite
    if driver == "redis":
        from agents.extensions.memory import RedisSession
        from redis.asyncio import Redis

        url = StoreURL.parse(REDIS_URL).render(hide_secrets=False).split("?")[0]
        client = Redis.from_url(url)
        stack.push_async_callback(drop_redis_keys, tag)
        stack.push_async_callback(client.aclose)

        def new_redis(sid: str) -> Any:
            return RedisSession(sid, redis_client=client, key_prefix=f"{tag}:agents")

        return new_redis
    from agents.extensions.memory import SQLAlchemySession
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    plain = StoreURL.parse(POSTGRES_URL).render(hide_secrets=False).split("?")[0]
    engine = create_async_engine(plain.replace("postgresql://", "postgresql+asyncpg://", 1))

    async def drop() -> None:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP TABLE IF EXISTS "{tag}_messages", "{tag}_sessions"'))
        await engine.dispose()

    stack.push_async_callback(drop)
    first = [True]

    def new_sqlalchemy(sid: str) -> Any:
        create, first[0] = first[0], False
        return SQLAlchemySession(
            sid,
            engine=engine,
            create_tables=create,
            sessions_table=f"{tag}_sessions",
            messages_table=f"{tag}_messages",
        )

    return new_sqlalchemy


async def peer_ops(new: Any, size: int) -> dict[str, Op]:
    tag = uuid.uuid4().hex[:8]
    sessions = {n: new(f"read-{n}-{tag}") for n in (SMALL, size)}
    for n, session in sessions.items():
        for start in range(0, n, 500):
            await session.add_items([item(i) for i in range(start, min(n, start + 500))])
    appended = new(f"append-{tag}")
    await appended.add_items([item(i) for i in range(SMALL)])

    async def append(i: int) -> None:
        await appended.add_items([item(i)])

    def reader(session: Any) -> Op:
        async def read(i: int) -> None:
            await session.get_items(20)

        return read

    async def create(i: int) -> None:
        fresh = new(f"new-{tag}-{i}-{uuid.uuid4().hex[:6]}")
        await fresh.add_items([item(0), item(1)])
        # SQLiteSession holds a connection per object: closing it keeps the
        # file handles bounded (the async closes of the others would close the
        # shared client).
        close = getattr(fresh, "close", None)
        if close is not None and not inspect.iscoroutinefunction(close):
            close()

    return {
        "append": append,
        "read large": reader(sessions[size]),
        "read small": reader(sessions[SMALL]),
        "create": create,
    }


async def session_cases(
    stack: AsyncExitStack, tmp: Path, notes: list[str], size: int = LARGE
) -> list[Case]:
    cases: list[Case] = []
    for driver in DRIVERS:
        folder = tmp / f"sessions-{driver}"
        folder.mkdir()
        url = bench_store_url(driver, folder)
        if url is None:
            notes.append(f"sessions on {driver}: driver missing or server not reachable, skipped")
            continue
        mine = await ours(stack, url, size)
        name = PEER_NAMES[driver]
        theirs: dict[str, Op] = {}
        try:
            theirs = await peer_ops(await peer(stack, driver, folder), size)
        except ImportError as error:
            notes.append(f"sessions on {driver}: {name} skipped, not installed ({error.name})")
        measures = [
            ("append one message", "append", ("append", "append (manager)")),
            (f"read last 20 of {size:,}", "read large", ("read large",)),
            (f"read last 20 of {SMALL}", "read small", ("read small",)),
            ("create + 2 messages", "create", ("create", "create (manager)")),
        ]
        for label, key, our_keys in measures:
            contenders = [
                Contender(
                    "unistore (manager)" if "manager" in k else "unistore (store)", mine[k], True
                )
                for k in our_keys
            ]
            if key in theirs:
                contenders.append(Contender(name, theirs[key]))
            cases.append(Case("sessions", label, 1, "ms", contenders, driver=driver))
    return cases
