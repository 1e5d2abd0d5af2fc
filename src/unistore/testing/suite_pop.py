"""Conformance tests of pop_messages: remove the last messages atomically, return them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from unistore.errors import SessionConflictError, SessionNotFoundError, ValidationError
from unistore.protocols import Capability
from unistore.testing._clock import ManualClock, pass_time
from unistore.testing._fixtures import SuiteFixtures
from unistore.testing._support import FullStore, IdFactory, require
from unistore.testing.suite_retention import assert_expiry
from unistore.testing.suite_sessions import msgs, tick

__all__ = ["PopSuite"]

SESSIONS = Capability.SESSION_DOCUMENTS

#: Counts pop_messages refuses: not an int, a bool, or below 1.
BAD_COUNTS: list[Any] = [0, -1, True, 1.5, "1", None]


async def _session(store: FullStore, sid: str, *names: str, **kw: Any) -> None:
    await store.create_session(sid, **kw)
    if names:
        await store.append_messages(sid, msgs(*names), expected_length=0)


async def _count(store: FullStore, sid: str) -> int:
    record = await store.get_session(sid)
    assert record is not None, sid
    return record.message_count


class PopSuite(SuiteFixtures):
    """pop_messages: counts, order, conflicts, forks, and what follows a pop."""

    @pytest.mark.asyncio
    async def test_pop_returns_the_last_messages_in_order(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """pop() removes one message; pop(n) the last n, returned oldest first."""
        require(store, SESSIONS)
        sid = ids.session()
        await _session(store, sid, "a", "b", "c", "d")
        assert await store.pop_messages(sid) == msgs("d")
        assert await store.pop_messages(sid, 2) == msgs("b", "c")
        assert await store.read_messages(sid) == msgs("a")
        assert await _count(store, sid) == 1

    @pytest.mark.asyncio
    async def test_pop_of_more_than_the_length_empties_the_session(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """A shorter session gives all it has; an empty one gives []."""
        require(store, SESSIONS)
        sid = ids.session()
        await _session(store, sid, "a", "b")
        assert await store.pop_messages(sid, 5) == msgs("a", "b")
        assert await store.read_messages(sid) == []
        assert await _count(store, sid) == 0
        assert await store.pop_messages(sid) == []
        assert await store.pop_messages(sid, 3) == []

    @pytest.mark.asyncio
    async def test_pop_of_an_empty_session_returns_nothing(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """A new session pops [] and stays as it was."""
        require(store, SESSIONS)
        sid = ids.session()
        await _session(store, sid)
        assert await store.pop_messages(sid) == []
        assert await store.pop_messages(sid, 10, expected_length=0) == []
        assert await store.read_messages(sid) == []

    @pytest.mark.asyncio
    async def test_pop_with_a_wrong_expected_length_conflicts(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """The conflict carries both lengths and removes nothing; the right length pops."""
        require(store, SESSIONS)
        sid = ids.session()
        await _session(store, sid, "a", "b", "c")
        before = await store.get_session(sid)
        for expected in (0, 2, 4):
            with pytest.raises(SessionConflictError) as info:
                await store.pop_messages(sid, 1, expected_length=expected)
            assert (info.value.expected, info.value.actual) == (expected, 3)
            assert info.value.session_id == sid
        assert await store.read_messages(sid) == msgs("a", "b", "c")
        assert await store.get_session(sid) == before
        assert await store.pop_messages(sid, 2, expected_length=3) == msgs("b", "c")

    @pytest.mark.asyncio
    @pytest.mark.parametrize("n", BAD_COUNTS, ids=repr)
    async def test_pop_checks_its_arguments(self, store: FullStore, ids: IdFactory, n: Any) -> None:
        """The count must be an int of at least 1, expected_length an int of at least 0."""
        require(store, SESSIONS)
        sid = ids.session()
        await _session(store, sid, "a", "b")
        with pytest.raises(ValidationError, match="n must"):
            await store.pop_messages(sid, n)
        with pytest.raises(ValidationError, match="expected_length"):
            await store.pop_messages(sid, 1, expected_length=-1)
        assert await store.read_messages(sid) == msgs("a", "b")

    @pytest.mark.asyncio
    async def test_pop_of_a_missing_session_raises(self, store: FullStore, ids: IdFactory) -> None:
        """An unknown or deleted id raises SessionNotFoundError."""
        require(store, SESSIONS)
        sid = ids.session()
        with pytest.raises(SessionNotFoundError) as info:
            await store.pop_messages(sid)
        assert info.value.session_id == sid
        await _session(store, sid, "a")
        await store.delete_session(sid)
        with pytest.raises(SessionNotFoundError):
            await store.pop_messages(sid, 1, expected_length=1)

    @pytest.mark.asyncio
    async def test_pop_below_the_fork_point_changes_no_other_session(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """A fork popping into the prefix it shares leaves parent, sibling and grandchild whole."""
        require(store, SESSIONS)
        parent, child, sibling, grandchild = (ids.session(f"-{n}") for n in "pcsg")
        await _session(store, parent, "a", "b", "c", "d")
        await store.fork_session(parent, child, at=3)
        await store.fork_session(parent, sibling, at=3)
        assert await store.append_messages(child, msgs("x"), expected_length=3) == 4
        await store.fork_session(child, grandchild)
        assert await store.pop_messages(child, 3) == msgs("b", "c", "x")
        assert await store.read_messages(child) == msgs("a")
        assert await store.read_messages(parent) == msgs("a", "b", "c", "d")
        assert await store.read_messages(sibling) == msgs("a", "b", "c")
        assert await store.read_messages(grandchild) == msgs("a", "b", "c", "x")
        assert await store.read_messages(grandchild, last=2) == msgs("c", "x")
        assert await store.append_messages(child, msgs("y")) == 2
        assert await store.read_messages(child) == msgs("a", "y")
        assert await store.read_messages(parent) == msgs("a", "b", "c", "d")
        assert await store.read_messages(sibling) == msgs("a", "b", "c")
        assert await _count(store, parent) == 4
        assert await _count(store, sibling) == 3

    @pytest.mark.asyncio
    async def test_popping_a_parent_keeps_its_forks(self, store: FullStore, ids: IdFactory) -> None:
        """The parent popping below its forks' points changes none of them."""
        require(store, SESSIONS)
        parent, late, early = ids.session("-p"), ids.session("-late"), ids.session("-early")
        await _session(store, parent, "a", "b", "c", "d")
        await store.fork_session(parent, late)
        await store.fork_session(parent, early, at=1)
        assert await store.pop_messages(parent, 4) == msgs("a", "b", "c", "d")
        await store.append_messages(parent, msgs("z"), expected_length=0)
        assert await store.read_messages(late) == msgs("a", "b", "c", "d")
        assert await store.read_messages(early) == msgs("a")
        assert await store.read_messages(late, last=3) == msgs("b", "c", "d")
        assert await _count(store, late) == 4

    @pytest.mark.asyncio
    async def test_append_after_pop(self, store: FullStore, ids: IdFactory) -> None:
        """After a pop, appends continue from the shorter length, on a fork too."""
        require(store, SESSIONS)
        sid, child = ids.session(), ids.session("-child")
        await _session(store, sid, "a", "b", "c")
        assert await store.pop_messages(sid, 2) == msgs("b", "c")
        assert await store.append_messages(sid, msgs("x"), expected_length=1) == 2
        assert await store.append_messages(sid, msgs("y")) == 3
        assert await store.read_messages(sid) == msgs("a", "x", "y")
        assert await store.read_messages(sid, last=2) == msgs("x", "y")
        await store.fork_session(sid, child)
        assert await store.pop_messages(child, 2) == msgs("x", "y")
        assert await store.append_messages(child, msgs("q")) == 2
        assert await store.read_messages(child) == msgs("a", "q")
        assert await store.read_messages(child, last=5) == msgs("a", "q")
        assert await store.read_messages(sid) == msgs("a", "x", "y")

    @pytest.mark.asyncio
    async def test_concurrent_pops_remove_each_message_once(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """Eight concurrent pop() of six messages: each message comes out exactly once."""
        require(store, SESSIONS)
        sid = ids.session()
        names = [str(i) for i in range(6)]
        await _session(store, sid, *names)
        results = await asyncio.gather(*(store.pop_messages(sid) for _ in range(8)))
        popped = [m for batch in results for m in batch]
        assert sorted(popped) == sorted(msgs(*names)), results
        assert sorted(len(batch) for batch in results) == [0, 0, 1, 1, 1, 1, 1, 1]
        assert await store.read_messages(sid) == []

    @pytest.mark.asyncio
    async def test_pop_moves_updated_at(
        self, store: FullStore, ids: IdFactory, clock: ManualClock | None
    ) -> None:
        """A pop is a write: updated_at moves forward, created_at stays."""
        require(store, SESSIONS)
        sid = ids.session()
        await _session(store, sid, "a")
        before = await store.get_session(sid)
        assert before is not None
        await tick(clock)
        await store.pop_messages(sid)
        after = await store.get_session(sid)
        assert after is not None
        assert after.updated_at > before.updated_at
        assert after.created_at == before.created_at

    @pytest.mark.asyncio
    async def test_pop_restarts_the_ttl(
        self, store: FullStore, ids: IdFactory, clock: ManualClock | None
    ) -> None:
        """A pop at 0.7 ttl keeps the session alive at 1.2 ttl, as every write does."""
        require(store, SESSIONS)
        ttl = self.session_ttl
        sid, control = ids.session(), ids.session("-control")
        await _session(store, sid, "a", "b", "c", ttl=ttl)
        await _session(store, control, "a", ttl=ttl)
        await pass_time(clock, ttl * 0.7)
        assert await store.pop_messages(sid) == msgs("c")
        await pass_time(clock, ttl * 0.5)
        assert await store.get_session(control) is None, "the session without a pop stayed"
        assert_expiry(await store.get_session(sid), ttl)
        assert await store.read_messages(sid) == msgs("a", "b")
