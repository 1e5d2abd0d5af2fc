"""Hostile session ids and labels: never another session, labels stored verbatim."""

from __future__ import annotations

import json
from typing import Any

import pytest

from unistore import Conversation, SessionManager, SessionNotFoundError, Store, ValidationError

HOSTILE_IDS = [
    "*",
    "?",
    "[a-z]*",
    "../x",
    "..",
    "/",
    "a/b",
    "\\",
    "%",
    "%s%n",
    "{tag}",
    "a:b",
    "\x00",
    "x\x00y",
    "\n",
    "line\r\nbreak",
    "' OR 1=1 --",
    "\u202eevil",
    "🦄",
    "x" * 10_240,
]

HOSTILE_LABELS = [
    "*",
    "",
    "\x00nul\x00",
    "multi\nline\r\nlabel",
    "'; DROP TABLE sessions; --",
    "../../etc/passwd",
    "🦄" * 100,
    "\u202eright-to-left",
    "y" * 10_240,
]


async def contents(store: Any, session_id: str) -> list[Any]:
    return [json.loads(text)["content"] for text in await store.read_messages(session_id)]


async def make_bystander(manager: SessionManager, conversation: Conversation) -> str:
    session_id = await manager.start_new("bystander")
    conversation.add("user", "bystander message")
    await manager.flush()
    return session_id


async def test_unknown_hostile_ids_touch_no_other_session(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        bystander = await make_bystander(manager, conversation)
        for session_id in HOSTILE_IDS:
            with pytest.raises(SessionNotFoundError):
                await manager.load(session_id)
            with pytest.raises(SessionNotFoundError):
                await manager.rename(session_id, "hijack")
            with pytest.raises(SessionNotFoundError):
                await manager.fork(session_id)
            assert await manager.delete(session_id) is False, repr(session_id[:20])
        assert manager.session_id == bystander
        record = await manager.store.get_session(bystander)
        assert record is not None
        assert record.label == "bystander"
        assert await contents(store, bystander) == ["bystander message"]
        assert [r.id for r in (await manager.list()).items] == [bystander]


async def test_sessions_with_hostile_ids_are_kept_apart(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        bystander = await make_bystander(manager, conversation)
        for session_id in HOSTILE_IDS:
            await manager.store.create_session(session_id, label="hostile")
            await manager.store.append_messages(
                session_id, [json.dumps({"role": "user", "content": session_id})], expected_length=0
            )
        for session_id in HOSTILE_IDS:
            assert await manager.load(session_id) == session_id
            assert [m["content"] for m in conversation.messages] == [session_id]
            conversation.add("assistant", "reply")
            await manager.flush()
            fork = await manager.fork(session_id, at=1)
            await manager.rename(session_id, "renamed")
            assert await contents(store, session_id) == [session_id, "reply"]
            assert await manager.delete(session_id) is True
            assert await contents(store, fork) == [session_id]
            assert await manager.delete(fork) is True
        assert await contents(store, bystander) == ["bystander message"]
        bystander_record = await manager.store.get_session(bystander)
        assert bystander_record is not None
        assert bystander_record.label == "bystander"
        assert [r.id for r in (await manager.list()).items] == [bystander]


async def test_hostile_labels_are_stored_verbatim(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        bystander = await make_bystander(manager, conversation)
        expected = {bystander: "bystander"}
        for label in HOSTILE_LABELS:
            first = await manager.start_new(label)
            second = await manager.start_new()
            await manager.rename(second, label)
            expected |= {first: label, second: label}
        for session_id, label in expected.items():
            record = await manager.store.get_session(session_id)
            assert record is not None
            assert record.label == label
        listed = {r.id: r.label for r in (await manager.list(limit=100)).items}
        assert listed == expected


async def test_ids_and_labels_must_be_strings(store: Store) -> None:
    async with SessionManager(store, Conversation()) as manager:
        with pytest.raises(ValidationError):
            await manager.load(42)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await manager.delete(None)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await manager.start_new(label=b"bytes")  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await manager.fork(["x"])  # type: ignore[arg-type]
