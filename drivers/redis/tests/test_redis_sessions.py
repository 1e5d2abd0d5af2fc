"""Session documents on a real server: appends, forks, edits, deletes, listing."""

from __future__ import annotations

from datetime import UTC

import pytest
import redis

from unistore.errors import (
    SessionConflictError,
    SessionExistsError,
    SessionNotFoundError,
    ValidationError,
)
from unistore_redis import RedisStore

pytestmark = pytest.mark.redis


def msgs(*names: str) -> list[str]:
    return [f'{{"m": "{name}"}}' for name in names]


async def test_create_append_read(store: RedisStore) -> None:
    record = await store.create_session("s", label="first", metadata={"k": [1, 2]})
    assert (record.id, record.label, record.metadata, record.message_count) == (
        "s",
        "first",
        {"k": [1, 2]},
        0,
    )
    assert record.created_at.tzinfo is UTC
    with pytest.raises(SessionExistsError):
        await store.create_session("s")
    assert await store.append_messages("s", msgs("a", "b"), expected_length=0) == 2
    appended = await store.get_session("s")
    assert appended is not None
    assert appended.message_count == 2
    assert appended.updated_at > appended.created_at
    with pytest.raises(SessionConflictError) as info:
        await store.append_messages("s", msgs("c"), expected_length=1)
    assert (info.value.expected, info.value.actual) == (1, 2)
    await store.append_messages("s", msgs("c"), expected_length=2, label="renamed")
    assert await store.read_messages("s") == msgs("a", "b", "c")
    assert await store.read_messages("s", last=2) == msgs("b", "c")
    assert await store.read_messages("s", last=0) == []
    assert await store.read_messages("s", last=10) == msgs("a", "b", "c")
    stored = await store.get_session("s")
    assert stored is not None
    assert stored.label == "renamed"
    with pytest.raises(SessionNotFoundError):
        await store.read_messages("missing")
    with pytest.raises(SessionNotFoundError):
        await store.append_messages("missing", msgs("x"), expected_length=0)
    assert await store.get_session("missing") is None


async def test_replace_messages(store: RedisStore) -> None:
    await store.create_session("s")
    await store.append_messages("s", msgs("a", "b", "c"), expected_length=0)
    assert await store.replace_messages("s", 1, msgs("x", "y"), expected_length=3) == 3
    assert await store.read_messages("s") == msgs("a", "x", "y")
    await store.replace_messages("s", 0, [], expected_length=3)
    assert await store.read_messages("s") == []
    with pytest.raises(ValidationError):
        await store.replace_messages("s", 5, [], expected_length=0)


async def test_fork_reads_parent_prefix_and_own_messages(store: RedisStore) -> None:
    await store.create_session("p")
    await store.append_messages("p", msgs("1", "2", "3"), expected_length=0)
    child = await store.fork_session("p", "c", at=2, label="child")
    assert (child.parent_id, child.fork_point, child.message_count) == ("p", 2, 2)
    await store.append_messages("c", msgs("c3"), expected_length=2)
    grandchild = await store.fork_session("c", "g")
    assert grandchild.fork_point == 3
    await store.append_messages("g", msgs("g4"), expected_length=3)
    assert await store.read_messages("g") == msgs("1", "2", "c3", "g4")
    assert await store.read_messages("g", last=3) == msgs("2", "c3", "g4")
    await store.append_messages("p", msgs("4"), expected_length=3)
    assert await store.read_messages("c") == msgs("1", "2", "c3")
    with pytest.raises(ValidationError):
        await store.fork_session("p", "bad", at=99)
    with pytest.raises(SessionNotFoundError):
        await store.fork_session("missing", "x")
    with pytest.raises(SessionExistsError):
        await store.fork_session("p", "c")


async def test_fork_is_a_pointer(store: RedisStore, raw: redis.Redis) -> None:
    await store.create_session("p")
    await store.append_messages("p", msgs(*map(str, range(50))), expected_length=0)
    await store.fork_session("p", "c")
    layout = await store._layout()
    stem = layout.stem("c", "")
    assert raw.hget(stem + b":r", "base") == layout.stem("p", "")
    assert raw.llen(stem + b":m:" + raw.hget(stem + b":r", "g")) == 0


async def test_deleting_parent_keeps_forks(store: RedisStore) -> None:
    await store.create_session("p")
    await store.append_messages("p", msgs("1", "2", "3"), expected_length=0)
    await store.fork_session("p", "c", at=2)
    await store.append_messages("c", msgs("c3"), expected_length=2)
    await store.fork_session("c", "g", at=2)
    before = {sid: await store.read_messages(sid) for sid in ("c", "g")}
    assert await store.delete_session("p") is True
    assert await store.delete_session("p") is False
    assert {sid: await store.read_messages(sid) for sid in ("c", "g")} == before
    record = await store.get_session("c")
    assert record is not None
    assert (record.parent_id, record.fork_point) == ("p", 2)
    assert await store.delete_session("c") is True
    assert await store.read_messages("g") == before["g"]


async def test_editing_parent_under_forks_starts_a_generation(
    store: RedisStore, raw: redis.Redis
) -> None:
    await store.create_session("p")
    await store.append_messages("p", msgs("1", "2", "3", "4"), expected_length=0)
    await store.fork_session("p", "early", at=1)
    await store.fork_session("p", "late", at=4)
    layout = await store._layout()
    parent = layout.stem("p", "")
    before = raw.hget(parent + b":r", "g")
    await store.replace_messages("p", 2, msgs("x"), expected_length=4)
    assert await store.read_messages("p") == msgs("1", "2", "x")
    assert await store.read_messages("early") == msgs("1")
    assert await store.read_messages("late") == msgs("1", "2", "3", "4")
    # The forks were not copied: they still read the generation they pinned.
    for fork in ("early", "late"):
        record = raw.hgetall(layout.stem(fork, "") + b":r")
        assert (record[b"base"], record[b"bg"]) == (parent, before)
    assert raw.hget(parent + b":r", "g") != before
    assert raw.lrange(parent + b":m:" + before, 0, -1) == [m.encode() for m in msgs(*"1234")]


async def test_editing_a_fork_inside_its_shared_prefix(store: RedisStore) -> None:
    await store.create_session("p")
    await store.append_messages("p", msgs("1", "2", "3"), expected_length=0)
    await store.fork_session("p", "c")
    await store.replace_messages("c", 1, msgs("c2"), expected_length=3)
    assert await store.read_messages("c") == msgs("1", "c2")
    assert await store.read_messages("p") == msgs("1", "2", "3")
    await store.replace_messages("c", 0, msgs("new"), expected_length=2)
    assert await store.read_messages("c") == msgs("new")
    await store.delete_session("p")
    assert await store.read_messages("c") == msgs("new")


async def test_listing_newest_first_with_cursor(store: RedisStore) -> None:
    for i in range(7):
        await store.create_session(f"s{i}")
    await store.update_session("s2", label="bumped")
    seen: list[str] = []
    cursor = None
    while True:
        page = await store.list_sessions(limit=3, cursor=cursor)
        seen.extend(record.id for record in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ["s2", "s6", "s5", "s4", "s3", "s1", "s0"]
    with pytest.raises(ValidationError):
        await store.list_sessions(cursor="not a cursor")
    with pytest.raises(ValidationError):
        await store.list_sessions(limit=0)


async def test_listing_reads_no_messages(
    private_store: RedisStore, private_raw: redis.Redis
) -> None:
    for i in range(5):
        await private_store.create_session(f"s{i}")
        await private_store.append_messages(f"s{i}", msgs("a"), expected_length=0)
    private_raw.config_resetstat()
    page = await private_store.list_sessions(limit=3)
    assert len(page.items) == 3
    counts = private_raw.info("commandstats")
    assert not any(name in counts for name in ("cmdstat_lrange", "cmdstat_llen"))


async def test_update_and_metadata_validation(store: RedisStore) -> None:
    await store.create_session("s", label="a", metadata={"x": 1})
    record = await store.update_session("s", metadata={"y": 2})
    assert (record.label, record.metadata) == ("a", {"y": 2})
    with pytest.raises(ValidationError):
        await store.update_session("s", metadata={"bad": object()})
    with pytest.raises(SessionNotFoundError):
        await store.update_session("missing", label="x")


@pytest.mark.parametrize(
    "sid", ["*", "{tag}", "a:b", "%2F", "\x00", "../x", "", "\ud800", "é" * 300]
)
async def test_hostile_session_ids_stay_apart(store: RedisStore, sid: str) -> None:
    await store.create_session(sid, label=sid)
    await store.create_session(sid + "x")
    await store.append_messages(sid, msgs("mine"), expected_length=0)
    assert await store.read_messages(sid + "x") == []
    record = await store.get_session(sid)
    assert record is not None
    assert (record.id, record.label) == (sid, sid)
    ids = {r.id for r in (await store.list_sessions()).items}
    assert ids == {sid, sid + "x"}
    assert await store.delete_session(sid)
    assert await store.get_session(sid + "x") is not None
