"""Two writers of one session never interleave nor drop messages; saves never overlap."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import pytest

from unistore import (
    Conversation,
    LifecycleErrorEvent,
    SessionConflictError,
    SessionManager,
    Store,
)


async def contents(store: Any, session_id: str) -> list[Any]:
    return [json.loads(text)["content"] for text in await store.read_messages(session_id)]


async def test_second_writer_gets_a_conflict_then_rebases(store: Store) -> None:
    first, second = Conversation(), Conversation()
    async with (
        SessionManager(store, first, auto_save=False) as alice,
        SessionManager(store, second, auto_save=False) as bob,
    ):
        session_id = await alice.start_new()
        await bob.load(session_id)
        first.add("user", "A1")
        await alice.save()
        second.add("user", "B1")
        with pytest.raises(SessionConflictError) as caught:
            await bob.save()
        assert (caught.value.expected, caught.value.actual) == (0, 1)
        assert caught.value.session_id == session_id
        assert await contents(store, session_id) == ["A1"]
        assert [m["content"] for m in second.messages] == ["B1"]  # still pending

        assert await bob.save(on_conflict="rebase") is True
        assert await contents(store, session_id) == ["A1", "B1"]
        assert [m["content"] for m in second.messages] == ["A1", "B1"]

        first.add("assistant", "A2")
        with pytest.raises(SessionConflictError):
            await alice.save()
        await alice.save(on_conflict="rebase")
        assert await contents(store, session_id) == ["A1", "B1", "A2"]
        with pytest.raises(ValueError, match="on_conflict"):
            await alice.save(on_conflict="merge")  # type: ignore[arg-type]


async def test_auto_save_conflicts_are_reported_and_nothing_is_lost(store: Store) -> None:
    first, second = Conversation(), Conversation()
    errors: list[LifecycleErrorEvent] = []
    async with SessionManager(store, first) as alice, SessionManager(store, second) as bob:
        bob.on("lifecycle_error", errors.append)
        session_id = await alice.start_new()
        await bob.load(session_id)
        first.add("user", "A1")
        await alice.flush()
        second.add("user", "B1")  # must not raise
        await bob.flush()
        assert len(errors) == 1
        assert isinstance(errors[0].error, SessionConflictError)
        assert errors[0].operation == "auto_save"
        assert errors[0].context == {"session_id": session_id, "unsaved": 1}
        assert bob.has_unsaved_changes
        await bob.save(on_conflict="rebase")
        assert await contents(store, session_id) == ["A1", "B1"]


async def test_interleaved_writers_keep_every_message_once(store: Store) -> None:
    first, second = Conversation(), Conversation()
    async with SessionManager(store, first) as alice, SessionManager(store, second) as bob:
        session_id = await alice.start_new()
        await bob.load(session_id)
        conflicts = 0

        def count(event: LifecycleErrorEvent) -> None:
            nonlocal conflicts
            assert isinstance(event.error, SessionConflictError)
            conflicts += 1

        alice.on("lifecycle_error", count)
        bob.on("lifecycle_error", count)

        async def write(conversation: Conversation, manager: SessionManager, tag: str) -> None:
            for i in range(12):
                conversation.add("user", f"{tag}{i}")
                await asyncio.sleep(0)
                if i % 4 == 3:
                    await manager.flush()
            while True:
                await manager.flush()
                try:
                    await manager.save(on_conflict="rebase")
                except SessionConflictError:
                    continue
                return

        await asyncio.gather(write(first, alice, "a"), write(second, bob, "b"))
        # Whoever saved first missed the other's last messages: one more round.
        for manager in (alice, bob):
            await manager.save(on_conflict="rebase")
        final = await contents(store, session_id)
        assert sorted(final) == sorted([f"a{i}" for i in range(12)] + [f"b{i}" for i in range(12)])
        assert [c for c in final if c.startswith("a")] == [f"a{i}" for i in range(12)]
        assert [c for c in final if c.startswith("b")] == [f"b{i}" for i in range(12)]
        assert conflicts > 0


class SlowStore:
    """Delays appends and tracks how many run at once."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.in_flight = 0
        self.most = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def append_messages(self, session_id: str, messages: Sequence[str], **kw: Any) -> Any:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(0.005)
            return await self.inner.append_messages(session_id, messages, **kw)
        finally:
            self.in_flight -= 1


async def test_saves_of_one_manager_never_overlap(store: Store) -> None:
    slow = SlowStore(store)
    conversation = Conversation()
    async with SessionManager(slow, conversation) as manager:
        session_id = await manager.start_new()

        async def produce() -> None:
            for i in range(10):
                conversation.add("user", i)
                await asyncio.sleep(0.002)

        await asyncio.gather(produce(), manager.save(), manager.save({"k": 1}))
        await manager.flush()
        assert slow.most == 1
        assert await contents(store, session_id) == list(range(10))
