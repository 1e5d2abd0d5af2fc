"""Child conversations get child sessions: detached forks that save on their own."""

from __future__ import annotations

import json
from typing import Any

from unistore import Conversation, LifecycleErrorEvent, SessionManager, Store, StoreUnavailableError


def msg(role: str, content: Any) -> dict[str, Any]:
    return {"role": role, "content": content}


async def contents(store: Any, session_id: str) -> list[Any]:
    return [json.loads(text)["content"] for text in await store.read_messages(session_id)]


async def record_of(manager: SessionManager, session_id: str) -> Any:
    record = await manager.store.get_session(session_id)
    assert record is not None
    return record


async def test_seeded_child_forks_the_parent_at_its_saved_length(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        parent_id = await manager.start_new()
        conversation.add("user", "Research hotels in Turin and pick three")
        conversation.add("assistant", "Delegating")
        child = conversation.spawn_child("subagent")
        (child_id,) = manager.children
        child_manager = manager.children[child_id]
        assert child_manager.parent is manager
        assert child_manager.conversation is child
        assert child_manager.session_id == child_id
        assert manager.child_for(child) is child_manager
        assert manager.child_for(conversation) is None
        child.add("user", "Find hotels near the station")
        child.add("assistant", "Found three")
        await manager.flush()

        record = await record_of(manager, child_id)
        assert (record.parent_id, record.fork_point) == (parent_id, 2)
        assert record.label == "Find hotels near the station"
        assert await contents(store, child_id) == [
            "Research hotels in Turin and pick three",
            "Delegating",
            "Find hotels near the station",
            "Found three",
        ]
        assert await contents(store, parent_id) == [
            "Research hotels in Turin and pick three",
            "Delegating",
        ]


async def test_unseeded_child_records_lineage_only(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        parent_id = await manager.start_new()
        conversation.add("user", "parent")
        child = conversation.spawn_child("subagent", seed=False)
        child.add("user", "fresh context")
        await manager.flush()
        (child_id,) = manager.children
        record = await record_of(manager, child_id)
        assert (record.parent_id, record.fork_point) == (parent_id, 0)
        assert await contents(store, child_id) == ["fresh context"]


async def test_checkpoint_children_get_no_auto_label(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        await manager.start_new()
        conversation.add("user", "long work")
        checkpoint = conversation.spawn_child("checkpoint")
        checkpoint.add("user", "Summarise the conversation so far")
        checkpoint.add("assistant", "Summary")
        await manager.flush()
        (child_id,) = manager.children
        assert (await record_of(manager, child_id)).label is None
        assert len(await contents(store, child_id)) == 3


async def test_ending_a_child_closes_its_session_manager(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        await manager.start_new()
        conversation.add("user", "go")
        child = conversation.spawn_child(seed=False)
        (child_id,) = manager.children
        child_manager = manager.children[child_id]
        disposed: list[bool] = []
        child_manager.on("dispose", lambda: disposed.append(True))
        child.add("assistant", "done")
        child.end()
        await manager.flush()
        assert disposed == [True]
        assert child_manager.closed
        assert dict(manager.children) == {}
        assert await contents(store, child_id) == ["done"]
        conversation.add("user", "parent goes on")
        await manager.flush()


async def test_disposing_the_parent_saves_and_closes_children(store: Store) -> None:
    conversation = Conversation()
    manager = SessionManager(store, conversation)
    await manager.start_new()
    child = conversation.spawn_child(seed=False)
    child.add("user", "child work")
    grandchild = child.spawn_child("checkpoint")
    grandchild.add("assistant", "grandchild note")
    (child_id,) = manager.children
    child_manager = manager.children[child_id]
    (grandchild_id,) = child_manager.children
    await manager.aclose()
    assert child_manager.closed
    assert await contents(store, child_id) == ["child work"]
    assert await contents(store, grandchild_id) == ["child work", "grandchild note"]
    grand_record = await store.get_session(grandchild_id)  # type: ignore[attr-defined]
    assert (grand_record.parent_id, grand_record.fork_point) == (child_id, 1)


async def test_parent_edits_after_the_spawn_do_not_reach_the_child(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        await manager.start_new()
        conversation.extend([msg("user", "a"), msg("assistant", "b")])
        conversation.spawn_child()
        (child_id,) = manager.children
        await manager.flush()
        conversation.replace(0, msg("user", "edited"))
        conversation.truncate(1)
        await manager.flush()
        assert await contents(store, child_id) == ["a", "b"]


async def test_child_of_an_unsaved_parent_saves_what_it_inherited(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation, auto_save=False) as manager:
        parent_id = await manager.start_new()
        conversation.add("user", "saved")
        await manager.save()
        conversation.add("assistant", "not saved yet")
        child = conversation.spawn_child()
        child.add("user", "child")
        await manager.flush()
        (child_id,) = manager.children
        child_manager = manager.children[child_id]
        record = await record_of(manager, child_id)
        assert (record.parent_id, record.fork_point) == (parent_id, 1)
        assert await contents(store, child_id) == ["saved"]  # the child does not auto-save
        await child_manager.save()
        assert await contents(store, child_id) == ["saved", "not saved yet", "child"]


async def test_child_of_a_parent_without_session_is_standalone(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        child = conversation.spawn_child(seed=False)
        child.add("user", "orphan work")
        await manager.flush()
        (child_id,) = manager.children
        record = await record_of(manager, child_id)
        assert record.parent_id is None
        assert await contents(store, child_id) == ["orphan work"]


class FailingForks:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.failing = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def fork_session(self, *args: Any, **kwargs: Any) -> Any:
        if self.failing:
            raise StoreUnavailableError("injected outage")
        return await self.inner.fork_session(*args, **kwargs)


async def test_child_failures_bubble_up_and_the_fork_is_retried(store: Store) -> None:
    wrapped = FailingForks(store)
    conversation = Conversation()
    errors: list[LifecycleErrorEvent] = []
    async with SessionManager(wrapped, conversation) as manager:
        manager.on("lifecycle_error", errors.append)
        await manager.start_new()
        conversation.add("user", "parent")
        child = conversation.spawn_child()
        (child_id,) = manager.children
        await manager.flush()
        assert [e.operation for e in errors] == ["child_session"]
        assert errors[0].context["session_id"] == child_id
        wrapped.failing = False
        child.add("assistant", "child")
        await manager.flush()
        assert await contents(store, child_id) == ["parent", "child"]
