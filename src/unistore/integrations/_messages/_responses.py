"""Neutral messages <-> OpenAI Responses API input items."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from unistore.integrations._messages._canonical import (
    Message,
    Part,
    check_list,
    check_messages,
    fail,
    kind,
    mapping_at,
    only,
    require,
)

_FMT = "the Responses format"


def to_responses(messages: Iterable[object]) -> list[dict[str, Any]]:
    """Convert neutral messages to Responses API input items."""
    out: list[dict[str, Any]] = []
    for index, message in enumerate(check_messages(messages)):
        where = f"message {index}"
        role = message["role"]
        if "name" in message:
            raise fail(where, f"{_FMT} has no participant names")
        if role == "tool":
            if message.get("is_error"):
                raise fail(where, f"{_FMT} cannot mark a tool result as an error")
            item: dict[str, Any] = {"type": "function_call_output"}
            if "id" in message:
                item["id"] = message["id"]
            item["call_id"] = message["tool_call_id"]
            item["output"] = _parts_to_input(message["content"], where)
            out.append(item)
            continue
        if message["content"] is not None:
            out.append(_message_item(message, where))
        elif "id" in message:
            raise fail(where, f"{_FMT} keeps an id on a message with content only")
        elif not message.get("tool_calls"):
            raise fail(
                where,
                f"an assistant message with no content and no tool calls has no item in {_FMT}",
            )
        for call in message.get("tool_calls", ()):
            fc: dict[str, Any] = {"type": "function_call"}
            if "item_id" in call:
                fc["id"] = call["item_id"]
                fc["status"] = "completed"
            fc.update(call_id=call["id"], name=call["name"], arguments=call["arguments"])
            out.append(fc)
    return out


def _message_item(message: Message, where: str) -> dict[str, Any]:
    role, content = message["role"], message["content"]
    if role != "assistant":
        if "id" in message:
            raise fail(where, f"{_FMT} keeps ids on assistant messages only")
        return {"role": role, "content": _parts_to_input(content, where)}
    if isinstance(content, list):
        texts: Any = []
        for part in content:
            if part["type"] != "text":
                raise fail(where, f"{_FMT} takes no images in assistant messages")
            texts.append({"type": "output_text", "text": part["text"], "annotations": []})
    else:
        texts = content
    if "id" not in message:
        return {"role": "assistant", "content": texts}
    if not isinstance(texts, list):
        raise fail(where, f"{_FMT} needs a list of parts in an assistant message with an id")
    return {
        "type": "message",
        "id": message["id"],
        "role": "assistant",
        "status": "completed",
        "content": texts,
    }


def _parts_to_input(content: str | list[Part] | None, where: str) -> Any:
    if isinstance(content, str):
        return content
    if content is None:  # pragma: no cover - only assistants may have None
        raise fail(where, "content is missing")
    parts: list[dict[str, Any]] = []
    for part in content:
        if part["type"] == "text":
            parts.append({"type": "input_text", "text": part["text"]})
        else:
            image = {"type": "input_image", "image_url": part["url"]}
            if "detail" in part:
                image["detail"] = part["detail"]
            parts.append(image)
    return parts


def from_responses(items: Iterable[object]) -> list[Message]:
    """Convert Responses API input items to neutral messages."""
    out: list[Message] = []
    # Whether the last neutral message is an assistant turn that function
    # calls directly after it belong to.
    open_turn = False
    for index, raw in enumerate(check_list(items, "Responses items")):
        where = f"item {index}"
        item = mapping_at(raw, where)
        type_ = item.get("type", "message")
        if type_ == "message":
            message = _message_from_item(item, where)
            out.append(message)
            open_turn = message["role"] == "assistant"
        elif type_ == "function_call":
            only(item, {"type", "id", "call_id", "name", "arguments", "status"}, where)
            call = {
                "id": require(item, "call_id", str, where),
                "name": require(item, "name", str, where),
                "arguments": require(item, "arguments", str, where),
            }
            if "id" in item:
                call["item_id"] = require(item, "id", str, where)
            if item.get("status", "completed") != "completed":
                raise fail(where, "only a completed function call can be sent back")
            if not open_turn:
                out.append({"role": "assistant", "content": None})
                open_turn = True
            out[-1].setdefault("tool_calls", []).append(call)
        elif type_ == "function_call_output":
            only(item, {"type", "id", "call_id", "output", "status"}, where)
            if item.get("status", "completed") != "completed":
                raise fail(where, "only a completed function call output can be sent back")
            message = {"role": "tool"}
            if "id" in item:
                message["id"] = require(item, "id", str, where)
            message["tool_call_id"] = require(item, "call_id", str, where)
            message["content"] = _parts_from_input(item.get("output"), where, "output")
            out.append(message)
            open_turn = False
        else:
            raise fail(where, f"the {type_!r} item has no neutral form"[:200])
    return out


def _message_from_item(item: Any, where: str) -> Message:
    only(item, {"type", "id", "role", "content", "status"}, where)
    role = item.get("role")
    if role not in ("system", "developer", "user", "assistant"):
        raise fail(where, f"unknown message role {role!r}"[:200])
    if item.get("status", "completed") != "completed":
        raise fail(where, "only a completed message can be sent back")
    message: Message = {"role": role}
    if "id" in item:
        if role != "assistant":
            raise fail(where, f"{_FMT} keeps ids on assistant messages only")
        message["id"] = require(item, "id", str, where)
    if role != "assistant":
        message["content"] = _parts_from_input(item.get("content"), where, "content")
        return message
    content = item.get("content")
    if isinstance(content, str):
        message["content"] = content
        return message
    if not isinstance(content, list):
        raise fail(where, f"content must be a str or a list, got {kind(content)}")
    texts: list[Part] = []
    for i, raw in enumerate(content):
        here = f"{where}, part {i}"
        part = mapping_at(raw, here)
        if part.get("type") != "output_text":
            raise fail(here, f"unsupported assistant part {part.get('type')!r}"[:200])
        only(part, {"type", "text", "annotations"}, here)
        if part.get("annotations", []) != []:
            raise fail(here, "annotations have no neutral form")
        texts.append({"type": "text", "text": require(part, "text", str, here)})
    message["content"] = texts
    return message


def _parts_from_input(content: object, where: str, key: str) -> Any:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise fail(where, f"{key!r} must be a str or a list of parts, got {kind(content)}")
    parts: list[Part] = []
    for i, raw in enumerate(content):
        here = f"{where}, part {i}"
        part = mapping_at(raw, here)
        if part.get("type") == "input_text":
            only(part, {"type", "text"}, here)
            parts.append({"type": "text", "text": require(part, "text", str, here)})
        elif part.get("type") == "input_image":
            only(part, {"type", "image_url", "detail"}, here)
            image: Part = {"type": "image", "url": require(part, "image_url", str, here)}
            if "detail" in part:
                image["detail"] = require(part, "detail", str, here)
            parts.append(image)
        else:
            raise fail(here, f"unsupported input part {part.get('type')!r}"[:200])
    return parts
