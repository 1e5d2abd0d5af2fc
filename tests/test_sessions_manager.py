"""SessionManager: each method and event, on every driver."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

import unistore
from unistore import (
    Conversation,
    LoadEvent,
    NotSupportedError,
    SaveEvent,
    SessionManager,
    SessionNotFoundError,
    Store,
    StoreClosedError,
    ValidationError,
)

SESSION_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def msg(role: str, content: Any, **extra: Any) -> dict[str, Any]:
    return {"role": role, "content": content, **extra}


def active(manager: SessionManager) -> str | None:
    return manager.session_id


async def stored(store: Any, session_id: str) -> list[dict[str, Any]]:
    return [json.loads(text) for text in await store.read_messages(session_id)]


# -- start_new / save ------------------------------------------------------------


async def test_start_new_begins_each_session_with_the_preamble(store: Store) -> None:
    # The messages the conversation held when the manager took it (a system
    # prompt) open every session start_new() creates; the chat of the previous
    # session stays in that session only.
    conversation = Conversation([msg("system", "be brief")])
    async with SessionManager(store, conversation) as manager:
        first = await manager.start_new()
        assert [m["content"] for m in conversation.messages] == ["be brief"]
        conversation.add("user", "hello")
        await manager.flush()
        second = await manager.start_new("Named")
        assert SESSION_ID.match(first)
        assert first < second
        assert manager.session_id == second
        assert [m["role"] for m in conversation.messages] == ["system"]
        record = await manager.store.get_session(second)
        assert record is not None
        assert record.label == "Named"
        assert record.message_count == 1
        assert len(await manager.store.read_messages(first)) == 2
        await manager.load(first)
        assert [m["role"] for m in conversation.messages] == ["system", "user"]


async def test_start_new_without_an_active_session_keeps_what_the_conversation_holds(
    store: Store,
) -> None:
    conversation = Conversation([msg("system", "be brief")])
    async with SessionManager(store, conversation, auto_save=False) as manager:
        conversation.add("user", "typed before any session")
        session_id = await manager.start_new()
        stored = await manager.store.read_messages(session_id)
        assert [json.loads(text)["role"] for text in stored] == ["system", "user"]
        assert not manager.has_unsaved_changes


async def test_start_new_on_an_empty_conversation_writes_no_message(store: Store) -> None:
    async with SessionManager(store, Conversation()) as manager:
        saves: list[SaveEvent] = []
        manager.on("save", saves.append)
        session_id = await manager.start_new()
        record = await manager.store.get_session(session_id)
        assert record is not None
        assert record.message_count == 0
        assert saves == []


async def test_auto_save_after_each_completed_message(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        saves: list[SaveEvent] = []
        manager.on("save", saves.append)
        session_id = await manager.start_new()
        conversation.add("user", "hi")
        await manager.flush()
        conversation.add("assistant", "hello", model="m")
        with conversation.begin("user") as draft:
            draft.write("again")
        await manager.flush()
        assert await stored(store, session_id) == [
            msg("user", "hi"),
            msg("assistant", "hello", model="m"),
            msg("user", "again"),
        ]
        assert not manager.has_unsaved_changes
        assert saves[0] == SaveEvent(session_id, (msg("user", "hi"),), 0, 1)
        assert saves[-1].length == 3
        assert sum(len(event.messages) for event in saves) == 3


async def test_auto_save_off_saves_only_on_request(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation, auto_save=False) as manager:
        session_id = await manager.start_new()
        conversation.add("user", "hi")
        await manager.flush()
        assert await store.read_messages(session_id) == []  # type: ignore[attr-defined]
        assert manager.has_unsaved_changes
        assert await manager.save() is True
        assert await manager.save() is False
        assert await stored(store, session_id) == [msg("user", "hi")]


async def test_first_save_starts_a_session_when_none_is_active(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        assert active(manager) is None
        conversation.add("user", "no start_new needed")
        await manager.flush()
        session_id = manager.session_id
        assert session_id is not None
        assert await stored(store, session_id) == [msg("user", "no start_new needed")]


async def test_save_metadata_replaces_the_stored_metadata(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation, auto_save=False) as manager:
        session_id = await manager.start_new()
        assert await manager.save({"model": "m1", "tags": ["a"]}) is True
        record = await manager.store.get_session(session_id)
        assert record is not None
        assert dict(record.metadata) == {"model": "m1", "tags": ["a"]}
        conversation.add("user", "x")
        await manager.save()
        record = await manager.store.get_session(session_id)
        assert record is not None
        assert dict(record.metadata) == {"model": "m1", "tags": ["a"]}
        assert record.message_count == 1
        with pytest.raises(ValidationError):
            await manager.save(["not", "a", "mapping"])  # type: ignore[arg-type]


async def test_edits_and_truncation_are_saved(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        session_id = await manager.start_new()
        conversation.extend(msg("user", str(i)) for i in range(6))
        await manager.flush()
        conversation.replace(2, msg("user", "two"))
        await manager.flush()
        conversation.truncate(4)
        await manager.flush()
        assert [m["content"] for m in await stored(store, session_id)] == ["0", "1", "two", "3"]
        conversation.truncate(0)
        await manager.flush()
        assert await stored(store, session_id) == []


# -- load ----------------------------------------------------------------------


async def test_load_by_id_replaces_messages_without_saving(store: Store) -> None:
    writer = Conversation()
    async with SessionManager(store, writer) as manager:
        session_id = await manager.start_new("old")
        writer.extend([msg("user", "q"), msg("assistant", "a")])
        await manager.flush()

    reader = Conversation([msg("user", "unsaved scratch")])
    async with SessionManager(store, reader) as manager:
        events: list[Any] = []
        manager.on("load", events.append)
        manager.on("save", events.append)
        assert await manager.load(session_id) == session_id
        await manager.flush()
        assert list(reader.messages) == [msg("user", "q"), msg("assistant", "a")]
        assert events == [LoadEvent(session_id, (msg("user", "q"), msg("assistant", "a")))]
        assert not manager.has_unsaved_changes
        reader.add("user", "more")
        await manager.flush()
        assert len(await stored(store, session_id)) == 3


async def test_load_without_id_takes_the_most_recently_updated(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        older = await manager.start_new()
        conversation.add("user", "older")
        await manager.flush()
        newer = await manager.start_new()
        conversation.add("user", "newer")
        await manager.flush()
        assert await manager.load() == newer
        conversation.add("assistant", "touch the older one")
        await manager.flush()
        await manager.rename(older, "renamed")
        assert await manager.load() == older
        assert list(conversation.messages) == [msg("user", "older")]


async def test_load_without_id_on_an_empty_store_starts_a_session(store: Store) -> None:
    # Nothing to resume: a session starts, and it begins with what the
    # conversation holds (nothing is dropped).
    conversation = Conversation([msg("user", "x")])
    async with SessionManager(store, conversation) as manager:
        session_id = await manager.load()
        assert manager.session_id == session_id
        assert len(conversation) == 1
        assert len(await manager.store.read_messages(session_id)) == 1


async def test_load_unknown_session_raises_and_keeps_state(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        session_id = await manager.start_new()
        conversation.add("user", "kept")
        with pytest.raises(SessionNotFoundError):
            await manager.load("01ARZ3NDEKTSV4RRFFQ69G5FAV")
        assert manager.session_id == session_id
        assert list(conversation.messages) == [msg("user", "kept")]


# -- fork ----------------------------------------------------------------------


async def test_fork_shares_a_prefix_and_keeps_the_active_session(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        parent = await manager.start_new()
        conversation.extend(msg("user", str(i)) for i in range(5))
        forked = await manager.fork(parent, at=2, label="branch")
        assert manager.session_id == parent
        record = await manager.store.get_session(forked)
        assert record is not None
        assert (record.parent_id, record.fork_point, record.label) == (parent, 2, "branch")
        assert [m["content"] for m in await stored(store, forked)] == ["0", "1"]
        whole = await manager.fork(parent)
        assert len(await stored(store, whole)) == 5  # pending auto-saves were waited for
        with pytest.raises(ValidationError):
            await manager.fork(parent, at=6)
        with pytest.raises(SessionNotFoundError):
            await manager.fork("01ARZ3NDEKTSV4RRFFQ69G5FAV")


async def test_fork_chains_load_correctly(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        root = await manager.start_new()
        conversation.extend(msg("user", f"a{i}") for i in range(5))
        middle = await manager.fork(root, at=3)
        await manager.load(middle)
        conversation.extend([msg("user", "b3"), msg("user", "b4")])
        leaf = await manager.fork(middle, at=4)
        await manager.load(leaf)
        conversation.add("user", "c4")
        await manager.flush()

        assert await manager.load(leaf) == leaf
        assert [m["content"] for m in conversation.messages] == ["a0", "a1", "a2", "b3", "c4"]
        await manager.load(middle)
        assert [m["content"] for m in conversation.messages] == ["a0", "a1", "a2", "b3", "b4"]
        await manager.load(root)
        assert [m["content"] for m in conversation.messages] == ["a0", "a1", "a2", "a3", "a4"]


async def test_deleting_parents_never_changes_what_forks_load(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        root = await manager.start_new()
        conversation.extend(msg("user", f"a{i}") for i in range(4))
        middle = await manager.fork(root, at=2)
        await manager.load(middle)
        conversation.add("user", "b2")
        leaf = await manager.fork(middle)
        await manager.load(leaf)
        conversation.add("user", "c3")
        await manager.flush()
        expected_middle = await stored(store, middle)
        expected_leaf = await stored(store, leaf)

        assert await manager.delete(root) is True
        assert await stored(store, middle) == expected_middle
        assert await stored(store, leaf) == expected_leaf
        assert await manager.delete(middle) is True
        assert await manager.delete(middle) is False
        await manager.load(leaf)
        assert list(conversation.messages) == expected_leaf
        record = await manager.store.get_session(leaf)
        assert record is not None
        assert record.parent_id == middle  # lineage stays as recorded


async def test_editing_a_parent_never_changes_its_forks(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        parent = await manager.start_new()
        conversation.extend(msg("user", str(i)) for i in range(4))
        child = await manager.fork(parent)
        conversation.replace(1, msg("user", "edited"))
        conversation.truncate(3)
        await manager.flush()
        assert [m["content"] for m in await stored(store, child)] == ["0", "1", "2", "3"]


# -- list / delete / rename ----------------------------------------------------


async def test_list_pages_newest_first_with_metadata_only(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        ids = []
        for i in range(5):
            ids.append(await manager.start_new(f"s{i}"))
            conversation.add("user", f"m{i}")
            await manager.flush()
        first = await manager.list(limit=2)
        assert [r.id for r in first.items] == [ids[4], ids[3]]
        assert first.items[0].message_count == 1
        assert first.items[0].label == "s4"
        assert first.next_cursor is not None
        seen = [r.id for r in first.items]
        cursor: str | None = first.next_cursor
        while cursor is not None:
            page = await manager.list(limit=2, cursor=cursor)
            seen += [r.id for r in page.items]
            cursor = page.next_cursor
        assert seen == ids[::-1]
        assert [r.id for r in (await manager.list()).items] == ids[::-1]


async def test_delete_the_active_session_clears_the_conversation(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        keep = await manager.start_new()
        conversation.add("user", "keep me")
        doomed = await manager.start_new()
        conversation.add("user", "doomed")
        assert await manager.delete(doomed) is True
        assert manager.session_id is None
        assert len(conversation) == 0
        assert await manager.store.get_session(doomed) is None
        assert await stored(store, keep) == [msg("user", "keep me")]
        conversation.add("user", "fresh")
        await manager.flush()
        assert manager.session_id not in (None, doomed, keep)


async def test_rename_sets_the_label_and_wins_over_auto_slug(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        session_id = await manager.start_new()
        await manager.rename(session_id, "Chosen")
        conversation.add("user", "a question that would make a label")
        await manager.flush()
        record = await manager.store.get_session(session_id)
        assert record is not None
        assert record.label == "Chosen"
        with pytest.raises(SessionNotFoundError):
            await manager.rename("01ARZ3NDEKTSV4RRFFQ69G5FAV", "x")
        with pytest.raises(ValidationError):
            await manager.rename(session_id, None)  # type: ignore[arg-type]


# -- auto-slug -----------------------------------------------------------------


async def label_of(manager: SessionManager) -> str | None:
    assert manager.session_id is not None
    record = await manager.store.get_session(manager.session_id)
    assert record is not None
    return record.label


async def test_auto_slug_labels_once_from_the_first_user_message(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        await manager.start_new()
        conversation.add("system", "You are a travel planner with strong opinions.")
        conversation.add("assistant", "Hello! Where do you want to go this year?")
        await manager.flush()
        assert await label_of(manager) is None  # waits for a user message
        conversation.add(
            "user",
            [{"type": "text", "text": "Plan   a three week trip through the\nmountains of Italy"}],
        )
        await manager.flush()
        assert await label_of(manager) == "Plan a three week trip through the mountains of\u2026"
        conversation.replace(2, msg("user", "Something else entirely"))
        conversation.add("user", "Another question")
        await manager.flush()
        assert await label_of(manager) == "Plan a three week trip through the mountains of\u2026"


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Hi", "Hi"),
        ("z" * 80, "z" * 50 + "\u2026"),
        ("Привет! Расскажи про 🚀 ракеты и 🌍 планету Земля, пожалуйста, подробно", None),
    ],
)
async def test_auto_slug_text_shapes(store: Store, text: str, label: str | None) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        await manager.start_new()
        conversation.add("user", text)
        await manager.flush()
        got = await label_of(manager)
        assert got is not None
        if label is not None:
            assert got == label
        else:
            assert got.endswith("\u2026")
            assert text.startswith(got[:-1])
            assert len(got) <= 51


async def test_explicit_label_and_auto_slug_off_are_respected(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        await manager.start_new("Given")
        conversation.add("user", "question")
        await manager.flush()
        assert await label_of(manager) == "Given"
    conversation = Conversation()
    async with SessionManager(store, conversation, auto_slug=False) as manager:
        await manager.start_new()
        conversation.add("user", "question")
        await manager.flush()
        assert await label_of(manager) is None


async def test_loaded_session_keeps_its_label(store: Store) -> None:
    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        session_id = await manager.start_new()
        conversation.add("user", "first topic")
        await manager.flush()
        await manager.start_new()
        await manager.load(session_id)
        conversation.add("user", "second topic")
        await manager.flush()
        assert await label_of(manager) == "first topic"


# -- events and lifecycle --------------------------------------------------------


async def test_dispose_event_flushes_and_unsubscribes(store: Store) -> None:
    conversation = Conversation()
    manager = SessionManager(store, conversation)
    disposed: list[str] = []
    manager.on("dispose", lambda: disposed.append("dispose"))
    unsubscribe = manager.on("save", lambda e: disposed.append("save"))
    session_id = await manager.start_new()
    unsubscribe()
    conversation.add("user", "saved on close")
    await manager.aclose()
    await manager.aclose()
    assert disposed == ["dispose"]
    assert manager.closed
    assert await stored(store, session_id) == [msg("user", "saved on close")]
    conversation.add("user", "after close is not saved")
    with pytest.raises(StoreClosedError):
        await manager.save()
    with pytest.raises(StoreClosedError):
        await manager.start_new()
    with pytest.raises(ValidationError):
        manager.on("saved", print)  # type: ignore[call-overload]


async def test_ending_the_conversation_disposes_the_manager(store: Store) -> None:
    conversation = Conversation()
    manager = SessionManager(store, conversation)
    disposed: list[bool] = []
    manager.on("dispose", lambda: disposed.append(True))
    session_id = await manager.start_new()
    conversation.add("user", "last words")
    conversation.end()
    await manager.aclose()
    assert disposed == [True]
    assert await stored(store, session_id) == [msg("user", "last words")]


async def test_manager_given_a_url_owns_the_store(store_url: str) -> None:
    conversation = Conversation()
    async with SessionManager(store_url, conversation) as manager:
        session_id = await manager.start_new()
        conversation.add("user", "persisted")
    opened = manager.store
    # Stores are BaseStore or SDK StoreBase subclasses (or a proxy of one): all have `closed`.
    assert getattr(opened, "closed", None) is True
    if store_url.startswith("memory:"):
        return
    async with unistore.connect(store_url) as again:
        try:
            assert await stored(again, session_id) == [msg("user", "persisted")]
        finally:
            await again.destroy()  # type: ignore[attr-defined]


async def test_a_named_memory_store_is_shared_between_managers() -> None:
    url = "memory://sessions-manager-shared"
    first = Conversation()
    async with SessionManager(url, first) as manager:
        session_id = await manager.start_new()
        first.add("user", "hello")
    second = Conversation()
    async with SessionManager(url, second) as manager:
        await manager.load(session_id)
        assert list(second.messages) == [msg("user", "hello")]
        await manager.delete(session_id)


async def test_store_without_session_documents_is_rejected() -> None:
    class Plain:
        capabilities = frozenset({unistore.Capability.KEY_VALUE})

    with pytest.raises(NotSupportedError):
        SessionManager(Plain(), Conversation())  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        SessionManager("memory://", [])  # type: ignore[arg-type]
