"""Races around disposal and pending child sessions, made deterministic with a slow store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import unistore
from unistore import (
    Conversation,
    LifecycleErrorEvent,
    SessionManager,
    StoreUnavailableError,
    ValidationError,
)


class SlowStore:
    """Session writes that yield to the loop, a hook before an append, failing forks."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.before_append: Callable[[], object] | None = None
        self.failing_forks = 0
        self.failing_appends = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def append_messages(self, *args: Any, **kwargs: Any) -> Any:
        if self.before_append is not None:
            hook, self.before_append = self.before_append, None
            hook()
        if self.failing_appends:
            self.failing_appends -= 1
            raise StoreUnavailableError("injected outage")
        await asyncio.sleep(0.005)
        return await self.inner.append_messages(*args, **kwargs)

    async def fork_session(self, *args: Any, **kwargs: Any) -> Any:
        if self.failing_forks:
            self.failing_forks -= 1
            raise StoreUnavailableError("injected outage")
        await asyncio.sleep(0.005)
        return await self.inner.fork_session(*args, **kwargs)


async def test_a_message_added_during_the_final_save_is_saved_before_close() -> None:
    async with unistore.connect("memory://") as inner:
        store = SlowStore(inner)
        conversation = Conversation()
        manager = SessionManager(store, conversation)
        errors: list[LifecycleErrorEvent] = []
        manager.on("lifecycle_error", errors.append)
        session_id = await manager.start_new()
        conversation.add("user", "one")
        await manager.flush()
        store.failing_appends = 1
        conversation.add("assistant", "two")
        await manager.flush()
        assert [event.operation for event in errors] == ["auto_save"]
        # The final save retries "two"; "three" arrives while it is being written.
        store.before_append = lambda: conversation.add("user", "three")
        await manager.aclose()
        worker = manager._saver.worker
        assert worker is None or worker.done(), "an auto-save outlived the manager"
        assert len(await inner.read_messages(session_id)) == 3
        assert not manager.has_unsaved_changes


async def test_concurrent_forks_of_a_child_whose_session_is_pending() -> None:
    async with unistore.connect("memory://") as inner:
        store = SlowStore(inner)
        conversation = Conversation()
        errors: list[LifecycleErrorEvent] = []
        async with SessionManager(store, conversation) as manager:
            manager.on("lifecycle_error", errors.append)
            await manager.start_new()
            conversation.add("user", "hi")
            await manager.flush()
            store.failing_forks = 1
            conversation.spawn_child()
            ((child_id, child),) = manager.children.items()
            await manager.flush()
            assert [event.operation for event in errors] == ["child_session"]
            forks = await asyncio.gather(child.fork(child_id), child.fork(child_id))
            assert len(set(forks)) == 2
            for fork_id in forks:
                record = await inner.get_session(fork_id)
                assert record is not None
                assert record.parent_id == child_id


async def test_an_async_callback_is_refused_at_subscription() -> None:
    conversation = Conversation()
    async with SessionManager("memory://", conversation) as manager:

        async def report(event: LifecycleErrorEvent) -> None:
            raise AssertionError("never awaited")

        with pytest.raises(ValidationError, match="async function"):
            manager.on("lifecycle_error", report)
        with pytest.raises(ValidationError, match="async function"):
            conversation.on("ended", report)  # type: ignore[call-overload]
