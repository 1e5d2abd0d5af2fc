"""SessionManager creates sessions only when asked, and load() resumes root sessions."""

from __future__ import annotations

import json
from typing import Any

from unistore import Conversation, SessionManager

SYSTEM = {"role": "system", "content": "You are terse."}


def contents(texts: list[str]) -> list[Any]:
    return [json.loads(text)["content"] for text in texts]


async def test_opening_listing_and_closing_create_no_session(store: Any) -> None:
    for auto_save in (True, False):
        async with SessionManager(store, Conversation([SYSTEM]), auto_save=auto_save) as manager:
            assert (await manager.list()).items == []
        assert manager.session_id is None
    assert (await store.list_sessions()).items == []


async def test_the_first_completed_message_starts_a_session_with_what_was_there(
    store: Any,
) -> None:
    conversation = Conversation([SYSTEM])
    async with SessionManager(store, conversation) as manager:
        conversation.add("user", "hi")
        await manager.flush()
        sid = manager.session_id
        assert sid is not None
    assert contents(await store.read_messages(sid)) == ["You are terse.", "hi"]
    assert [r.id for r in (await store.list_sessions()).items] == [sid]


async def test_without_auto_save_closing_writes_nothing(store: Any) -> None:
    conversation = Conversation([SYSTEM])
    manager = SessionManager(store, conversation, auto_save=False)
    conversation.add("user", "hi")
    await manager.aclose()
    # Without auto-save nothing is written in the background, and the final
    # save of a manager that never had a session writes nothing either.
    assert (await store.list_sessions()).items == []


async def test_an_explicit_save_starts_a_session(store: Any) -> None:
    async with SessionManager(store, Conversation([SYSTEM]), auto_save=False) as manager:
        assert await manager.save() is True
        sid = manager.session_id
        assert sid is not None
    assert contents(await store.read_messages(sid)) == ["You are terse."]


async def test_load_resumes_the_latest_root_session_not_a_fork(store: Any) -> None:
    async with SessionManager(store, Conversation(), auto_save=False) as manager:
        manager.conversation.add("user", "original")
        await manager.save()
        root = manager.session_id
        assert root is not None
        fork = await manager.fork(root, at=1, label="what if")
        await store.append_messages(fork, [json.dumps({"role": "user", "content": "later"})])
    async with SessionManager(store, Conversation(), auto_save=False) as again:
        assert await again.load() == root
        assert [m["content"] for m in again.conversation.messages] == ["original"]
        assert await again.load(include_forks=True) == fork


async def test_load_with_only_forks_left_starts_a_session(store: Any) -> None:
    async with SessionManager(store, Conversation(), auto_save=False) as manager:
        manager.conversation.add("user", "a")
        await manager.save()
        root = manager.session_id
        assert root is not None
        fork = await manager.fork(root)
        await manager.delete(root)
        started = await manager.load()
        assert started not in (root, fork)
        assert manager.conversation.messages == []


async def test_pop_on_an_empty_conversation_starts_no_session(store: Any) -> None:
    async with SessionManager(store, Conversation()) as manager:
        assert await manager.pop() == []
        assert manager.session_id is None
    assert (await store.list_sessions()).items == []
