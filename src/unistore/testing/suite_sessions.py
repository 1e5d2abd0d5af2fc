"""Conformance tests of SessionDocuments: records, message logs and listing."""

from __future__ import annotations

import asyncio
import json

import pytest

from unistore.errors import (
    SessionConflictError,
    SessionExistsError,
    SessionNotFoundError,
    ValidationError,
)
from unistore.protocols import Capability
from unistore.testing._clock import ManualClock
from unistore.testing._fixtures import SuiteFixtures
from unistore.testing._support import (
    FullStore,
    IdFactory,
    assert_utc,
    collect_sessions,
    require,
    sort_key,
)

__all__ = ["SessionsSuite"]

SESSIONS = Capability.SESSION_DOCUMENTS

#: Long enough for any clock to tick between two writes that must sort apart.
TICK = 0.02

MESSAGES = [
    json.dumps({"role": "user", "content": "hello"}),
    json.dumps({"role": "assistant", "content": 'h\u00e9llo \U0001f600 \u0000 \\n "quoted"'}),
    json.dumps({"role": "user", "content": "x" * 50_000}),
    "{}",
    json.dumps([1, 2.5, None, True, "\t"]),
]

METADATA = {
    "model": "m-1",
    "nested": {"list": [1, 2, {"deep": None}], "flag": True, "ratio": 0.25},
    "text": "\u00e9\U0001f600\n",
    "empty": {},
}


async def tick(clock: ManualClock | None) -> None:
    """Let a clock tick between two writes: the manual one and the real one.

    Both move: a driver may stamp sessions with either.
    """
    if clock is not None:
        clock.advance(TICK)
    await asyncio.sleep(TICK)


def msgs(*names: str) -> list[str]:
    """Messages with recognisable contents: ``msgs("a", "b")``."""
    return [json.dumps({"m": name}) for name in names]


class SessionsSuite(SuiteFixtures):
    """Session records and message logs (forks are in :class:`ForksSuite`)."""

    @pytest.mark.asyncio
    async def test_create_session_returns_its_record(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """A new session is empty, has UTC timestamps and the label and metadata given."""
        require(store, SESSIONS)
        sid = ids.session()
        record = await store.create_session(sid, label="My label", metadata=METADATA)
        assert record.id == sid
        assert record.label == "My label"
        assert record.parent_id is None
        assert record.fork_point is None
        assert dict(record.metadata) == METADATA
        assert record.message_count == 0
        assert_utc(record.created_at)
        assert_utc(record.updated_at)
        assert record.updated_at >= record.created_at
        assert await store.get_session(sid) == record
        assert await store.read_messages(sid) == []

    @pytest.mark.asyncio
    async def test_create_session_defaults(self, store: FullStore, ids: IdFactory) -> None:
        """Without label and metadata the record has None and an empty mapping."""
        require(store, SESSIONS)
        record = await store.create_session(ids.session())
        assert record.label is None
        assert dict(record.metadata) == {}

    @pytest.mark.asyncio
    async def test_create_existing_session_raises(self, store: FullStore, ids: IdFactory) -> None:
        """A taken id raises SessionExistsError and the stored session is unchanged."""
        require(store, SESSIONS)
        sid = ids.session()
        await store.create_session(sid, label="first")
        await store.append_messages(sid, msgs("a"), expected_length=0)
        with pytest.raises(SessionExistsError) as info:
            await store.create_session(sid, label="second")
        assert info.value.session_id == sid
        record = await store.get_session(sid)
        assert record is not None
        assert record.label == "first"
        assert await store.read_messages(sid) == msgs("a")

    @pytest.mark.asyncio
    async def test_create_session_with_first_messages(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """Messages given to create_session are the session's first: counted, read, built on."""
        require(store, SESSIONS)
        sid = ids.session()
        record = await store.create_session(sid, label="L", metadata={"k": 1}, messages=MESSAGES)
        assert record.message_count == len(MESSAGES)
        assert (record.label, dict(record.metadata)) == ("L", {"k": 1})
        assert await store.get_session(sid) == record
        assert await store.read_messages(sid) == MESSAGES
        assert await store.read_messages(sid, last=2) == MESSAGES[-2:]
        n = len(MESSAGES)
        assert await store.append_messages(sid, msgs("next"), expected_length=n) == n + 1
        assert await store.replace_messages(sid, 1, msgs("b"), expected_length=n + 1) == 2
        assert await store.read_messages(sid) == [MESSAGES[0], *msgs("b")]
        child = ids.session("-fork")
        forked = await store.fork_session(sid, child, at=1)
        assert forked.message_count == 1
        assert await store.read_messages(child) == MESSAGES[:1]
        empty = await store.create_session(ids.session("-empty"), messages=[])
        assert empty.message_count == 0

    @pytest.mark.asyncio
    async def test_create_with_messages_over_a_taken_id_writes_nothing(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """A taken id raises SessionExistsError; none of the new messages is written."""
        require(store, SESSIONS)
        sid = ids.session()
        await store.create_session(sid, label="first", messages=msgs("a"))
        with pytest.raises(SessionExistsError):
            await store.create_session(sid, label="second", messages=msgs("x", "y"))
        record = await store.get_session(sid)
        assert record is not None
        assert (record.label, record.message_count) == ("first", 1)
        assert await store.read_messages(sid) == msgs("a")
        assert await store.append_messages(sid, msgs("b")) == 2
        assert await store.read_messages(sid) == msgs("a", "b")

    @pytest.mark.asyncio
    async def test_create_with_bad_messages_creates_nothing(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """Messages that are not a list of JSON texts are refused before anything is written."""
        require(store, SESSIONS)
        sid = ids.session()
        for bad in ("not a list", [b"bytes"], ["{}", "a\x00b"], [{"role": "user"}], None):
            with pytest.raises(ValidationError):
                await store.create_session(sid, messages=bad)  # type: ignore[arg-type]
            assert await store.get_session(sid) is None

    @pytest.mark.asyncio
    async def test_get_session_of_unknown_id_is_none(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """get_session returns None; reads and writes raise SessionNotFoundError."""
        require(store, SESSIONS)
        sid = ids.session()
        assert await store.get_session(sid) is None
        with pytest.raises(SessionNotFoundError) as info:
            await store.read_messages(sid)
        assert info.value.session_id == sid
        with pytest.raises(SessionNotFoundError):
            await store.append_messages(sid, msgs("a"), expected_length=0)
        with pytest.raises(SessionNotFoundError):
            await store.replace_messages(sid, 0, msgs("a"), expected_length=0)
        with pytest.raises(SessionNotFoundError):
            await store.update_session(sid, label="x")
        assert await store.get_session(sid) is None

    @pytest.mark.asyncio
    async def test_append_messages(self, store: FullStore, ids: IdFactory) -> None:
        """Appends add to the end in order and return the new length; the record counts all."""
        require(store, SESSIONS)
        sid = ids.session()
        await store.create_session(sid)
        assert await store.append_messages(sid, MESSAGES[:2], expected_length=0) == 2
        assert await store.append_messages(sid, MESSAGES[2:], expected_length=2) == len(MESSAGES)
        length = await store.append_messages(sid, [], expected_length=len(MESSAGES))
        assert length == len(MESSAGES)
        assert await store.read_messages(sid) == MESSAGES
        stored = await store.get_session(sid)
        assert stored is not None
        assert stored.message_count == len(MESSAGES)

    @pytest.mark.asyncio
    async def test_append_with_wrong_expected_length_conflicts(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """The error carries expected and actual lengths, and nothing is written."""
        require(store, SESSIONS)
        sid = ids.session()
        await store.create_session(sid, label="kept")
        await store.append_messages(sid, msgs("a", "b"), expected_length=0)
        before = await store.get_session(sid)
        for expected in (0, 1, 3):
            with pytest.raises(SessionConflictError) as info:
                await store.append_messages(
                    sid, msgs("x"), expected_length=expected, label="changed"
                )
            assert info.value.session_id == sid
            assert info.value.expected == expected
            assert info.value.actual == 2
        assert await store.read_messages(sid) == msgs("a", "b")
        assert await store.get_session(sid) == before

    @pytest.mark.asyncio
    async def test_concurrent_appends_one_wins(self, store: FullStore, ids: IdFactory) -> None:
        """Of several appends expecting the same length exactly one succeeds."""
        require(store, SESSIONS)
        sid = ids.session()
        await store.create_session(sid)
        results = await asyncio.gather(
            *(store.append_messages(sid, msgs(f"writer-{i}"), expected_length=0) for i in range(5)),
            return_exceptions=True,
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        losers = [r for r in results if isinstance(r, BaseException)]
        assert winners == [1]
        assert all(isinstance(r, SessionConflictError) for r in losers), losers
        assert len(await store.read_messages(sid)) == 1

    @pytest.mark.asyncio
    async def test_append_replaces_label_and_metadata(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """A label and metadata given to an append replace the stored ones; None keeps them."""
        require(store, SESSIONS)
        sid = ids.session()
        await store.create_session(sid, label="old", metadata={"k": 1})
        length = await store.append_messages(
            sid, msgs("a"), expected_length=0, label="new", metadata={"k": 2}
        )
        assert length == 1
        record = await store.get_session(sid)
        assert record is not None
        assert (record.label, dict(record.metadata)) == ("new", {"k": 2})
        assert await store.append_messages(sid, msgs("b"), expected_length=1) == 2
        record = await store.get_session(sid)
        assert record is not None
        assert (record.label, dict(record.metadata)) == ("new", {"k": 2})
        assert await store.append_messages(sid, msgs("c"), label="newer") == 3
        record = await store.get_session(sid)
        assert record is not None
        assert (record.label, dict(record.metadata), record.message_count) == (
            "newer",
            {"k": 2},
            3,
        )

    @pytest.mark.asyncio
    async def test_writes_bump_updated_at(
        self, store: FullStore, ids: IdFactory, clock: ManualClock | None
    ) -> None:
        """Appends (with or without expected_length), replace and update move updated_at only."""
        require(store, SESSIONS)
        sid = ids.session()
        created = await store.create_session(sid)
        await tick(clock)
        await store.append_messages(sid, msgs("a"), expected_length=0)
        appended = await store.get_session(sid)
        await tick(clock)
        await store.replace_messages(sid, 0, msgs("b"), expected_length=1)
        replaced = await store.get_session(sid)
        await tick(clock)
        await store.append_messages(sid, msgs("c"))
        unconditional = await store.get_session(sid)
        await tick(clock)
        updated = await store.update_session(sid, label="x")
        records = [created, appended, replaced, unconditional, updated]
        assert all(r is not None for r in records)
        stamps = [r.updated_at for r in records if r is not None]
        assert stamps == sorted(stamps), stamps
        assert len(set(stamps)) == len(stamps), stamps
        assert {r.created_at for r in records if r is not None} == {created.created_at}

    @pytest.mark.asyncio
    async def test_replace_messages(self, store: FullStore, ids: IdFactory) -> None:
        """A replace truncates at start then appends, returning the new length."""
        require(store, SESSIONS)
        sid = ids.session()
        await store.create_session(sid)
        await store.append_messages(sid, msgs("a", "b", "c", "d"), expected_length=0)
        assert await store.replace_messages(sid, 2, msgs("x"), expected_length=4) == 3
        assert await store.read_messages(sid) == msgs("a", "b", "x")
        assert await store.replace_messages(sid, 3, msgs("y", "z"), expected_length=3) == 5
        assert await store.read_messages(sid) == msgs("a", "b", "x", "y", "z")
        assert await store.replace_messages(sid, 1, [], expected_length=5) == 1
        assert await store.read_messages(sid) == msgs("a")
        assert await store.replace_messages(sid, 0, msgs("new"), expected_length=1) == 1
        assert await store.read_messages(sid) == msgs("new")
        assert await store.append_messages(sid, msgs("more"), expected_length=1) == 2
        assert await store.read_messages(sid) == msgs("new", "more")
        record = await store.get_session(sid)
        assert record is not None
        assert record.message_count == 2

    @pytest.mark.asyncio
    async def test_replace_messages_checks_its_arguments(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """A wrong expected length conflicts; a start outside 0..length is invalid."""
        require(store, SESSIONS)
        sid = ids.session()
        await store.create_session(sid)
        await store.append_messages(sid, msgs("a", "b"), expected_length=0)
        with pytest.raises(SessionConflictError) as info:
            await store.replace_messages(sid, 0, msgs("x"), expected_length=3)
        assert (info.value.expected, info.value.actual) == (3, 2)
        for start in (-1, 3):
            with pytest.raises(ValidationError):
                await store.replace_messages(sid, start, msgs("x"), expected_length=2)
        assert await store.read_messages(sid) == msgs("a", "b")

    @pytest.mark.asyncio
    async def test_read_last_messages(self, store: FullStore, ids: IdFactory) -> None:
        """read_messages(last=N) returns the last N in order; 0 gives none."""
        require(store, SESSIONS)
        sid = ids.session()
        await store.create_session(sid)
        assert await store.read_messages(sid, last=3) == []
        await store.append_messages(sid, msgs("a", "b", "c", "d"), expected_length=0)
        assert await store.read_messages(sid, last=1) == msgs("d")
        assert await store.read_messages(sid, last=3) == msgs("b", "c", "d")
        assert await store.read_messages(sid, last=4) == msgs("a", "b", "c", "d")
        assert await store.read_messages(sid, last=100) == msgs("a", "b", "c", "d")
        assert await store.read_messages(sid, last=0) == []

    @pytest.mark.asyncio
    @pytest.mark.parametrize("forked", [False, True], ids=["plain", "forked"])
    async def test_read_last_n_for_every_n(
        self, store: FullStore, ids: IdFactory, forked: bool
    ) -> None:
        """last=n returns the last min(n, length) messages for every n, 0 to twice the length.

        On a fork too, whose messages partly live in its parent. (A store that
        sliced ``messages[length - n:]`` returned one message for last=7 of 6.)
        """
        require(store, SESSIONS)
        sid = ids.session()
        everything = msgs("a", "b", "c", "d", "e", "f")
        if forked:
            parent = ids.session("-parent")
            await store.create_session(parent)
            await store.append_messages(parent, everything[:4], expected_length=0)
            await store.fork_session(parent, sid, at=3)
            await store.append_messages(parent, msgs("x"), expected_length=4)
            await store.append_messages(sid, everything[3:], expected_length=3)
        else:
            await store.create_session(sid)
            await store.append_messages(sid, everything, expected_length=0)
        assert await store.read_messages(sid) == everything
        for n in range(2 * len(everything) + 2):
            want = everything[len(everything) - min(n, len(everything)) :]
            assert await store.read_messages(sid, last=n) == want, f"last={n}"

    @pytest.mark.asyncio
    async def test_update_session(self, store: FullStore, ids: IdFactory) -> None:
        """An update replaces label and/or metadata; None keeps; messages stay."""
        require(store, SESSIONS)
        sid = ids.session()
        await store.create_session(sid, label="one", metadata={"a": 1})
        await store.append_messages(sid, msgs("m"), expected_length=0)
        record = await store.update_session(sid, label="two")
        assert (record.label, dict(record.metadata)) == ("two", {"a": 1})
        record = await store.update_session(sid, metadata={"b": [2]})
        assert (record.label, dict(record.metadata)) == ("two", {"b": [2]})
        record = await store.update_session(sid, label="three", metadata={})
        assert (record.label, dict(record.metadata)) == ("three", {})
        assert record.message_count == 1
        assert await store.get_session(sid) == record
        assert await store.read_messages(sid) == msgs("m")

    @pytest.mark.asyncio
    async def test_delete_session(self, store: FullStore, ids: IdFactory) -> None:
        """A delete returns whether it existed; a deleted session is gone for every call."""
        require(store, SESSIONS)
        sid = ids.session()
        await store.create_session(sid, label="x")
        await store.append_messages(sid, msgs("a", "b"), expected_length=0)
        assert await store.delete_session(sid) is True
        assert await store.delete_session(sid) is False
        assert await store.get_session(sid) is None
        with pytest.raises(SessionNotFoundError):
            await store.read_messages(sid)
        with pytest.raises(SessionNotFoundError):
            await store.read_messages(sid, last=1)
        with pytest.raises(SessionNotFoundError):
            await store.append_messages(sid, msgs("c"), expected_length=2)
        with pytest.raises(SessionNotFoundError):
            await store.update_session(sid, label="y")

    @pytest.mark.asyncio
    async def test_recreated_session_starts_empty(self, store: FullStore, ids: IdFactory) -> None:
        """A session created again after a delete inherits nothing of the old one."""
        require(store, SESSIONS)
        sid = ids.session()
        await store.create_session(sid, label="old", metadata={"old": True})
        await store.append_messages(sid, msgs("a", "b"), expected_length=0)
        await store.delete_session(sid)
        record = await store.create_session(sid)
        assert (record.label, dict(record.metadata), record.message_count) == (None, {}, 0)
        assert await store.read_messages(sid) == []
        await store.append_messages(sid, msgs("c"), expected_length=0)
        assert await store.read_messages(sid) == msgs("c")

    @pytest.mark.asyncio
    async def test_list_sessions_newest_first(
        self, store: FullStore, ids: IdFactory, clock: ManualClock | None
    ) -> None:
        """Listing orders by updated_at then id, descending; a write moves a session up."""
        require(store, SESSIONS)
        first, second, third = ids.session("-1"), ids.session("-2"), ids.session("-3")
        for sid in (first, second, third):
            await store.create_session(sid)
            await tick(clock)
        await store.append_messages(first, msgs("a"), expected_length=0)
        found = await collect_sessions(store, [first, second, third], limit=50)
        assert [r.id for r in found] == [first, third, second]
        assert found == sorted(found, key=sort_key, reverse=True)
        for record in found:
            assert await store.get_session(record.id) == record
        await tick(clock)
        await store.update_session(second, label="touched")
        found = await collect_sessions(store, [first, second, third], limit=50)
        assert [r.id for r in found] == [second, first, third]

    @pytest.mark.asyncio
    @pytest.mark.parametrize("limit", [1, 2, 3])
    async def test_list_sessions_pages(self, store: FullStore, ids: IdFactory, limit: int) -> None:
        """Walking cursors visits every session once, in order, without gaps."""
        require(store, SESSIONS)
        created = [ids.session(f"-{i}") for i in range(7)]
        for sid in created:
            await store.create_session(sid)
        found = await collect_sessions(store, created, limit=limit, to_the_end=True)
        assert sorted(r.id for r in found) == sorted(created)
        assert found == sorted(found, key=sort_key, reverse=True)

    @pytest.mark.asyncio
    async def test_list_sessions_skips_deleted_ones(self, store: FullStore, ids: IdFactory) -> None:
        """A deleted session is not listed; its neighbours are."""
        require(store, SESSIONS)
        kept, deleted = ids.session("-kept"), ids.session("-deleted")
        await store.create_session(kept)
        await store.create_session(deleted)
        await store.delete_session(deleted)
        seen: set[str] = set()
        cursor: str | None = None
        while True:
            page = await store.list_sessions(limit=100, cursor=cursor)
            seen.update(r.id for r in page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert kept in seen
        assert deleted not in seen
