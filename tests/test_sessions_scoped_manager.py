"""SessionManager scopes, retention, caller-chosen ids, pop, and saves whose reply is lost."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

import unistore
from unistore import (
    Conversation,
    SessionConflictError,
    SessionExistsError,
    SessionManager,
    SessionNotFoundError,
    StoreTimeoutError,
    ValidationError,
)
from unistore.testing import ManualClock


def contents(texts: list[str]) -> list[Any]:
    return [json.loads(text)["content"] for text in texts]


async def test_a_manager_sees_only_its_scope(store: Any) -> None:
    alice = SessionManager(store, Conversation(), auto_save=False, scope="app/alice")
    bob = SessionManager(store, Conversation(), auto_save=False, scope="app/bob")
    plain = SessionManager(store, Conversation(), auto_save=False)
    alice.conversation.add("user", "alice's secret")
    await alice.save()
    sid = alice.session_id
    assert sid is not None
    assert [r.id for r in (await alice.list()).items] == [sid]
    assert (await alice.list()).items[0].scope == "app/alice"
    assert (await bob.list()).items == []
    assert (await plain.list()).items == []
    for other in (bob, plain):
        with pytest.raises(SessionNotFoundError):
            await other.load(sid)
        with pytest.raises(SessionNotFoundError):
            await other.fork(sid)
        with pytest.raises(SessionNotFoundError):
            await other.rename(sid, "stolen")
        assert await other.delete(sid) is False
    # load() without an id resumes only within the scope: bob gets a new session.
    assert await bob.load() != sid
    assert contents(await store.read_messages(sid, scope="app/alice")) == ["alice's secret"]
    for manager in (alice, bob, plain):
        await manager.aclose()


async def test_children_and_forks_stay_in_the_scope(store: Any) -> None:
    async with SessionManager(store, Conversation(), scope="tenant-1") as manager:
        manager.conversation.add("user", "hi")
        await manager.save()
        assert manager.session_id is not None
        fork = await manager.fork(manager.session_id)
        assert (await store.get_session(fork, scope="tenant-1")) is not None
        assert await store.get_session(fork) is None
        child = manager.conversation.spawn_child("subagent")
        child_manager = manager.child_for(child)
        assert child_manager is not None
        assert child_manager.scope == "tenant-1"
        child.add("user", "sub-task")
        await manager.flush()
        child_id = child_manager.session_id
        assert child_id is not None
        assert await store.get_session(child_id, scope="tenant-1") is not None


async def test_start_new_takes_the_callers_id(store: Any) -> None:
    async with SessionManager(store, Conversation(), auto_save=False, scope="s") as manager:
        assert await manager.start_new(session_id="user_123") == "user_123"
        manager.conversation.add("user", "hello")
        await manager.save()
        with pytest.raises(SessionExistsError):
            await manager.start_new(session_id="user_123")
        with pytest.raises(ValidationError):
            await manager.start_new(session_id=123)  # type: ignore[arg-type]
    async with SessionManager(store, Conversation(), auto_save=False) as other:
        # The same id in another scope is another session.
        assert await other.start_new(session_id="user_123") == "user_123"
        assert await store.read_messages("user_123") == []
    assert contents(await store.read_messages("user_123", scope="s")) == ["hello"]


async def test_pop_removes_from_the_session_and_the_conversation(store: Any) -> None:
    async with SessionManager(store, Conversation(), auto_save=False) as manager:
        for word in ("a", "b", "c"):
            manager.conversation.add("user", word)
        await manager.save()
        manager.conversation.add("user", "d")  # unsaved: saved first, then popped
        popped = await manager.pop(2)
        assert [m["content"] for m in popped] == ["c", "d"]
        assert [m["content"] for m in manager.conversation.messages] == ["a", "b"]
        sid = manager.session_id
        assert sid is not None
        assert contents(await store.read_messages(sid)) == ["a", "b"]
        assert not manager.has_unsaved_changes
        assert [m["content"] for m in await manager.pop(5)] == ["a", "b"]
        assert await manager.pop() == []
        with pytest.raises(ValidationError):
            await manager.pop(0)


async def test_pop_conflicts_with_another_writer(store: Any) -> None:
    async with SessionManager(store, Conversation(), auto_save=False) as manager:
        manager.conversation.add("user", "a")
        await manager.save()
        sid = manager.session_id
        assert sid is not None
        await store.append_messages(sid, [json.dumps({"role": "user", "content": "x"})])
        with pytest.raises(SessionConflictError):
            await manager.pop()
        assert contents(await store.read_messages(sid)) == ["a", "x"]


@pytest.mark.parametrize("bad", [0, -1, "1", True, float("inf"), float("nan")])
def test_session_ttl_is_checked(bad: Any) -> None:
    with pytest.raises(ValidationError):
        SessionManager("memory://", Conversation(), session_ttl=bad)


@pytest.mark.parametrize("bad", ["", "a\x00b", "x" * 1025, 5])
def test_scope_is_checked(bad: Any) -> None:
    with pytest.raises(ValidationError):
        SessionManager("memory://", Conversation(), scope=bad)


async def test_session_ttl_expires_sessions_after_their_last_write() -> None:
    clock = ManualClock()
    store = unistore.connect("memory://", clock=clock)
    async with store, SessionManager(store, Conversation(), session_ttl=10) as manager:
        manager.conversation.add("user", "hi")
        await manager.save()
        sid = manager.session_id
        assert sid is not None
        record = await store.get_session(sid)
        assert record is not None
        assert record.ttl == 10
        clock.advance(8)
        manager.conversation.add("user", "still here")
        await manager.save()  # a write slides the expiry
        clock.advance(8)
        assert await store.get_session(sid) is not None
        clock.advance(3)
        assert await store.get_session(sid) is None
        assert (await manager.list()).items == []


class LosesReplies:
    """A store whose next session writes are applied but answered with a timeout."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.lose = 0
        self.fail_before = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def _write(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self.fail_before:
            self.fail_before -= 1
            raise StoreTimeoutError("no connection: nothing was sent")
        result = await getattr(self._inner, method)(*args, **kwargs)
        if self.lose:
            self.lose -= 1
            raise StoreTimeoutError("the reply was lost; the write may have been applied")
        return result

    async def create_session(self, *args: Any, **kwargs: Any) -> Any:
        return await self._write("create_session", *args, **kwargs)

    async def append_messages(self, *args: Any, **kwargs: Any) -> Any:
        return await self._write("append_messages", *args, **kwargs)

    async def replace_messages(self, *args: Any, **kwargs: Any) -> Any:
        return await self._write("replace_messages", *args, **kwargs)


@pytest.fixture
async def lossy() -> AsyncIterator[LosesReplies]:
    async with unistore.connect("memory://") as inner:
        yield LosesReplies(inner)


@pytest.mark.parametrize("on_conflict", ["raise", "rebase"])
async def test_a_save_retried_after_a_lost_reply_is_stored_once(
    lossy: LosesReplies, on_conflict: Any
) -> None:
    manager = SessionManager(lossy, Conversation(), auto_save=False)
    manager.conversation.add("user", "hello")
    await manager.save()
    sid = manager.session_id
    assert sid is not None
    manager.conversation.add("user", "second")
    lossy.lose = 1
    with pytest.raises(StoreTimeoutError):
        await manager.save()
    assert manager.has_unsaved_changes
    await manager.save(on_conflict=on_conflict)
    assert contents(await lossy.read_messages(sid)) == ["hello", "second"]
    assert not manager.has_unsaved_changes
    manager.conversation.add("user", "third")
    await manager.save()
    assert contents(await lossy.read_messages(sid)) == ["hello", "second", "third"]
    await manager.aclose()


async def test_an_edit_retried_after_a_lost_reply_is_applied_once(lossy: LosesReplies) -> None:
    manager = SessionManager(lossy, Conversation(), auto_save=False)
    for word in ("a", "b", "c"):
        manager.conversation.add("user", word)
    await manager.save()
    sid = manager.session_id
    assert sid is not None
    manager.conversation.replace(1, {"role": "user", "content": "B"})
    lossy.lose = 1
    with pytest.raises(StoreTimeoutError):
        await manager.save()
    manager.conversation.add("user", "d")
    await manager.save()
    assert contents(await lossy.read_messages(sid)) == ["a", "B", "c", "d"]
    await manager.aclose()


async def test_a_write_that_never_left_is_sent_once_later(lossy: LosesReplies) -> None:
    manager = SessionManager(lossy, Conversation(), auto_save=False)
    manager.conversation.add("user", "hello")
    await manager.save()
    sid = manager.session_id
    assert sid is not None
    manager.conversation.add("user", "second")
    lossy.fail_before = 1
    with pytest.raises(StoreTimeoutError):
        await manager.save()
    assert await manager.save() is True
    assert contents(await lossy.read_messages(sid)) == ["hello", "second"]
    await manager.aclose()


async def test_a_lost_creation_reply_does_not_leave_a_stray_session(lossy: LosesReplies) -> None:
    manager = SessionManager(lossy, Conversation(), auto_save=False)
    manager.conversation.add("user", "hello")
    lossy.lose = 1
    with pytest.raises(StoreTimeoutError):
        await manager.save()
    await manager.save()
    page = await lossy.list_sessions()
    assert [r.id for r in page.items] == [manager.session_id]
    assert contents(await lossy.read_messages(page.items[0].id)) == ["hello"]
    await manager.aclose()


async def test_a_creation_resent_after_a_lost_reply_keeps_later_changes(
    lossy: LosesReplies,
) -> None:
    """The resent creation carries its first messages; what changed since follows it."""
    manager = SessionManager(lossy, Conversation(), auto_save=False, auto_slug=False)
    manager.conversation.add("user", "a")
    manager.conversation.add("user", "b")
    lossy.lose = 1
    with pytest.raises(StoreTimeoutError):
        await manager.save(metadata={"first": True})
    manager.conversation.replace(0, {"role": "user", "content": "A"})
    manager.conversation.add("user", "c")
    assert await manager.save(metadata={"second": True}) is True
    sid = manager.session_id
    assert sid is not None
    assert contents(await lossy.read_messages(sid)) == ["A", "b", "c"]
    record = await lossy.get_session(sid)
    assert record is not None
    assert dict(record.metadata) == {"second": True}
    assert [r.id for r in (await lossy.list_sessions()).items] == [sid]
    assert not manager.has_unsaved_changes
    await manager.aclose()


async def test_a_creation_that_never_left_is_built_again_from_the_conversation(
    lossy: LosesReplies,
) -> None:
    manager = SessionManager(lossy, Conversation(), auto_save=False)
    manager.conversation.add("user", "first words")
    lossy.fail_before = 1
    with pytest.raises(StoreTimeoutError):
        await manager.save()
    manager.conversation.add("user", "more")
    await manager.save()
    sid = manager.session_id
    assert sid is not None
    assert contents(await lossy.read_messages(sid)) == ["first words", "more"]
    record = await lossy.get_session(sid)
    assert record is not None
    assert record.label == "first words"  # the label search ran again from the start
    assert [r.id for r in (await lossy.list_sessions()).items] == [sid]
    await manager.aclose()
