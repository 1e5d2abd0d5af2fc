"""Session retention as stored: deadlines, invisibility, the sweep and its forks."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from unistore.errors import SessionNotFoundError
from unistore.testing import ManualClock
from unistore_sql import SQLStore


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


async def rows(store: SQLStore, sql: str, **params: Any) -> list[Any]:
    async with store.engine.connect() as conn:
        result = await conn.execute(text(sql.format(p=store.table_prefix)), params)
        return list(result.all())


async def count(store: SQLStore, table: str, session_id: str) -> int:
    found = await rows(
        store, f"SELECT count(*) AS n FROM {{p}}{table} WHERE sid_key = :k", k=digest(session_id)
    )
    return int(found[0].n)


#: Stamps run ahead of the clock by a microsecond per write in the same instant.
SLACK = timedelta(milliseconds=1)


def msgs(*names: str) -> list[str]:
    return [f'"{name}"' for name in names]


async def test_every_write_slides_the_deadline_and_reads_do_not(
    timed_store: SQLStore, manual_clock: ManualClock
) -> None:
    store = timed_store
    created = await store.create_session("s", ttl=10)
    assert created.ttl == 10
    assert created.expires_at is not None
    assert abs(created.expires_at - created.updated_at - timedelta(seconds=10)) < SLACK
    writes = [
        lambda: store.append_messages("s", msgs("a")),
        lambda: store.append_messages("s", msgs("b"), expected_length=1, token="t"),
        lambda: store.replace_messages("s", 1, msgs("B"), expected_length=2),
        lambda: store.pop_messages("s"),
        lambda: store.update_session("s", label="L"),
    ]
    for write in writes:
        manual_clock.advance(8)
        await write()
        record = await store.get_session("s")
        assert record is not None
        assert record.ttl == 10
        assert record.expires_at is not None
        assert abs(record.expires_at - record.updated_at - timedelta(seconds=10)) < SLACK
    for _ in range(3):
        manual_clock.advance(3)
        assert await store.read_messages("s") == msgs("a")
        assert [r.id for r in (await store.list_sessions()).items] == ["s"]
    manual_clock.advance(1.5)
    assert await store.get_session("s") is None


async def test_an_expired_session_is_gone_everywhere_until_swept(
    timed_store: SQLStore, manual_clock: ManualClock
) -> None:
    store = timed_store
    await store.create_session("s", ttl=5, scope="app")
    await store.append_messages("s", msgs("a", "b"), token="t", scope="app")
    await store.create_session("kept")
    manual_clock.advance(5)
    assert await store.get_session("s", scope="app") is None
    for call in (
        lambda: store.read_messages("s", scope="app"),
        lambda: store.append_messages("s", msgs("c"), scope="app"),
        lambda: store.append_messages("s", msgs("c"), token="t", scope="app"),
        lambda: store.replace_messages("s", 0, [], expected_length=2, scope="app"),
        lambda: store.pop_messages("s", scope="app"),
        lambda: store.update_session("s", label="x", scope="app"),
        lambda: store.fork_session("s", "f", scope="app"),
    ):
        with pytest.raises(SessionNotFoundError):
            await call()
    assert (await store.list_sessions(scope="app")).items == []
    assert [s async for s in store.iter_scopes()] == [None]
    # Still stored: reclaimed by the sweep, in one batch with the messages and tokens.
    assert len(await rows(store, "SELECT sid FROM {p}sessions WHERE scope = :s", s=b"app")) == 1
    assert await store.sweep() == 1
    assert await rows(store, "SELECT sid FROM {p}sessions WHERE scope = :s", s=b"app") == []
    assert await rows(store, "SELECT seq FROM {p}messages") == []
    assert await rows(store, "SELECT token FROM {p}tokens") == []
    assert await store.get_session("kept") is not None


async def test_the_sweep_materialises_what_forks_share(
    timed_store: SQLStore, manual_clock: ManualClock
) -> None:
    store = timed_store
    await store.create_session("p", ttl=10)
    await store.append_messages("p", msgs("a", "b", "c"))
    await store.fork_session("p", "child", at=2)
    await store.append_messages("child", msgs("x"))
    await store.fork_session("child", "grandchild")
    forked = await store.fork_session("p", "short", ttl=3)
    assert forked.ttl == 3
    manual_clock.advance(11)
    assert await store.get_session("p") is None
    assert await store.get_session("short") is None
    # Before the sweep the forks still read their prefix from the expired parent ...
    assert await store.read_messages("child") == msgs("a", "b", "x")
    assert await store.read_messages("grandchild") == msgs("a", "b", "x")
    assert await count(store, "messages", "child") == 1
    assert await store.sweep() == 2
    # ... and after it from their own copy.
    assert await count(store, "messages", "child") == 3
    assert await count(store, "messages", "p") == 0
    assert await store.read_messages("child") == msgs("a", "b", "x")
    assert await store.read_messages("grandchild") == msgs("a", "b", "x")
    record = await store.get_session("child")
    assert record is not None
    assert (record.parent_id, record.fork_point) == ("p", 2)
    assert record.ttl is None
    assert record.expires_at is None


async def test_the_sweep_is_bounded(timed_store: SQLStore, manual_clock: ManualClock) -> None:
    from unistore_sql._session_sql import SWEEP_BATCH

    store = timed_store
    for i in range(SWEEP_BATCH + 5):
        await store.create_session(f"s{i}", ttl=1)
    await store.create_session("lasting")
    manual_clock.advance(2)
    assert await store.sweep() == SWEEP_BATCH
    assert await store.sweep() == 5
    assert await store.sweep() == 0
    assert [r.sid for r in await rows(store, "SELECT sid FROM {p}sessions")] == [b"lasting"]


async def test_an_expired_id_is_free_again(
    timed_store: SQLStore, manual_clock: ManualClock
) -> None:
    store = timed_store
    await store.create_session("s", ttl=1, label="old")
    await store.append_messages("s", msgs("old"), token="t")
    await store.fork_session("s", "f")
    await store.create_session("g", ttl=1)
    manual_clock.advance(1)
    created = await store.create_session("s", label="new")
    assert (created.label, created.message_count, created.ttl) == ("new", 0, None)
    assert await store.read_messages("s") == []
    # The old session's token went with it; its fork kept what it shared.
    assert await store.append_messages("s", msgs("new"), token="t") == 1
    assert await store.read_messages("f") == msgs("old")
    forked = await store.fork_session("s", "g")
    assert forked.parent_id == "s"
    assert await store.read_messages("g") == msgs("new")


async def test_a_session_without_ttl_never_expires(
    timed_store: SQLStore, manual_clock: ManualClock
) -> None:
    store = timed_store
    await store.create_session("s")
    await store.append_messages("s", msgs("a"))
    manual_clock.advance(10**9)
    assert await store.sweep() == 0
    record = await store.get_session("s")
    assert record is not None
    assert record.ttl is None
    assert record.expires_at is None
    assert await store.read_messages("s") == msgs("a")
