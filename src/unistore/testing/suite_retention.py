"""Conformance tests of session retention: a ``ttl`` counts from the last write.

Time passes with :func:`~unistore.testing.pass_time`: a manual clock moves
instantly; a store on server time (Redis) really waits, about 1.2 times
:attr:`~unistore.testing.SuiteFixtures.session_ttl` per test.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from unistore.errors import SessionNotFoundError, ValidationError
from unistore.protocols import Capability, SessionRecord
from unistore.testing._clock import ManualClock, pass_time
from unistore.testing._fixtures import SuiteFixtures
from unistore.testing._support import (
    FullStore,
    IdFactory,
    assert_utc,
    collect_sessions,
    listed_ids,
    require,
)
from unistore.testing.suite_sessions import msgs, tick

__all__ = ["RetentionSuite", "assert_expiry"]

SESSIONS = Capability.SESSION_DOCUMENTS

#: TTLs that are neither positive finite seconds nor None.
BAD_TTLS: list[Any] = [0, -1, math.nan, math.inf, True, "5"]


def assert_expiry(record: SessionRecord | None, ttl: float | None) -> SessionRecord:
    """Assert that ``record`` exists, has ``ttl`` and expires ``ttl`` after its last write."""
    assert record is not None, "the session is gone"
    assert record.ttl == ttl, f"record.ttl is {record.ttl!r}, expected {ttl!r}"
    if ttl is None:
        assert record.expires_at is None, f"a session without ttl expires at {record.expires_at}"
        return record
    assert record.expires_at is not None, "a session with a ttl has no expires_at"
    assert_utc(record.expires_at)
    lives = record.expires_at - record.updated_at
    assert abs(lives - timedelta(seconds=ttl)) < timedelta(seconds=1), (
        f"expires {lives} after its last write, expected {ttl} s"
    )
    return record


class RetentionSuite(SuiteFixtures):
    """ttl on create and fork: expiry after the last write, reads not counting."""

    @pytest.mark.asyncio
    async def test_the_record_carries_ttl_and_expires_at(
        self, store: FullStore, ids: IdFactory, clock: ManualClock | None
    ) -> None:
        """Every record has ttl and expires_at; a write moves expires_at with updated_at."""
        require(store, SESSIONS)
        sid, plain = ids.session(), ids.session("-plain")
        created = assert_expiry(await store.create_session(sid, ttl=100), 100)
        assert_expiry(await store.get_session(sid), 100)
        assert_expiry(await store.create_session(plain), None)
        await tick(clock)
        await store.append_messages(sid, msgs("a"))
        appended = assert_expiry(await store.get_session(sid), 100)
        assert created.expires_at is not None
        assert appended.expires_at is not None
        assert appended.expires_at > created.expires_at, "an append did not move the expiry"
        await tick(clock)
        updated = assert_expiry(await store.update_session(sid, label="x"), 100)
        assert updated.expires_at is not None
        assert updated.expires_at > appended.expires_at, "an update did not move the expiry"
        await store.append_messages(plain, msgs("a"))
        assert_expiry(await store.get_session(plain), None)
        (listed,) = await collect_sessions(store, [sid], limit=50)
        assert listed == updated

    @pytest.mark.asyncio
    async def test_a_fork_has_the_ttl_given_to_it(self, store: FullStore, ids: IdFactory) -> None:
        """A fork does not inherit its parent's ttl: it has its own, or none."""
        require(store, SESSIONS)
        parent, plain, timed = ids.session("-p"), ids.session("-plain"), ids.session("-timed")
        await store.create_session(parent, ttl=100)
        await store.append_messages(parent, msgs("a"))
        assert_expiry(await store.fork_session(parent, plain), None)
        assert_expiry(await store.get_session(plain), None)
        assert_expiry(await store.fork_session(parent, timed, ttl=50.5), 50.5)
        assert_expiry(await store.get_session(timed), 50.5)
        grandchild = ids.session("-g")
        assert_expiry(await store.fork_session(timed, grandchild, ttl=200), 200)

    @pytest.mark.asyncio
    @pytest.mark.parametrize("ttl", BAD_TTLS, ids=repr)
    async def test_a_session_ttl_that_is_not_positive_seconds_is_refused(
        self, store: FullStore, ids: IdFactory, ttl: Any
    ) -> None:
        """Creating or forking with 0, a negative, NaN, infinity, a bool or a str fails."""
        require(store, SESSIONS)
        sid, parent = ids.session(), ids.session("-p")
        with pytest.raises(ValidationError, match="ttl"):
            await store.create_session(sid, ttl=ttl)
        assert await store.get_session(sid) is None
        await store.create_session(parent)
        with pytest.raises(ValidationError, match="ttl"):
            await store.fork_session(parent, sid, ttl=ttl)
        assert await store.get_session(sid) is None

    @pytest.mark.asyncio
    async def test_an_expired_session_is_gone_and_its_id_free(
        self, store: FullStore, ids: IdFactory, clock: ManualClock | None
    ) -> None:
        """After its ttl, no call sees the session; sessions without ttl stay; the id is free."""
        require(store, SESSIONS)
        ttl = self.session_ttl
        sid, kept, child = ids.session(), ids.session("-kept"), ids.session("-child")
        scope = ids.scope()
        ids.track_session(sid, scope)
        await store.create_session(sid, label="old", metadata={"old": 1}, ttl=ttl)
        await store.append_messages(sid, msgs("a", "b"))
        await store.create_session(kept)
        await store.create_session(sid, scope=scope)
        await pass_time(clock, ttl * 1.2)
        assert await store.get_session(sid) is None
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "read_messages": lambda: store.read_messages(sid),
            "read_last": lambda: store.read_messages(sid, last=1),
            "append": lambda: store.append_messages(sid, msgs("c")),
            "append_expected": lambda: store.append_messages(sid, msgs("c"), expected_length=2),
            "replace": lambda: store.replace_messages(sid, 0, [], expected_length=2),
            "pop": lambda: store.pop_messages(sid),
            "update": lambda: store.update_session(sid, label="x"),
            "fork": lambda: store.fork_session(sid, child),
        }
        for name, call in calls.items():
            with pytest.raises(SessionNotFoundError):
                await call()
            assert await store.get_session(sid) is None, f"{name} revived an expired session"
        assert await store.get_session(child) is None
        assert await store.delete_session(sid) is False
        listed = await listed_ids(store)
        assert sid not in listed, "an expired session is listed"
        assert kept in listed
        assert await store.get_session(sid, scope=scope) is not None, "another scope's expired"
        again = await store.create_session(sid)
        assert (again.label, dict(again.metadata), again.message_count) == (None, {}, 0)
        assert_expiry(again, None)
        assert await store.read_messages(sid) == []

    @pytest.mark.asyncio
    async def test_an_expired_id_created_again_with_messages_holds_only_those(
        self, store: FullStore, ids: IdFactory, clock: ManualClock | None
    ) -> None:
        """Creating an expired session's id with messages gives a session of those alone."""
        require(store, SESSIONS)
        ttl = self.session_ttl
        sid = ids.session()
        await store.create_session(sid, ttl=ttl, messages=msgs("a", "b", "c"))
        await pass_time(clock, ttl * 1.2)
        again = await store.create_session(sid, ttl=ttl, messages=msgs("x"))
        assert again.message_count == 1
        assert_expiry(again, ttl)
        assert await store.read_messages(sid) == msgs("x")
        assert await store.append_messages(sid, msgs("y"), expected_length=1) == 2
        assert await store.read_messages(sid) == msgs("x", "y")

    @pytest.mark.asyncio
    async def test_every_write_restarts_the_ttl(
        self, store: FullStore, ids: IdFactory, clock: ManualClock | None
    ) -> None:
        """A write at 0.7 ttl keeps a session alive at 1.2 ttl; an unwritten one is gone."""
        require(store, SESSIONS)
        ttl = self.session_ttl
        writes: dict[str, Callable[[str], Awaitable[Any]]] = {
            "append": lambda sid: store.append_messages(sid, msgs("c")),
            "append_expected": lambda sid: store.append_messages(sid, msgs("c"), expected_length=2),
            "append_token": lambda sid: store.append_messages(sid, msgs("c"), token="slide"),
            "replace": lambda sid: store.replace_messages(sid, 1, msgs("c"), expected_length=2),
            "update_session": lambda sid: store.update_session(sid, label="slid"),
        }
        sessions = {name: ids.session(f"-{name}") for name in writes}
        control = ids.session("-control")
        for sid in (*sessions.values(), control):
            await store.create_session(sid, ttl=ttl)
            await store.append_messages(sid, msgs("a", "b"), expected_length=0)
        await pass_time(clock, ttl * 0.7)
        for name, write in writes.items():
            await write(sessions[name])
        await pass_time(clock, ttl * 0.5)
        assert await store.get_session(control) is None, "the unwritten session did not expire"
        for name, sid in sessions.items():
            record = await store.get_session(sid)
            assert record is not None, f"{name} did not restart the ttl"
            assert_expiry(record, ttl)
            assert await store.read_messages(sid) != [], name

    @pytest.mark.asyncio
    async def test_reads_do_not_restart_the_ttl(
        self, store: FullStore, ids: IdFactory, clock: ManualClock | None
    ) -> None:
        """get, read, listing and iter_scopes at 0.7 ttl leave the session to expire at 1 ttl."""
        require(store, SESSIONS)
        ttl = self.session_ttl
        sid = ids.session()
        await store.create_session(sid, ttl=ttl)
        await store.append_messages(sid, msgs("a", "b"), expected_length=0)
        await pass_time(clock, ttl * 0.7)
        before = await store.get_session(sid)
        assert before is not None
        assert await store.read_messages(sid) == msgs("a", "b")
        assert await store.read_messages(sid, last=1) == msgs("b")
        await collect_sessions(store, [sid], limit=50)
        _ = [scope async for scope in store.iter_scopes()]
        assert await store.get_session(sid) == before, "a read changed the record"
        await pass_time(clock, ttl * 0.5)
        assert await store.get_session(sid) is None, "a read restarted the ttl"
        with pytest.raises(SessionNotFoundError):
            await store.read_messages(sid)

    @pytest.mark.asyncio
    async def test_forks_outlive_their_expiring_parent(
        self, store: FullStore, ids: IdFactory, clock: ManualClock | None
    ) -> None:
        """Forks keep loading the prefix they share after the parent expired, on their own ttl."""
        require(store, SESSIONS)
        ttl = self.session_ttl
        parent = ids.session("-p")
        forever, longer, later = (ids.session(f"-{n}") for n in "flt")
        await store.create_session(parent, ttl=ttl)
        await store.append_messages(parent, msgs("a", "b", "c"), expected_length=0)
        await store.fork_session(parent, forever, at=2)
        await store.fork_session(parent, longer, ttl=ttl * 3)
        await pass_time(clock, ttl * 0.5)
        # Forked at 0.5 ttl with the parent's ttl: it must outlive the parent by 0.5 ttl.
        await store.fork_session(parent, later, at=1, ttl=ttl)
        await pass_time(clock, ttl * 0.7)
        assert await store.get_session(parent) is None, "the parent did not expire"
        assert await store.read_messages(forever) == msgs("a", "b")
        assert await store.read_messages(forever, last=1) == msgs("b")
        assert await store.read_messages(longer) == msgs("a", "b", "c")
        assert await store.read_messages(later) == msgs("a"), "the fork took the parent's expiry"
        record = assert_expiry(await store.get_session(forever), None)
        assert (record.parent_id, record.fork_point, record.message_count) == (parent, 2, 2)
        assert_expiry(await store.get_session(longer), ttl * 3)
        assert await store.append_messages(forever, msgs("x")) == 3
        await store.create_session(parent)
        await store.append_messages(parent, msgs("new"))
        assert await store.read_messages(forever) == msgs("a", "b", "x")
        assert await store.read_messages(longer) == msgs("a", "b", "c")
