"""What the manager asks of the store: only new messages, rewrites from the first change,
and failures that are reported, kept pending and retried."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import pytest

from unistore import (
    Conversation,
    LifecycleErrorEvent,
    SessionManager,
    SessionRecord,
    Store,
    StoreUnavailableError,
)


class SpyStore:
    """Records session writes and reads; can make writes fail like a dead server."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[Any, ...]] = []
        self.tokens: list[str | None] = []
        self.reads = 0
        self.failing = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _maybe_fail(self) -> None:
        if self.failing:
            raise StoreUnavailableError("injected outage")

    async def create_session(self, session_id: str, **kwargs: Any) -> SessionRecord:
        self.calls.append(("create", session_id))
        self._maybe_fail()
        return await self.inner.create_session(session_id, **kwargs)  # type: ignore[no-any-return]

    async def append_messages(self, session_id: str, messages: Sequence[str], **kwargs: Any) -> int:
        contents = [json.loads(m).get("content") for m in messages]
        self.calls.append(("append", kwargs.get("expected_length"), contents))
        self.tokens.append(kwargs.get("token"))
        self._maybe_fail()
        return await self.inner.append_messages(session_id, messages, **kwargs)  # type: ignore[no-any-return]

    async def replace_messages(
        self, session_id: str, start: int, messages: Sequence[str], **kwargs: Any
    ) -> int:
        contents = [json.loads(m).get("content") for m in messages]
        self.calls.append(("replace", start, contents))
        self.tokens.append(kwargs.get("token"))
        self._maybe_fail()
        return await self.inner.replace_messages(session_id, start, messages, **kwargs)  # type: ignore[no-any-return]

    async def read_messages(self, session_id: str, **kwargs: Any) -> list[str]:
        self.reads += 1
        return await self.inner.read_messages(session_id, **kwargs)  # type: ignore[no-any-return]

    def writes(self) -> list[tuple[Any, ...]]:
        return [call for call in self.calls if call[0] in ("append", "replace")]


def pending(manager: SessionManager) -> bool:
    return manager.has_unsaved_changes


def active(manager: SessionManager) -> str | None:
    return manager.session_id


async def contents(store: Any, session_id: str) -> list[Any]:
    return [json.loads(text)["content"] for text in await store.read_messages(session_id)]


async def test_each_save_appends_only_the_new_messages(store: Store) -> None:
    spy = SpyStore(store)
    conversation = Conversation()
    async with SessionManager(spy, conversation, auto_slug=False) as manager:
        await manager.start_new()
        for i in range(4):
            conversation.add("user", i)
            await manager.flush()
        conversation.extend([{"role": "user", "content": 4}, {"role": "user", "content": 5}])
        await manager.flush()
    assert spy.writes() == [
        ("append", 0, [0]),
        ("append", 1, [1]),
        ("append", 2, [2]),
        ("append", 3, [3]),
        ("append", 4, [4, 5]),  # a burst is coalesced into one write
    ]


async def test_save_after_an_edit_rewrites_only_from_the_changed_message(store: Store) -> None:
    spy = SpyStore(store)
    conversation = Conversation()
    async with SessionManager(spy, conversation, auto_save=False) as manager:
        session_id = await manager.start_new()
        conversation.extend({"role": "user", "content": i} for i in range(8))
        await manager.save()
        spy.calls.clear()

        conversation.replace(5, {"role": "user", "content": "five"})
        conversation.add("user", 8)
        await manager.save()
        assert spy.writes() == [("replace", 5, ["five", 6, 7, 8])]

        spy.calls.clear()
        conversation.replace(2, {"role": "user", "content": 2})  # same content: nothing to do
        assert await manager.save() is False
        assert spy.writes() == []

        conversation.replace(6, {"role": "user", "content": "six"})
        conversation.replace(3, {"role": "user", "content": "three"})
        await manager.save()
        assert spy.writes() == [("replace", 3, ["three", 4, "five", "six", 7, 8])]

        spy.calls.clear()
        conversation.truncate(4)
        await manager.save()
        assert spy.writes() == [("replace", 4, [])]
        assert await contents(store, session_id) == [0, 1, 2, "three"]


async def test_loading_writes_nothing_and_later_saves_append(store: Store) -> None:
    spy = SpyStore(store)
    conversation = Conversation()
    async with SessionManager(spy, conversation) as manager:
        session_id = await manager.start_new()
        conversation.extend({"role": "user", "content": i} for i in range(3))
        await manager.flush()
        await manager.start_new()
        spy.calls.clear()
        await manager.load(session_id)
        await manager.flush()
        assert spy.writes() == []
        conversation.add("user", 3)
        await manager.flush()
        assert spy.writes() == [("append", 3, [3])]


async def test_failing_driver_reports_lifecycle_error_and_recovers(store: Store) -> None:
    spy = SpyStore(store)
    conversation = Conversation()
    errors: list[LifecycleErrorEvent] = []
    async with SessionManager(spy, conversation) as manager:
        manager.on("lifecycle_error", errors.append)
        session_id = await manager.start_new()
        conversation.add("user", "before")
        await manager.flush()

        spy.failing = True
        conversation.add("assistant", "during 1")  # must not raise into the loop
        await manager.flush()
        conversation.add("user", "during 2")
        await manager.flush()
        assert [e.operation for e in errors] == ["auto_save", "auto_save"]
        assert all(isinstance(e.error, StoreUnavailableError) for e in errors)
        assert errors[0].context == {"session_id": session_id, "unsaved": 1}
        assert errors[1].context["unsaved"] == 2
        assert pending(manager)
        with pytest.raises(StoreUnavailableError):
            await manager.save()

        spy.failing = False
        conversation.add("assistant", "after")
        await manager.flush()
        assert not pending(manager)
        assert await contents(store, session_id) == ["before", "during 1", "during 2", "after"]
        # The write whose outcome was unknown is sent again first, with its own
        # token (it may have been applied); then the rest follows.
        writes, tokens = spy.writes(), spy.tokens
        resends = [i for i, call in enumerate(writes) if call == ("append", 1, ["during 1"])]
        assert len(resends) >= 2  # the failed auto-saves and the final one
        assert len({tokens[i] for i in resends}) == 1  # always the same token
        assert writes[-1] == ("append", 2, ["during 2", "after"])
        assert tokens[-1] != tokens[resends[0]]
    assert len(errors) == 2  # the explicit save raised instead of being reported


async def test_unheard_failures_are_logged(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    spy = SpyStore(store)
    conversation = Conversation()
    async with SessionManager(spy, conversation) as manager:
        await manager.start_new()
        spy.failing = True
        with caplog.at_level(logging.ERROR, logger="unistore.sessions"):
            conversation.add("user", "lost?")
            await manager.flush()
        assert "auto_save of session" in caplog.text
        spy.failing = False


async def test_failure_at_dispose_is_reported_not_raised(store: Store) -> None:
    spy = SpyStore(store)
    conversation = Conversation()
    errors: list[LifecycleErrorEvent] = []
    manager = SessionManager(spy, conversation)
    manager.on("lifecycle_error", errors.append)
    await manager.start_new()
    spy.failing = True
    conversation.add("user", "never stored")
    await manager.aclose()
    assert [e.operation for e in errors] == ["auto_save", "dispose"]
    assert manager.closed


async def test_failing_start_is_retried_by_the_next_save(store: Store) -> None:
    spy = SpyStore(store)
    conversation = Conversation()
    errors: list[LifecycleErrorEvent] = []
    async with SessionManager(spy, conversation) as manager:
        manager.on("lifecycle_error", errors.append)
        spy.failing = True
        conversation.add("user", "one")
        await manager.flush()
        assert active(manager) is None
        spy.failing = False
        conversation.add("user", "two")
        await manager.flush()
        assert manager.session_id is not None
        assert await contents(store, manager.session_id) == ["one", "two"]
    assert [e.operation for e in errors] == ["auto_save"]


async def test_the_first_save_creates_the_session_with_its_messages_in_one_call(
    store: Store,
) -> None:
    """No session yet: one create_session carries the messages, label and metadata."""
    spy = SpyStore(store)
    conversation = Conversation()
    async with SessionManager(spy, conversation, auto_save=False) as manager:
        conversation.add("user", "plan a trip")
        conversation.add("assistant", "where to?")
        assert await manager.save(metadata={"k": 1}) is True
        session_id = manager.session_id
        assert session_id is not None
        assert spy.calls == [("create", session_id)]
        record = await store.get_session(session_id)
        assert record is not None
        assert (record.message_count, record.label, dict(record.metadata)) == (
            2,
            "plan a trip",
            {"k": 1},
        )
        assert await contents(store, session_id) == ["plan a trip", "where to?"]
        conversation.add("user", "Lisbon")
        await manager.save()
        assert spy.writes() == [("append", 2, ["Lisbon"])]
