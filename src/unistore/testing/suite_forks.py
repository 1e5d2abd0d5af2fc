"""Conformance tests of session forks: shared prefixes that never change under a fork."""

from __future__ import annotations

import pytest

from unistore.errors import SessionExistsError, SessionNotFoundError, ValidationError
from unistore.protocols import Capability
from unistore.testing._fixtures import SuiteFixtures
from unistore.testing._support import FullStore, IdFactory, require
from unistore.testing.suite_sessions import msgs

__all__ = ["ForksSuite"]

SESSIONS = Capability.SESSION_DOCUMENTS


async def _session(store: FullStore, sid: str, *names: str) -> None:
    await store.create_session(sid)
    if names:
        await store.append_messages(sid, msgs(*names), expected_length=0)


class ForksSuite(SuiteFixtures):
    """fork_session and what forks read when their relatives change."""

    @pytest.mark.asyncio
    async def test_fork_shares_all_messages_by_default(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """at=None forks at the parent's length; the record names parent and point."""
        require(store, SESSIONS)
        parent, child = ids.session("-p"), ids.session("-c")
        await _session(store, parent, "a", "b", "c")
        record = await store.fork_session(parent, child, label="fork", metadata={"k": 1})
        assert record.id == child
        assert (record.parent_id, record.fork_point, record.message_count) == (parent, 3, 3)
        assert (record.label, dict(record.metadata)) == ("fork", {"k": 1})
        assert await store.get_session(child) == record
        assert await store.read_messages(child) == msgs("a", "b", "c")
        assert await store.read_messages(child, last=2) == msgs("b", "c")

    @pytest.mark.asyncio
    @pytest.mark.parametrize("at", [0, 1, 2, 3])
    async def test_fork_at_a_point(self, store: FullStore, ids: IdFactory, at: int) -> None:
        """A fork starts with the first ``at`` messages of its parent."""
        require(store, SESSIONS)
        parent, child = ids.session("-p"), ids.session("-c")
        await _session(store, parent, "a", "b", "c")
        record = await store.fork_session(parent, child, at=at)
        assert (record.fork_point, record.message_count) == (at, at)
        assert await store.read_messages(child) == msgs("a", "b", "c")[:at]
        await store.append_messages(child, msgs("own"), expected_length=at)
        assert await store.read_messages(child) == [*msgs("a", "b", "c")[:at], *msgs("own")]
        assert (
            await store.read_messages(child, last=2)
            == [
                *msgs("a", "b", "c")[:at],
                *msgs("own"),
            ][-2:]
        )
        stored = await store.get_session(child)
        assert stored is not None
        assert stored.message_count == at + 1

    @pytest.mark.asyncio
    async def test_fork_checks_its_arguments(self, store: FullStore, ids: IdFactory) -> None:
        """Unknown parent, taken id and a point outside 0..length all fail, creating nothing."""
        require(store, SESSIONS)
        parent, taken, child = ids.session("-p"), ids.session("-t"), ids.session("-c")
        await _session(store, parent, "a", "b")
        await _session(store, taken, "t")
        with pytest.raises(SessionNotFoundError):
            await store.fork_session(ids.session("-missing"), child)
        with pytest.raises(SessionExistsError):
            await store.fork_session(parent, taken)
        assert await store.read_messages(taken) == msgs("t")
        for at in (-1, 3):
            with pytest.raises(ValidationError):
                await store.fork_session(parent, child, at=at)
        assert await store.get_session(child) is None

    @pytest.mark.asyncio
    async def test_fork_and_parent_diverge(self, store: FullStore, ids: IdFactory) -> None:
        """Appends to the parent do not reach the fork, nor the other way round."""
        require(store, SESSIONS)
        parent, child = ids.session("-p"), ids.session("-c")
        await _session(store, parent, "a", "b", "c")
        await store.fork_session(parent, child, at=2)
        await store.append_messages(child, msgs("c1", "c2"), expected_length=2)
        await store.append_messages(parent, msgs("p1"), expected_length=3)
        assert await store.read_messages(parent) == msgs("a", "b", "c", "p1")
        assert await store.read_messages(child) == msgs("a", "b", "c1", "c2")
        parent_record = await store.get_session(parent)
        assert parent_record is not None
        assert parent_record.message_count == 4

    @pytest.mark.asyncio
    async def test_fork_of_a_fork(self, store: FullStore, ids: IdFactory) -> None:
        """A grandchild reads through two fork points."""
        require(store, SESSIONS)
        parent, child, grandchild = ids.session("-p"), ids.session("-c"), ids.session("-g")
        await _session(store, parent, "a", "b", "c")
        await store.fork_session(parent, child, at=2)
        await store.append_messages(child, msgs("x"), expected_length=2)
        record = await store.fork_session(child, grandchild)
        assert (record.parent_id, record.fork_point, record.message_count) == (child, 3, 3)
        await store.append_messages(grandchild, msgs("y"), expected_length=3)
        assert await store.read_messages(grandchild) == msgs("a", "b", "x", "y")
        assert await store.read_messages(grandchild, last=3) == msgs("b", "x", "y")
        shallow = ids.session("-s")
        await store.fork_session(grandchild, shallow, at=1)
        assert await store.read_messages(shallow) == msgs("a")

    @pytest.mark.asyncio
    async def test_deleting_the_parent_keeps_its_forks(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """Forks and forks of forks read the same after the parent is deleted."""
        require(store, SESSIONS)
        parent = ids.session("-p")
        child, full, grandchild = ids.session("-c"), ids.session("-f"), ids.session("-g")
        await _session(store, parent, "a", "b", "c")
        await store.fork_session(parent, child, at=2)
        await store.append_messages(child, msgs("x"), expected_length=2)
        await store.fork_session(parent, full)
        await store.fork_session(child, grandchild)
        before = {sid: await store.get_session(sid) for sid in (child, full, grandchild)}
        assert await store.delete_session(parent) is True
        assert await store.read_messages(child) == msgs("a", "b", "x")
        assert await store.read_messages(full) == msgs("a", "b", "c")
        assert await store.read_messages(grandchild) == msgs("a", "b", "x")
        assert await store.read_messages(child, last=2) == msgs("b", "x")
        for sid, record in before.items():
            assert record is not None
            after = await store.get_session(sid)
            assert after is not None, sid
            assert (after.parent_id, after.fork_point, after.message_count) == (
                record.parent_id,
                record.fork_point,
                record.message_count,
            )
        await store.append_messages(child, msgs("y"), expected_length=3)
        assert await store.read_messages(child) == msgs("a", "b", "x", "y")
        assert await store.read_messages(grandchild) == msgs("a", "b", "x")

    @pytest.mark.asyncio
    async def test_reusing_a_deleted_parents_id_changes_no_fork(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """A new session under the old parent id is not what the forks read."""
        require(store, SESSIONS)
        parent, child = ids.session("-p"), ids.session("-c")
        await _session(store, parent, "a", "b")
        await store.fork_session(parent, child)
        await store.delete_session(parent)
        await _session(store, parent, "new-1", "new-2", "new-3")
        assert await store.read_messages(child) == msgs("a", "b")
        record = await store.get_session(child)
        assert record is not None
        assert record.message_count == 2

    @pytest.mark.asyncio
    async def test_deleting_a_middle_fork_keeps_the_grandchild(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """The grandchild keeps what it inherited through the deleted child."""
        require(store, SESSIONS)
        parent, child, grandchild = ids.session("-p"), ids.session("-c"), ids.session("-g")
        await _session(store, parent, "a", "b")
        await store.fork_session(parent, child)
        await store.append_messages(child, msgs("x"), expected_length=2)
        await store.fork_session(child, grandchild)
        assert await store.delete_session(child) is True
        assert await store.read_messages(grandchild) == msgs("a", "b", "x")
        assert await store.read_messages(parent) == msgs("a", "b")
        assert await store.delete_session(parent) is True
        assert await store.read_messages(grandchild) == msgs("a", "b", "x")

    @pytest.mark.asyncio
    async def test_editing_the_parent_keeps_its_forks(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """replace_messages before a fork point does not change what the fork reads."""
        require(store, SESSIONS)
        parent = ids.session("-p")
        late, early, grandchild = ids.session("-late"), ids.session("-early"), ids.session("-g")
        await _session(store, parent, "a", "b", "c", "d")
        await store.fork_session(parent, late, at=3)
        await store.fork_session(parent, early, at=1)
        await store.fork_session(late, grandchild, at=2)
        await store.replace_messages(parent, 1, msgs("z"), expected_length=4)
        assert await store.read_messages(parent) == msgs("a", "z")
        assert await store.read_messages(late) == msgs("a", "b", "c")
        assert await store.read_messages(early) == msgs("a")
        assert await store.read_messages(grandchild) == msgs("a", "b")
        await store.replace_messages(parent, 0, [], expected_length=2)
        await store.append_messages(parent, msgs("q"), expected_length=0)
        assert await store.read_messages(late) == msgs("a", "b", "c")
        assert await store.read_messages(early) == msgs("a")
        assert await store.read_messages(grandchild) == msgs("a", "b")
        record = await store.get_session(late)
        assert record is not None
        assert record.message_count == 3

    @pytest.mark.asyncio
    async def test_editing_a_fork_keeps_its_parent(self, store: FullStore, ids: IdFactory) -> None:
        """replace_messages on a fork, even inside the shared prefix, touches only the fork."""
        require(store, SESSIONS)
        parent, child, sibling = ids.session("-p"), ids.session("-c"), ids.session("-s")
        await _session(store, parent, "a", "b", "c")
        await store.fork_session(parent, child)
        await store.fork_session(parent, sibling)
        assert await store.replace_messages(child, 1, msgs("z"), expected_length=3) == 2
        assert await store.read_messages(child) == msgs("a", "z")
        assert await store.read_messages(parent) == msgs("a", "b", "c")
        assert await store.read_messages(sibling) == msgs("a", "b", "c")
        await store.append_messages(child, msgs("y"), expected_length=2)
        assert await store.read_messages(child) == msgs("a", "z", "y")
        await store.replace_messages(sibling, 0, msgs("s"), expected_length=3)
        assert await store.read_messages(sibling) == msgs("s")
        assert await store.read_messages(parent) == msgs("a", "b", "c")

    @pytest.mark.asyncio
    async def test_deleting_a_fork_keeps_its_parent(self, store: FullStore, ids: IdFactory) -> None:
        """A fork is a session of its own: deleting it leaves the parent whole."""
        require(store, SESSIONS)
        parent, child = ids.session("-p"), ids.session("-c")
        await _session(store, parent, "a", "b")
        await store.fork_session(parent, child)
        await store.append_messages(child, msgs("c"), expected_length=2)
        assert await store.delete_session(child) is True
        assert await store.read_messages(parent) == msgs("a", "b")
        record = await store.get_session(parent)
        assert record is not None
        assert record.message_count == 2
        with pytest.raises(SessionNotFoundError):
            await store.read_messages(child)
