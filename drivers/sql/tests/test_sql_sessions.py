"""Session documents as stored: rows appended, forks as rows, materialisation, paging."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import text

from unistore.errors import SessionConflictError, ValidationError
from unistore_sql import SQLStore


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


async def rows(store: SQLStore, sql: str, **params: Any) -> list[Any]:
    async with store.engine.connect() as conn:
        result = await conn.execute(text(sql.format(p=store.table_prefix)), params)
        return list(result.all())


async def message_rows(store: SQLStore, session_id: str) -> list[int]:
    found = await rows(
        store, "SELECT seq FROM {p}messages WHERE sid_key = :k ORDER BY seq", k=digest(session_id)
    )
    return [r.seq for r in found]


async def storage(store: SQLStore, session_id: str) -> tuple[bytes | None, int]:
    (row,) = await rows(
        store,
        "SELECT base_key, own_start FROM {p}sessions WHERE sid_key = :k",
        k=digest(session_id),
    )
    return (None if row.base_key is None else bytes(row.base_key)), row.own_start


def msgs(*names: str) -> list[str]:
    return [f'"{name}"' for name in names]


async def test_append_writes_only_the_new_rows(store: SQLStore) -> None:
    await store.create_session("s")
    await store.append_messages("s", msgs("a", "b"), expected_length=0)
    await store.append_messages("s", msgs("c"), expected_length=2)
    assert await message_rows(store, "s") == [0, 1, 2]
    with pytest.raises(SessionConflictError) as info:
        await store.append_messages("s", msgs("x"), expected_length=2)
    assert (info.value.expected, info.value.actual) == (2, 3)
    assert await message_rows(store, "s") == [0, 1, 2]


async def test_fork_is_one_row_and_copies_nothing(store: SQLStore) -> None:
    await store.create_session("p")
    await store.append_messages("p", msgs("a", "b", "c"), expected_length=0)
    record = await store.fork_session("p", "c", at=2)
    assert (record.parent_id, record.fork_point, record.message_count) == ("p", 2, 2)
    assert await message_rows(store, "c") == []
    assert await storage(store, "c") == (digest("p"), 2)
    await store.append_messages("c", msgs("x"), expected_length=2)
    assert await message_rows(store, "c") == [2]
    assert await store.read_messages("c") == msgs("a", "b", "x")


async def test_delete_materialises_every_fork(store: SQLStore) -> None:
    await store.create_session("root")
    await store.append_messages("root", msgs("r0", "r1"), expected_length=0)
    await store.fork_session("root", "p")
    await store.append_messages("p", msgs("p2", "p3"), expected_length=2)
    await store.fork_session("p", "c1", at=3)
    await store.fork_session("p", "c2", at=0)
    await store.append_messages("c1", msgs("c3"), expected_length=3)
    before = await store.read_messages("c1")
    assert before == msgs("r0", "r1", "p2", "c3")
    assert await store.delete_session("p")
    assert await store.read_messages("c1") == before
    assert await message_rows(store, "c1") == [0, 1, 2, 3]
    assert await storage(store, "c1") == (None, 0)
    record = await store.get_session("c1")
    assert record is not None
    assert (record.parent_id, record.fork_point) == ("p", 3)
    assert await store.read_messages("c2") == []
    assert await message_rows(store, "p") == []
    assert not await store.delete_session("p")


async def test_edit_below_a_fork_point_materialises_only_that_fork(store: SQLStore) -> None:
    await store.create_session("p")
    await store.append_messages("p", msgs("a", "b", "c", "d"), expected_length=0)
    await store.fork_session("p", "early", at=1)
    await store.fork_session("p", "late", at=3)
    await store.replace_messages("p", 2, msgs("B"), expected_length=4)
    assert await store.read_messages("p") == msgs("a", "b", "B")
    assert await store.read_messages("late") == msgs("a", "b", "c")
    assert await storage(store, "late") == (None, 0)
    assert await storage(store, "early") == (digest("p"), 1)  # still shared: untouched
    assert await store.read_messages("early") == msgs("a")


async def test_fork_edited_below_its_fork_point_keeps_its_base(store: SQLStore) -> None:
    await store.create_session("p")
    await store.append_messages("p", msgs("a", "b", "c"), expected_length=0)
    await store.fork_session("p", "c")
    await store.replace_messages("c", 1, msgs("X"), expected_length=3)
    assert await store.read_messages("c") == msgs("a", "X")
    assert await storage(store, "c") == (digest("p"), 1)
    await store.replace_messages("c", 0, msgs("Y"), expected_length=2)
    assert await storage(store, "c") == (None, 0)
    assert await store.read_messages("c") == msgs("Y")
    assert await store.read_messages("p") == msgs("a", "b", "c")


async def test_read_last_walks_only_what_it_needs(store: SQLStore) -> None:
    await store.create_session("p")
    await store.append_messages("p", msgs(*"abcdef"), expected_length=0)
    await store.fork_session("p", "c", at=4)
    await store.append_messages("c", msgs("x", "y"), expected_length=4)
    assert await store.read_messages("c", last=3) == msgs("d", "x", "y")
    assert await store.read_messages("c", last=0) == []
    assert await store.read_messages("c", last=100) == msgs("a", "b", "c", "d", "x", "y")
    with pytest.raises(ValidationError):
        await store.read_messages("c", last=-1)


async def test_listing_pages_by_keyset_through_the_index(store: SQLStore, statements: Any) -> None:
    for i in range(7):
        await store.create_session(f"s{i}")
    seen: list[str] = []
    cursor = None
    while True:
        page = await store.list_sessions(limit=3, cursor=cursor)
        seen.extend(r.id for r in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"s{i}" for i in reversed(range(7))]
    with pytest.raises(ValidationError):
        await store.list_sessions(cursor="not a cursor")
    statements.start()
    await store.list_sessions(limit=3, cursor=cursor)
    statements.stop()
    (executed,) = statements.data()
    assert f"ix_{store.table_prefix}sessions_scope" in await statements.plan(executed)


async def test_listing_breaks_timestamp_ties_by_id(store: SQLStore) -> None:
    for name in ("b", "a", "c\x00", "é"):
        await store.create_session(name)
    await rows(store, "SELECT 1")  # tables exist
    async with store.engine.begin() as conn:
        await conn.execute(text(f"UPDATE {store.table_prefix}sessions SET updated_us = 5"))
    first = await store.list_sessions(limit=2)
    second = await store.list_sessions(limit=2, cursor=first.next_cursor)
    assert [r.id for r in first.items + second.items] == ["é", "c\x00", "b", "a"]
    assert second.next_cursor is None


async def test_updates_bump_updated_at_strictly(store: SQLStore) -> None:
    first = await store.create_session("s")
    second = await store.update_session("s", label="L")
    assert await store.append_messages("s", msgs("a"), expected_length=0) == 1
    third = await store.get_session("s")
    assert third is not None
    assert first.updated_at < second.updated_at < third.updated_at
    assert third.created_at == first.created_at
    assert third.label == "L"


async def test_messages_the_database_cannot_hold_are_refused_before_writing(
    store: SQLStore, backend: str
) -> None:
    await store.create_session("s")
    with pytest.raises(ValidationError, match="surrogate"):
        await store.append_messages("s", ['"ok"', '"\ud800"'], expected_length=0)
    with pytest.raises(ValidationError, match="surrogate"):
        await store.replace_messages("s", 0, ['"\udfff"'], expected_length=0)
    if backend == "postgresql":
        with pytest.raises(ValidationError, match="NUL"):
            await store.append_messages("s", ['"a\x00b"'], expected_length=0)
    assert await store.read_messages("s") == []


@pytest.mark.parametrize("stamp", [-1, 2**63, 10**30, True, 1.5])
async def test_cursor_out_of_range_is_a_validation_error(store: SQLStore, stamp: object) -> None:
    raw = json.dumps([1, stamp, b"s".hex()]).encode()
    with pytest.raises(ValidationError, match="cursor"):
        await store.list_sessions(cursor=base64.urlsafe_b64encode(raw).decode())


@pytest.mark.parametrize(
    ("call", "what"),
    [
        # The SDK refuses a bool start before the driver sees it ("start must be an int").
        (lambda s: s.replace_messages("s", True, ['"x"'], expected_length=1), "start"),
        (lambda s: s.replace_messages("s", 2**40, [], expected_length=1), "replace start"),
        (lambda s: s.append_messages("s", [], expected_length=2**40), "expected_length"),
        (lambda s: s.replace_messages("s", 0, [], expected_length=2**31), "expected_length"),
    ],
)
async def test_positions_are_checked_before_the_database_sees_them(
    store: SQLStore, call: Any, what: str
) -> None:
    await store.create_session("s")
    await store.append_messages("s", msgs("a"), expected_length=0)
    with pytest.raises(ValidationError, match=what):
        await call(store)
    assert await store.read_messages("s") == msgs("a")


async def test_pop_below_fork_points_changes_no_other_session(store: SQLStore) -> None:
    await store.create_session("p")
    await store.append_messages("p", msgs("a", "b", "c", "d"))
    await store.fork_session("p", "c1", at=3)
    await store.fork_session("p", "c2", at=3)
    await store.append_messages("c1", msgs("x"))
    # c1 drops its own row and two messages it shares with p: it keeps p as its base.
    assert await store.pop_messages("c1", 3) == msgs("b", "c", "x")
    assert await store.read_messages("c1") == msgs("a")
    assert await storage(store, "c1") == (digest("p"), 1)
    assert await message_rows(store, "c1") == []
    assert await store.read_messages("p") == msgs("a", "b", "c", "d")
    assert await store.read_messages("c2") == msgs("a", "b", "c")
    # A fork of c1 shares c1's one message; popping it gives that fork its own copy.
    await store.fork_session("c1", "g")
    assert await store.pop_messages("c1", 5) == msgs("a")
    assert await storage(store, "c1") == (None, 0)
    assert await store.read_messages("g") == msgs("a")
    assert await message_rows(store, "g") == [0]
    assert await store.pop_messages("c1") == []
    # Popping the parent materialises the forks that share what goes.
    assert await store.pop_messages("p", 2) == msgs("c", "d")
    assert await store.read_messages("c2") == msgs("a", "b", "c")
    assert await message_rows(store, "c2") == [0, 1, 2]
    assert await store.read_messages("p") == msgs("a", "b")
    record = await store.get_session("p")
    assert record is not None
    assert record.message_count == 2


async def test_pop_with_a_stale_length_changes_nothing(store: SQLStore) -> None:
    await store.create_session("s")
    await store.append_messages("s", msgs("a", "b"))
    with pytest.raises(SessionConflictError) as info:
        await store.pop_messages("s", expected_length=3)
    assert (info.value.expected, info.value.actual) == (3, 2)
    assert await store.pop_messages("s", expected_length=2) == msgs("b")
    assert await message_rows(store, "s") == [0]
