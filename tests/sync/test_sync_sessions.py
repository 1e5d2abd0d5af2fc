"""unistore.sync.SessionManager: the async manager's behaviour from blocking code."""

from __future__ import annotations

import json
import threading

import pytest

from unistore import sync
from unistore.errors import EventLoopError, SessionNotFoundError, ValidationError


def roles(texts: list[str]) -> list[str]:
    return [json.loads(text)["role"] for text in texts]


def test_messages_added_from_a_thread_are_auto_saved(store_url: str) -> None:
    with sync.connect(store_url) as store:
        conversation = sync.Conversation([{"role": "system", "content": "be brief"}])
        with sync.SessionManager(store, conversation, scope="app/u1") as manager:
            saves: list[object] = []
            manager.on("save", saves.append)
            session_id = manager.start_new()
            conversation.add("user", "hello")
            conversation.add("assistant", "hi")
            manager.flush()
            assert not manager.has_unsaved_changes
            stored = store.read_messages(session_id, scope="app/u1")
            assert roles(stored) == ["system", "user", "assistant"]
            assert saves
        # A second manager resumes it: the latest root session of the scope.
        again = sync.Conversation()
        with sync.SessionManager(store, again, scope="app/u1") as manager:
            assert manager.load() == session_id
            assert [m["role"] for m in again.messages] == ["system", "user", "assistant"]
            with pytest.raises(SessionNotFoundError):
                manager.load("no-such-session")


def test_first_message_starts_a_session_and_close_saves_it(store_url: str) -> None:
    with sync.connect(store_url) as store:
        conversation = sync.Conversation()
        manager = sync.SessionManager(store, conversation)
        conversation.add("user", "plan a trip")
        manager.close()
        page = store.list_sessions()
        assert len(page.items) == 1
        assert page.items[0].message_count == 1
        assert page.items[0].label == "plan a trip"


def test_fork_pop_rename_delete_and_list(store_url: str) -> None:
    with sync.SessionManager(store_url, sync.Conversation(), auto_save=False) as manager:
        conversation = manager.conversation
        conversation.add("user", "one")
        conversation.add("assistant", "two")
        assert manager.save() is True
        root = manager.session_id
        assert root is not None
        branch = manager.fork(root, at=1, label="branch")
        assert manager.pop() == [{"role": "assistant", "content": "two"}]
        manager.rename(root, "renamed")
        ids = {record.id: record.label for record in manager.list().items}
        assert ids == {root: "renamed", branch: "branch"}
        assert manager.delete(branch) is True
        with pytest.raises(ValidationError):
            manager.pop(-1)


def test_child_conversations_get_their_own_sessions(store_url: str) -> None:
    with sync.SessionManager(store_url, sync.Conversation()) as manager:
        conversation = manager.conversation
        conversation.add("user", "research this")
        child = conversation.spawn_child("subagent")
        child.add("assistant", "looking")
        manager.flush()
        child_manager = manager.child_for(child)
        assert child_manager is not None
        assert child_manager.session_id is not None
        stored = manager.store.read_messages(child_manager.session_id)
        assert roles(stored)[-1] == "assistant"


def test_two_threads_with_their_own_managers_share_a_store(store_url: str) -> None:
    with sync.connect(store_url) as store:
        done: list[str] = []

        def chat(name: str) -> None:
            conversation = sync.Conversation()
            with sync.SessionManager(store, conversation, scope=name) as manager:
                for i in range(5):
                    conversation.add("user", f"{name} {i}")
                manager.flush()
                assert manager.session_id is not None
                done.append(manager.session_id)

        threads = [threading.Thread(target=chat, args=(f"user-{i}",)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(done) == 2
        for session_id in done:
            # Each session lives in exactly one of the two scopes, whole.
            found = [
                scope
                for scope in ("user-0", "user-1")
                if store.get_session(session_id, scope=scope) is not None
            ]
            assert len(found) == 1
            assert len(store.read_messages(session_id, scope=found[0])) == 5


async def test_inside_an_event_loop_it_raises_and_points_to_the_async_api() -> None:
    with pytest.raises(EventLoopError, match="async API"):
        sync.SessionManager("memory://", sync.Conversation())
