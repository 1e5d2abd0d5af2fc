"""Neutral messages <-> OpenAI chat-completions messages."""

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
    no_ids,
    only,
    require,
)

_FMT = "the chat-completions format"


def to_chat(messages: Iterable[object], *, drop_ids: bool = False) -> list[dict[str, Any]]:
    """Convert neutral messages to chat-completions messages."""
    out: list[dict[str, Any]] = []
    for index, message in enumerate(check_messages(messages)):
        where = f"message {index}"
        no_ids(message, where, _FMT, drop_ids)
        role = message["role"]
        if message.get("is_error"):
            raise fail(where, f"{_FMT} cannot mark a tool result as an error")
        item: dict[str, Any] = {"role": role}
        if role == "tool":
            item["tool_call_id"] = message["tool_call_id"]
        item["content"] = _content_to_chat(message["content"], where, images=role == "user")
        if "name" in message:
            item["name"] = message["name"]
        if "tool_calls" in message:
            item["tool_calls"] = [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
                for call in message["tool_calls"]
            ]
        out.append(item)
    return out


def _content_to_chat(content: str | list[Part] | None, where: str, *, images: bool) -> Any:
    if content is None or isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for part in content:
        if part["type"] == "text":
            parts.append({"type": "text", "text": part["text"]})
            continue
        if not images:
            raise fail(where, f"{_FMT} takes images in user messages only")
        image = {"url": part["url"]}
        if "detail" in part:
            image["detail"] = part["detail"]
        parts.append({"type": "image_url", "image_url": image})
    return parts


def from_chat(messages: Iterable[object]) -> list[Message]:
    """Convert chat-completions messages to neutral messages."""
    out: list[Message] = []
    for index, raw in enumerate(check_list(messages, "chat messages")):
        where = f"chat message {index}"
        item = mapping_at(raw, where)
        role = item.get("role")
        if role in ("system", "developer", "user"):
            only(item, {"role", "content", "name"}, where)
        elif role == "assistant":
            only(item, {"role", "content", "name", "tool_calls"}, where)
        elif role == "tool":
            only(item, {"role", "content", "tool_call_id"}, where)
        else:
            raise fail(where, f"unknown chat role {role!r}"[:200])
        message: Message = {"role": role}
        if role == "tool":
            message["tool_call_id"] = require(item, "tool_call_id", str, where)
        if "content" not in item and role != "assistant":
            raise fail(where, "'content' is missing")
        message["content"] = _content_from_chat(item.get("content"), where, role)
        if "name" in item:
            message["name"] = require(item, "name", str, where)
        if "tool_calls" in item:
            calls = require(item, "tool_calls", list, where)
            message["tool_calls"] = [
                _call_from_chat(c, f"{where}, tool call {i}") for i, c in enumerate(calls)
            ]
        out.append(message)
    return out


def _content_from_chat(content: object, where: str, role: str) -> Any:
    if content is None:
        if role != "assistant":
            raise fail(where, "only an assistant message may have no content")
        return None
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise fail(where, f"content must be a str or a list of parts, got {kind(content)}")
    parts: list[Part] = []
    for i, raw in enumerate(content):
        here = f"{where}, part {i}"
        part = mapping_at(raw, here)
        if part.get("type") == "text":
            only(part, {"type", "text"}, here)
            parts.append({"type": "text", "text": require(part, "text", str, here)})
        elif part.get("type") == "image_url" and role == "user":
            only(part, {"type", "image_url"}, here)
            image = mapping_at(part.get("image_url"), f"{here}, image_url")
            only(image, {"url", "detail"}, here)
            neutral: Part = {"type": "image", "url": require(image, "url", str, here)}
            if "detail" in image:
                neutral["detail"] = require(image, "detail", str, here)
            parts.append(neutral)
        else:
            raise fail(here, f"unsupported {role} content part {part.get('type')!r}"[:200])
    return parts


def _call_from_chat(raw: object, where: str) -> dict[str, Any]:
    call = mapping_at(raw, where)
    only(call, {"id", "type", "function"}, where)
    if call.get("type") != "function":
        raise fail(where, f"unsupported tool call type {call.get('type')!r}"[:200])
    function = mapping_at(call.get("function"), f"{where}, function")
    only(function, {"name", "arguments"}, where)
    return {
        "id": require(call, "id", str, where),
        "name": require(function, "name", str, where),
        "arguments": require(function, "arguments", str, where),
    }
