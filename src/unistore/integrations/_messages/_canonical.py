"""The neutral message form the converters speak, and its checks.

A neutral message is what a :class:`~unistore.Conversation` holds when it is
fed through :mod:`unistore.integrations.messages`: provider-independent keys
only, so one conversation can be sent to any provider.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from unistore.errors import ValidationError

ROLES: Final = ("system", "developer", "user", "assistant", "tool")
_KEYS: Final = {
    "system": {"role", "content", "name", "id"},
    "developer": {"role", "content", "name", "id"},
    "user": {"role", "content", "name", "id"},
    "assistant": {"role", "content", "name", "id", "tool_calls"},
    "tool": {"role", "content", "tool_call_id", "is_error", "id"},
}
_CALL_KEYS: Final = {"id", "name", "arguments", "item_id"}

Message = dict[str, Any]
Part = dict[str, Any]


def fail(where: str, problem: str) -> ValidationError:
    """Return the error for a message that cannot be converted (never its text)."""
    return ValidationError(f"{where}: {problem}")


def kind(value: object) -> str:
    """Name a value's type for an error message."""
    return type(value).__name__


def require(
    mapping: Mapping[str, Any], key: str, types: type | tuple[type, ...], where: str
) -> Any:
    """Return ``mapping[key]`` checked against ``types``."""
    if key not in mapping:
        raise fail(where, f"{key!r} is missing")
    value = mapping[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _tuple(types)):
        raise fail(where, f"{key!r} must be {_names(types)}, got {kind(value)}")
    return value


def only(mapping: Mapping[str, Any], allowed: set[str] | frozenset[str], where: str) -> None:
    """Refuse keys outside ``allowed``: a key nobody maps would be lost."""
    extra = sorted(set(mapping) - set(allowed))
    if extra:
        raise fail(where, f"{extra[0]!r} has no place in this format")


def mapping_at(value: object, where: str) -> Mapping[str, Any]:
    """Return ``value`` if it is a mapping with ``str`` keys."""
    if not isinstance(value, Mapping):
        raise fail(where, f"must be a mapping, got {kind(value)}")
    return value


def _tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _names(types: type | tuple[type, ...]) -> str:
    return " or ".join("None" if t is type(None) else t.__name__ for t in _tuple(types))


def check_part(part: object, where: str) -> Part:
    """Check one neutral content part: ``text`` or ``image``."""
    part = mapping_at(part, where)
    kind_ = part.get("type")
    if kind_ == "text":
        only(part, {"type", "text"}, where)
        require(part, "text", str, where)
    elif kind_ == "image":
        only(part, {"type", "url", "detail"}, where)
        require(part, "url", str, where)
        if "detail" in part:
            require(part, "detail", str, where)
    else:
        raise fail(where, f"unknown content part type {kind_!r} (known: 'text', 'image')")
    return dict(part)


def check_content(value: object, where: str, *, none: bool = False) -> str | list[Part] | None:
    """Check neutral content: a string, a list of parts, or (if allowed) ``None``."""
    if value is None and none:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [check_part(p, f"{where}, part {i}") for i, p in enumerate(value)]
    raise fail(where, f"content must be a str or a list of parts, got {kind(value)}")


def check_message(message: object, index: int) -> Message:
    """Check one neutral message and return a plain-dict copy of it."""
    where = f"message {index}"
    message = mapping_at(message, where)
    role = message.get("role")
    if role not in ROLES:
        raise fail(where, f"role must be one of {', '.join(ROLES)}, got {role!r}"[:200])
    only(message, _KEYS[role], f"{where} ({role})")
    out: Message = {"role": role}
    for key in ("id", "name"):
        if key in message:
            out[key] = require(message, key, str, where)
    if role == "tool":
        out["tool_call_id"] = require(message, "tool_call_id", str, where)
        if "is_error" in message:
            out["is_error"] = require(message, "is_error", bool, where)
    if "content" not in message:
        raise fail(where, "'content' is missing (use None or [] for none)")
    out["content"] = check_content(message["content"], where, none=role == "assistant")
    if "tool_calls" in message:
        calls = message["tool_calls"]
        if not isinstance(calls, list):
            raise fail(where, f"'tool_calls' must be a list, got {kind(calls)}")
        out["tool_calls"] = [check_call(c, f"{where}, tool call {i}") for i, c in enumerate(calls)]
    return out


def check_call(call: object, where: str) -> dict[str, Any]:
    """Check one neutral tool call: ``id``, ``name``, ``arguments`` (JSON text)."""
    call = mapping_at(call, where)
    only(call, _CALL_KEYS, where)
    out = {key: require(call, key, str, where) for key in ("id", "name", "arguments")}
    if "item_id" in call:
        out["item_id"] = require(call, "item_id", str, where)
    return out


def check_messages(messages: Iterable[object]) -> list[Message]:
    """Check every neutral message of a conversation."""
    if isinstance(messages, str | bytes | Mapping):
        raise ValidationError(f"messages must be a list of messages, got {kind(messages)}")
    return [check_message(m, i) for i, m in enumerate(messages)]


def check_list(items: object, what: str) -> list[Any]:
    """Return a provider's list of messages or items."""
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
        raise ValidationError(f"{what} must be a list, got {kind(items)}")
    return list(items)


def no_ids(message: Message, where: str, fmt: str, drop_ids: bool) -> None:
    """Refuse ids a format has no place for, unless the caller drops them."""
    ids = "id" in message or any("item_id" in c for c in message.get("tool_calls", ()))
    if ids and not drop_ids:
        raise fail(where, f"{fmt} has no place for item ids; pass drop_ids=True to leave them out")
