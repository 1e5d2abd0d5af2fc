"""Stores written in the layout before buckets: moved on first use, every result kept."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import redis

import unistore
from unistore import StoreURL
from unistore_redis import RedisStore
from unistore_redis._migrate import migrate

pytestmark = pytest.mark.redis

SCOPES = [None, "team:{a}", "*"]


def _old_layout() -> ModuleType:
    # Test modules import as files (importlib mode): load the helper the same way.
    path = Path(__file__).with_name("old_layout.py")
    spec = importlib.util.spec_from_file_location("unistore_redis_old_layout", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OLD = _old_layout()


def msgs(*names: str) -> list[str]:
    return [json.dumps({"m": name}) for name in names]


@pytest.fixture
async def old_store(url: str, prefix: str) -> AsyncIterator[Any]:
    store = OLD.OldLayoutStore(StoreURL.parse(url), {"key_prefix": prefix})
    async with store:
        yield store


@pytest.fixture
async def new_store(url: str, prefix: str) -> AsyncIterator[RedisStore]:
    opened = unistore.connect(url, key_prefix=prefix)
    assert isinstance(opened, RedisStore)
    async with opened:
        try:
            yield opened
        finally:
            await opened.destroy()


async def _write_old(store: Any) -> list[tuple[str | None, str]]:
    """Sessions with forks, edits, pops, tokens, labels, metadata and TTLs, per scope."""
    written = []
    for scope in SCOPES:
        await store.create_session("p", scope=scope, label="parent", metadata={"k": [1]})
        await store.append_messages("p", msgs("1", "2", "3", "4"), scope=scope, token="t1")
        await store.fork_session("p", "early", scope=scope, at=1, label="e")
        await store.fork_session("p", "late", scope=scope, ttl=3600)
        await store.append_messages("late", msgs("l5"), scope=scope, token="t2")
        await store.fork_session("late", "deep", scope=scope, at=3)
        await store.append_messages("deep", msgs("d4", "d5"), scope=scope)
        # An edit and a pop of a parent the old layout answered by copying into forks.
        await store.replace_messages("p", 2, msgs("x"), expected_length=4, scope=scope)
        await store.pop_messages("late", 1, scope=scope)
        await store.create_session("ttl", scope=scope, ttl=3600)
        await store.update_session("ttl", label="renamed", scope=scope)
        written += [(scope, sid) for sid in ("p", "early", "late", "deep", "ttl")]
    return written


async def _snapshot(store: Any, sessions: list[tuple[str | None, str]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for scope, sid in sessions:
        seen[f"{scope}|{sid}"] = (
            await store.get_session(sid, scope=scope),
            await store.read_messages(sid, scope=scope),
            await store.read_messages(sid, scope=scope, last=2),
        )
    for scope in SCOPES:
        pages, cursor = [], None
        while True:
            page = await store.list_sessions(limit=2, cursor=cursor, scope=scope)
            pages.append([record.id for record in page.items])
            cursor = page.next_cursor
            if cursor is None:
                break
        seen[f"list|{scope}"] = pages
    seen["scopes"] = sorted([s async for s in store.iter_scopes()], key=str)
    return seen


def _old_keys(raw: redis.Redis, prefix: str) -> list[bytes]:
    return list(raw.scan_iter(match=prefix.encode() + b":{:sessions}*", count=1000))


async def test_old_sessions_move_on_first_use_and_read_the_same(
    old_store: Any, new_store: RedisStore, raw: redis.Redis, prefix: str
) -> None:
    sessions = await _write_old(old_store)
    before = await _snapshot(old_store, sessions)
    assert _old_keys(raw, prefix)
    after = await _snapshot(new_store, sessions)
    assert after == before
    assert _old_keys(raw, prefix) == []
    for scope in SCOPES:
        # Tokens came along: a retry of a write that landed changes nothing.
        assert await new_store.append_messages("p", msgs("again"), scope=scope, token="t1") == 4
        assert await new_store.append_messages("late", msgs("l"), scope=scope, token="t2") == 5
        # The forks' shared prefixes are pins now: edits of the bases leave them be.
        await new_store.replace_messages("late", 0, msgs("z"), expected_length=4, scope=scope)
        await new_store.delete_session("p", scope=scope)
        assert await new_store.read_messages("early", scope=scope) == msgs("1")
        assert await new_store.read_messages("deep", scope=scope) == msgs("1", "2", "3", "d4", "d5")
        record = await new_store.get_session("deep", scope=scope)
        assert record is not None
        assert (record.parent_id, record.fork_point) == ("late", 3)
    assert await migrate(new_store) == 0  # nothing left to move


async def test_migrate_is_resumable_and_safe_to_run_twice(
    old_store: Any, url: str, prefix: str, raw: redis.Redis
) -> None:
    sessions = await _write_old(old_store)
    before = await _snapshot(old_store, sessions)
    stores = [unistore.connect(url, key_prefix=prefix) for _ in range(2)]
    try:
        for store in stores:
            await store.__aenter__()
        assert isinstance(stores[0], RedisStore)
        assert isinstance(stores[1], RedisStore)
        # Two movers at once (a second process, a resumed run): each session moves once.
        moved = await asyncio.gather(migrate(stores[0]), migrate(stores[1]))
        assert sum(moved) == len(sessions)
        assert await migrate(stores[0]) == 0
        assert _old_keys(raw, prefix) == []
        assert await _snapshot(stores[1], sessions) == before
    finally:
        await stores[0].destroy()
        for store in stores:
            await store.aclose()


def test_the_migrate_command_moves_old_sessions_once(url: str, prefix: str) -> None:
    from click.testing import CliRunner

    from unistore._cli._app import cli

    async def write() -> list[tuple[str | None, str]]:
        async with OLD.OldLayoutStore(StoreURL.parse(url), {"key_prefix": prefix}) as old:
            return await _write_old(old)

    async def read(written: list[tuple[str | None, str]]) -> dict[tuple[str | None, str], Any]:
        async with unistore.connect(url, key_prefix=prefix) as store:
            try:
                return {
                    (scope, sid): await store.read_messages(sid, scope=scope)
                    for scope, sid in written
                }
            finally:
                await store.destroy()  # type: ignore[attr-defined]

    written = asyncio.run(write())
    target = StoreURL.parse(url).with_options(key_prefix=prefix).render(hide_secrets=False)
    first = CliRunner().invoke(cli, ["migrate", target])
    assert first.exit_code == 0, first.output
    assert f"moved {len(written)} session(s)" in first.output
    again = CliRunner().invoke(cli, ["migrate", "--json", target])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output) == {"driver": "redis", "migrates": True, "moved": 0}
    contents = asyncio.run(read(written))
    assert contents[(None, "deep")] == msgs("1", "2", "3", "d4", "d5")
    assert contents[(None, "p")] == msgs("1", "2", "x")
