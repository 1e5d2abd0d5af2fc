"""Neutral messages <-> Anthropic Messages API messages (and its system prompt)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from unistore.integrations._messages._canonical import (
    Message,
    Part,
    check_content,
    check_list,
    check_messages,
    fail,
    kind,
    mapping_at,
    no_ids,
    only,
    require,
)

_FMT = "the Anthropic format"
_DATA_URL = re.compile(r"data:([^;,]+);base64,(.*)", re.DOTALL)


def to_anthropic(messages: Iterable[object], *, drop_ids: bool = False) -> dict[str, Any]:
    """Convert neutral messages to ``{"system": ..., "messages": [...]}``."""
    neutral = check_messages(messages)
    request: dict[str, Any] = {}
    if neutral and neutral[0]["role"] == "system":
        first = neutral.pop(0)
        no_ids(first, "message 0", _FMT, drop_ids)
        if "name" in first:
            raise fail("message 0", f"{_FMT} has no participant names")
        request["system"] = _blocks(first["content"], "message 0", images=False)
    offset = len(request)
    out: list[dict[str, Any]] = []
    # A user turn of tool results, still open to the results and the user
    # blocks that follow it (Anthropic sends them as one turn).
    results: list[dict[str, Any]] | None = None
    for index, message in enumerate(neutral, start=offset):
        where = f"message {index}"
        no_ids(message, where, _FMT, drop_ids)
        role = message["role"]
        if role in ("system", "developer"):
            raise fail(
                where, f"{_FMT} has one system prompt, first; a {role} message cannot follow"
            )
        if "name" in message:
            raise fail(where, f"{_FMT} has no participant names")
        if role == "tool":
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message["tool_call_id"]}
            block["content"] = _blocks(message["content"], where, images=True)
            if "is_error" in message:
                block["is_error"] = message["is_error"]
            if results is None:
                results = []
                out.append({"role": "user", "content": results})
            results.append(block)
            continue
        if role == "user" and results is not None and isinstance(message["content"], list):
            results.extend(_blocks(message["content"], where, images=True))
            results = None
            continue
        results = None
        if role == "user":
            out.append({"role": "user", "content": _blocks(message["content"], where, images=True)})
            continue
        calls = message.get("tool_calls")
        content = message["content"]
        if not calls:
            if content is None:
                raise fail(where, f"{_FMT} needs content in an assistant message")
            out.append({"role": "assistant", "content": _blocks(content, where, images=False)})
            continue
        blocks = [] if content is None else _as_list(_blocks(content, where, images=False))
        for i, call in enumerate(calls):
            blocks.append(_tool_use(call, f"{where}, tool call {i}"))
        out.append({"role": "assistant", "content": blocks})
    request["messages"] = out
    return request


def _as_list(blocks: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "text", "text": blocks}] if isinstance(blocks, str) else blocks


def _tool_use(call: dict[str, Any], where: str) -> dict[str, Any]:
    try:
        arguments = json.loads(call["arguments"])
    except ValueError:
        raise fail(where, f"{_FMT} needs tool call arguments that are JSON") from None
    if not isinstance(arguments, dict):
        raise fail(where, f"{_FMT} needs tool call arguments that are a JSON object")
    return {"type": "tool_use", "id": call["id"], "name": call["name"], "input": arguments}


def _blocks(content: str | list[Part] | None, where: str, *, images: bool) -> Any:
    if isinstance(content, str) or content is None:
        return content
    blocks: list[dict[str, Any]] = []
    for part in content:
        if part["type"] == "text":
            blocks.append({"type": "text", "text": part["text"]})
            continue
        if not images:
            raise fail(where, f"{_FMT} takes no images here")
        if "detail" in part:
            raise fail(where, f"{_FMT} has no image detail setting")
        match = _DATA_URL.fullmatch(part["url"])
        if match:
            source = {"type": "base64", "media_type": match[1], "data": match[2]}
        else:
            source = {"type": "url", "url": part["url"]}
        blocks.append({"type": "image", "source": source})
    return blocks


def from_anthropic(messages: Iterable[object], *, system: object = None) -> list[Message]:
    """Convert Anthropic messages (and the request's ``system``) to neutral messages."""
    out: list[Message] = []
    if system is not None:
        out.append({"role": "system", "content": _content(system, "system", images=False)})
    for index, raw in enumerate(check_list(messages, "Anthropic messages")):
        where = f"Anthropic message {index}"
        item = mapping_at(raw, where)
        only(item, {"role", "content"}, where)
        role = item.get("role")
        content = item.get("content")
        if role == "user":
            out.extend(_user_turn(content, where))
        elif role == "assistant":
            out.append(_assistant_turn(content, where))
        else:
            raise fail(where, f"unknown Anthropic role {role!r}"[:200])
    return out


def _user_turn(content: object, where: str) -> list[Message]:
    if not isinstance(content, list):
        return [{"role": "user", "content": _content(content, where, images=True)}]
    turn: list[Message] = []
    rest: list[object] = []
    for i, raw in enumerate(content):
        here = f"{where}, block {i}"
        block = mapping_at(raw, here)
        if block.get("type") != "tool_result":
            rest.append(block)
            continue
        if rest:
            raise fail(here, "tool results must come before the other blocks of a turn")
        only(block, {"type", "tool_use_id", "content", "is_error"}, here)
        message: Message = {
            "role": "tool",
            "tool_call_id": require(block, "tool_use_id", str, here),
        }
        message["content"] = _content(block.get("content", ""), here, images=True)
        if "is_error" in block:
            message["is_error"] = require(block, "is_error", bool, here)
        turn.append(message)
    if rest or not turn:
        turn.append({"role": "user", "content": _content(rest, where, images=True)})
    return turn


def _assistant_turn(content: object, where: str) -> Message:
    if not isinstance(content, list):
        return {"role": "assistant", "content": _content(content, where, images=False)}
    texts: list[object] = []
    calls: list[dict[str, Any]] = []
    for i, raw in enumerate(content):
        here = f"{where}, block {i}"
        block = mapping_at(raw, here)
        if block.get("type") != "tool_use":
            if calls:
                raise fail(here, "text after a tool use cannot keep its place in a neutral message")
            texts.append(block)
            continue
        only(block, {"type", "id", "name", "input"}, here)
        arguments = require(block, "input", dict, here)
        try:
            text = json.dumps(arguments, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise fail(here, f"the tool input is not JSON: {exc}") from None
        calls.append(
            {
                "id": require(block, "id", str, here),
                "name": require(block, "name", str, here),
                "arguments": text,
            }
        )
    message: Message = {"role": "assistant", "content": _content(texts, where, images=False)}
    if calls:
        message["tool_calls"] = calls
    return message


def _content(content: object, where: str, *, images: bool) -> Any:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise fail(where, f"content must be a str or a list of blocks, got {kind(content)}")
    parts: list[Part] = []
    for i, raw in enumerate(content):
        here = f"{where}, block {i}"
        block = mapping_at(raw, here)
        if block.get("type") == "text":
            only(block, {"type", "text"}, here)
            parts.append({"type": "text", "text": require(block, "text", str, here)})
        elif block.get("type") == "image" and images:
            only(block, {"type", "source"}, here)
            source = mapping_at(block.get("source"), f"{here}, source")
            if source.get("type") == "base64":
                only(source, {"type", "media_type", "data"}, here)
                media = require(source, "media_type", str, here)
                url = f"data:{media};base64,{require(source, 'data', str, here)}"
                if _DATA_URL.fullmatch(url) is None or ";" in media or "," in media:
                    raise fail(here, "the image media type cannot be written as a data URL")
            elif source.get("type") == "url":
                only(source, {"type", "url"}, here)
                url = require(source, "url", str, here)
                if _DATA_URL.fullmatch(url):
                    raise fail(here, "a data: URL belongs in a base64 image source")
            else:
                raise fail(here, f"unsupported image source {source.get('type')!r}"[:200])
            parts.append({"type": "image", "url": url})
        else:
            raise fail(here, f"unsupported block type {block.get('type')!r}"[:200])
    check_content(parts, where)
    return parts
