"""Conversation: the observable message list, without any store."""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest

from unistore import (
    ChildSpawnedEvent,
    Conversation,
    MessageCompleteEvent,
    MessagesChangedEvent,
    ValidationError,
)


def record(conversation: Conversation) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    conversation.on("message_complete", lambda e: seen.append(("complete", e)))
    conversation.on("messages_changed", lambda e: seen.append(("changed", e)))
    conversation.on("child_spawned", lambda e: seen.append(("child", e)))
    conversation.on("ended", lambda: seen.append(("ended", None)))
    return seen


def test_append_add_extend_emit_message_complete() -> None:
    conversation = Conversation()
    seen = record(conversation)
    stored = conversation.append({"role": "user", "content": "hi"})
    conversation.add("assistant", "hello", model="m1")
    conversation.extend([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    assert stored == {"role": "user", "content": "hi"}
    assert len(conversation) == 4
    assert list(conversation.messages)[1] == {
        "role": "assistant",
        "content": "hello",
        "model": "m1",
    }
    assert [kind for kind, _ in seen] == ["complete"] * 4
    assert [e.position for _, e in seen] == [0, 1, 2, 3]
    assert isinstance(seen[1][1], MessageCompleteEvent)
    assert seen[1][1].message["model"] == "m1"


def test_messages_are_detached_json_copies() -> None:
    original: dict[str, Any] = {"role": "user", "content": ["a", ("b", 1)]}
    conversation = Conversation()
    conversation.append(original)
    original["content"].append("later")
    assert conversation.messages[0] == {"role": "user", "content": ["a", ["b", 1]]}
    copies = conversation.to_list()
    copies[0]["content"] = "changed"
    assert conversation.messages[0]["content"] == ["a", ["b", 1]]


def test_messages_view_is_live_and_read_only() -> None:
    conversation = Conversation([{"role": "system", "content": "s"}])
    view = conversation.messages
    conversation.add("user", "u")
    assert len(view) == 2
    assert view == [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    assert tuple(view[-1:]) == ({"role": "user", "content": "u"},)
    assert not hasattr(view, "append")
    with pytest.raises(TypeError):
        cast(Any, view)[0] = {"role": "x"}


@pytest.mark.parametrize(
    "bad",
    [
        "text",
        {"content": "no role"},
        {"role": "", "content": "x"},
        {"role": 3, "content": "x"},
        {"role": "user", "content": {1, 2}},
        {"role": "user", "content": float("nan")},
        {"role": "user", "content": object()},
    ],
)
def test_invalid_messages_are_rejected(bad: Any) -> None:
    conversation = Conversation()
    seen = record(conversation)
    with pytest.raises(ValidationError):
        conversation.append(bad)
    assert len(conversation) == 0
    assert seen == []


def test_draft_streams_then_completes() -> None:
    conversation = Conversation()
    seen = record(conversation)
    draft = conversation.begin("assistant", id="msg_1")
    draft.write("Hel")
    draft.write("lo")
    assert draft.content == "Hello"
    assert len(conversation) == 0
    draft.update(stop_reason="end_turn")
    stored = draft.complete()
    assert stored == {
        "role": "assistant",
        "content": "Hello",
        "id": "msg_1",
        "stop_reason": "end_turn",
    }
    assert draft.done
    assert [kind for kind, _ in seen] == ["complete"]
    with pytest.raises(ValidationError):
        draft.write("more")
    with pytest.raises(ValidationError):
        draft.complete()


def test_draft_with_blocks_and_context_manager() -> None:
    conversation = Conversation()
    with conversation.begin("assistant", content=[]) as draft:
        with pytest.raises(ValidationError):
            draft.write("text needs a text content")
        draft.content = [{"type": "text", "text": "hi"}]
    assert conversation.messages[0]["content"] == [{"type": "text", "text": "hi"}]

    failing = conversation.begin("assistant")
    try:
        with failing:
            failing.write("partial")
            raise RuntimeError("stream broke")
    except RuntimeError:
        pass
    assert failing.done
    assert len(conversation) == 1


def test_discarded_draft_adds_nothing() -> None:
    conversation = Conversation()
    draft = conversation.begin("assistant")
    draft.write("x")
    draft.discard()
    assert len(conversation) == 0


def test_replace_and_truncate_emit_changes() -> None:
    conversation = Conversation(
        [{"role": "user", "content": str(i)} for i in range(5)],
    )
    seen = record(conversation)
    conversation.replace(1, {"role": "user", "content": "one"})
    conversation.replace(-1, {"role": "user", "content": "four"})
    conversation.truncate(3)
    conversation.truncate(10)  # nothing to remove: no event
    assert [m["content"] for m in conversation.messages] == ["0", "one", "2"]
    changes = [e for kind, e in seen if kind == "changed"]
    assert changes == [
        MessagesChangedEvent(1, "replace"),
        MessagesChangedEvent(4, "replace"),
        MessagesChangedEvent(3, "truncate"),
    ]
    with pytest.raises(IndexError):
        conversation.replace(3, {"role": "user", "content": "x"})
    with pytest.raises(ValidationError):
        conversation.truncate(-1)


def test_spawn_child_seeded_and_empty() -> None:
    parent = Conversation([{"role": "user", "content": "task"}])
    seen = record(parent)
    seeded = parent.spawn_child("checkpoint")
    fresh = parent.spawn_child("subagent", seed=False)
    assert seeded.kind == "checkpoint"
    assert seeded.parent is parent
    assert list(seeded.messages) == list(parent.messages)
    assert seeded.inherited == 1
    assert len(fresh) == 0
    assert fresh.inherited == 0
    seeded.add("assistant", "summary")
    assert len(parent) == 1
    assert [e.child for kind, e in seen if kind == "child"] == [seeded, fresh]
    assert isinstance(seen[0][1], ChildSpawnedEvent)
    assert parent.children == (seeded, fresh)
    with pytest.raises(ValidationError):
        parent.spawn_child("root")  # type: ignore[arg-type]


def test_end_cascades_to_children_and_freezes() -> None:
    parent = Conversation()
    child = parent.spawn_child()
    grandchild = child.spawn_child()
    order: list[str] = []
    parent.on("ended", lambda: order.append("parent"))
    child.on("ended", lambda: order.append("child"))
    grandchild.on("ended", lambda: order.append("grandchild"))
    parent.end()
    parent.end()
    assert order == ["grandchild", "child", "parent"]
    assert parent.ended
    assert child.ended
    assert parent.children == ()
    with pytest.raises(ValidationError):
        parent.add("user", "late")
    with pytest.raises(ValidationError):
        child.begin("assistant")


def test_child_end_leaves_parent_running() -> None:
    parent = Conversation()
    child = parent.spawn_child()
    child.end()
    assert parent.children == ()
    parent.add("user", "still here")


def test_unsubscribe_and_unknown_event() -> None:
    conversation = Conversation()
    calls: list[int] = []
    unsubscribe = conversation.on("message_complete", lambda e: calls.append(e.position))
    conversation.add("user", "a")
    unsubscribe()
    unsubscribe()
    conversation.add("user", "b")
    assert calls == [0]
    with pytest.raises(ValidationError, match="no event"):
        conversation.on("message_completed", print)  # type: ignore[call-overload]


def test_same_callback_twice_is_called_twice_and_unsubscribed_once() -> None:
    conversation = Conversation()
    calls: list[int] = []

    def callback(event: MessageCompleteEvent) -> None:
        calls.append(event.position)

    first = conversation.on("message_complete", callback)
    conversation.on("message_complete", callback)
    conversation.add("user", "a")
    first()
    conversation.add("user", "b")
    assert calls == [0, 0, 1]


def test_raising_callback_is_logged_and_isolated(caplog: pytest.LogCaptureFixture) -> None:
    conversation = Conversation()
    calls: list[int] = []

    def broken(event: MessageCompleteEvent) -> None:
        raise RuntimeError("subscriber bug")

    conversation.on("message_complete", broken)
    conversation.on("message_complete", lambda e: calls.append(e.position))
    with caplog.at_level(logging.ERROR, logger="unistore.sessions"):
        conversation.add("user", "a")
    assert calls == [0]
    assert len(conversation) == 1
    assert "message_complete" in caplog.text


def test_unknown_kind_rejected() -> None:
    with pytest.raises(ValidationError):
        Conversation(kind="other")  # type: ignore[arg-type]


def test_json_messages_is_a_live_read_only_view_of_the_texts() -> None:
    conversation = Conversation([{"role": "user", "content": "hi"}])
    texts = conversation.json_messages
    assert list(texts) == ['{"role":"user","content":"hi"}']
    conversation.add("assistant", "yo")
    assert len(texts) == 2
    assert texts[1:] == ('{"role":"assistant","content":"yo"}',)
    assert not hasattr(texts, "append")


def test_restore_swaps_the_list_and_emits_one_reset() -> None:
    conversation = Conversation([{"role": "user", "content": "old"}])
    changes: list[MessagesChangedEvent] = []
    conversation.on("messages_changed", changes.append)
    message = {"role": "user", "content": "new"}
    conversation.restore([message], ['{"role":"user","content":"new"}'])
    assert conversation.messages == [message]
    assert conversation.messages[0] is message
    assert list(conversation.json_messages) == ['{"role":"user","content":"new"}']
    assert changes == [MessagesChangedEvent(0, "reset")]
    with pytest.raises(ValidationError):
        conversation.restore([message], [])
