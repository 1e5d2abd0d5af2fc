"""The one set of argument rules every driver applies, before any I/O.

The public methods of the SDK's capability bases call these, so a driver's
primitives only ever see checked, normalised arguments: ``str`` ids, ``bytes``
values, ``float`` TTLs in seconds, ``dict`` mappings, distinct field lists.
Each check raises :class:`~unistore.errors.ValidationError` naming what was
wrong, never the value itself (values may be secrets; ids may be 10 KB).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from unistore.errors import CorruptionError, SlotKindError, ValidationError

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "RETENTION_MAX",
    "SCOPE_MAX",
    "TOKEN_MAX",
    "add_counter",
    "check_amount",
    "check_cursor",
    "check_count",
    "check_fields",
    "check_id",
    "check_label",
    "check_last",
    "check_limit",
    "check_mapping",
    "check_messages",
    "check_metadata",
    "check_pop",
    "check_retention",
    "check_scope",
    "check_slot_names",
    "check_token",
    "check_ttl",
    "check_value",
    "check_watch",
    "not_utf8",
    "parse_counter",
    "short",
]

#: Bounds of a counter: a 64-bit signed integer, as in Redis.
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

#: The canonical decimal spelling of an int64: no sign on zero, no leading
#: zeros, no blanks or underscores (what Redis's INCR accepts).
_CANONICAL: Final = re.compile(rb"-?[1-9][0-9]{0,18}|0")

_SHOWN: Final = 80
#: Shown of a slot name by :func:`not_utf8`: the namespaced store's bound, so
#: that a decoding read gives one message whichever layer decodes.
_SHOWN_SLOT: Final = 64


def short(text: str) -> str:
    """Return a bounded ``repr`` of an id for messages and logs.

    ``repr`` escapes newlines and control characters, so a hostile id cannot
    forge a log line; the bound keeps a 10 KB id out of the message.
    """
    return _bounded(text, _SHOWN)


def _bounded(text: str, shown: int) -> str:
    if len(text) <= shown:
        return repr(text)
    return f"{text[:shown]!r}...(+{len(text) - shown} chars)"


def not_utf8(slot: str, exc: UnicodeDecodeError) -> CorruptionError:
    """Return the error for a slot value that a decoding read cannot read as text.

    The message names the slot (bounded, as :func:`short` does) and the offset
    of the first byte that is not UTF-8, never the value. Raise it ``from
    None``: the codec's own message quotes the offending bytes.

    Args:
        slot: The slot whose value was read.
        exc: The error of ``bytes.decode()``.
    """
    return CorruptionError(
        f"slot {_bounded(slot, _SHOWN_SLOT)} holds bytes that are not UTF-8 "
        f"(at offset {exc.start}); read it through a store opened with decode=False"
    )


def _kind(value: object) -> str:
    return type(value).__name__


def check_id(value: object, what: str) -> str:
    """Return a namespace, slot, field or session id as a plain ``str``.

    Any text is a valid id (``*``, ``:``, NUL, 10 KB); only the type is checked.
    """
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str(value)
    raise ValidationError(f"{what} must be a str, got {_kind(value)}")


def check_value(value: object, what: str = "a slot value") -> bytes:
    """Return a value as ``bytes`` (``bytearray`` and ``memoryview`` are copied)."""
    if type(value) is bytes:
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise ValidationError(f"{what} must be bytes, got {_kind(value)}")


def check_ttl(ttl: object) -> float:
    """Return a TTL as seconds: a positive, finite ``int`` or ``float`` (not ``bool``).

    A slot without a finite expiry must not exist, so NaN and infinity fail.
    """
    cls = type(ttl)
    if (cls is float or cls is int) and 0 < ttl < math.inf:  # type: ignore[operator]
        return float(ttl)  # type: ignore[arg-type]
    if cls is not bool and isinstance(ttl, int | float) and 0 < ttl < math.inf:
        return float(ttl)
    raise ValidationError(f"ttl must be a positive finite number of seconds, got {ttl!r}"[:200])


def check_expiry(ttl: object) -> float | None:
    """Return a driver-level TTL: ``None`` (the slot never expires) or :func:`check_ttl`'s."""
    return None if ttl is None else check_ttl(ttl)


#: The longest session retention accepted: 100 years, in seconds. Longer is
#: "forever" in practice, and expiry stamps must stay exact integers.
RETENTION_MAX: Final = 100 * 365.25 * 86400


def check_retention(ttl: object) -> float | None:
    """Return a session's retention: ``None`` (it never expires) or seconds, at most 100 years."""
    seconds = check_expiry(ttl)
    if seconds is not None and seconds > RETENTION_MAX:
        raise ValidationError(
            f"a session ttl must be at most {RETENTION_MAX:.0f} seconds (100 years); "
            "use None for a session that never expires"
        )
    return seconds


def check_slot_names(slots: object, *, distinct: bool = False) -> list[str]:
    """Return the slot names of a batch call as a list, in order.

    One ``str`` is refused: iterating it would name each of its characters.
    ``distinct`` drops repeats (a delete counts each slot once).
    """
    if isinstance(slots, str | bytes | bytearray) or not isinstance(
        slots, Sequence | set | frozenset
    ):
        raise ValidationError(f"slots must be a list of slot names, got {_kind(slots)}")
    names = [check_id(slot, "a slot name") for slot in slots]
    return list(dict.fromkeys(names)) if distinct else names


def check_mapping(mapping: object, *, batch: bool = False) -> dict[str, bytes]:
    """Return hash fields (or, for ``batch``, slots) as a ``dict`` of ``str`` names to ``bytes``."""
    name_is, value_is = (
        ("a slot name", "a slot value") if batch else ("a hash field name", "a hash value")
    )
    if not isinstance(mapping, Mapping):
        what = "slots and values" if batch else "hash fields"
        raise ValidationError(f"{what} must be a mapping, got {_kind(mapping)}")
    return {
        check_id(name, name_is): check_value(value, value_is) for name, value in mapping.items()
    }


def check_fields(fields: object) -> list[str]:
    """Return hash field names as a list without duplicates, in order.

    One ``str`` is refused: iterating it would name each of its characters.
    """
    if isinstance(fields, str | bytes | bytearray) or not isinstance(
        fields, Sequence | set | frozenset
    ):
        raise ValidationError(f"fields must be a list of names, got {_kind(fields)}")
    return list(dict.fromkeys(check_id(name, "a hash field name") for name in fields))


def check_watch(watch: object) -> tuple[str, ...]:
    """Return the slots a transaction watches: at least one, without duplicates."""
    if isinstance(watch, str | bytes | bytearray) or not isinstance(
        watch, Sequence | set | frozenset
    ):
        raise ValidationError(f"watch must be a list of slot names, got {_kind(watch)}")
    slots = tuple(dict.fromkeys(check_id(slot, "a watched slot name") for slot in watch))
    if not slots:
        raise ValidationError("a transaction must watch at least one slot")
    return slots


def check_amount(amount: object) -> int:
    """Return a counter increment: an ``int`` (not ``bool``) within int64."""
    if type(amount) is not int:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValidationError(f"incr amount must be an int, got {_kind(amount)}")
        amount = int(amount)
    if not INT64_MIN <= amount <= INT64_MAX:
        raise ValidationError("incr amount is outside the 64-bit integer range")
    return amount


def parse_counter(raw: bytes, slot: str) -> int:
    """Return the counter a scalar value spells, in Redis's canonical form.

    Raises:
        SlotKindError: The value is not a canonical decimal int64 (``"05"``,
            ``"-0"``, ``" 7"`` and ``"1_000"`` are not).
    """
    if len(raw) > 20 or _CANONICAL.fullmatch(raw) is None:
        raise SlotKindError(f"slot {short(slot)} holds a value that is not an integer")
    number = int(raw)
    if not INT64_MIN <= number <= INT64_MAX:
        raise SlotKindError(f"slot {short(slot)} holds a value that is not an integer")
    return number


def add_counter(current: int, amount: int, slot: str) -> int:
    """Return ``current + amount``, or fail as Redis does when it leaves int64.

    Raises:
        ValidationError: The sum is outside the 64-bit range; nothing changes.
    """
    total = current + amount
    if not INT64_MIN <= total <= INT64_MAX:
        raise ValidationError(f"incr of slot {short(slot)} would overflow a 64-bit integer")
    return total


#: The longest idempotency token accepted, in characters.
TOKEN_MAX: Final = 200

#: The longest scope accepted, in characters: long enough for an
#: ``app/user`` pair of UUIDs or e-mail addresses, short enough to index.
SCOPE_MAX: Final = 1024


def check_scope(scope: object) -> str:
    """Return the scope of a session call: ``""`` for ``None`` (the default scope).

    A scope is an opaque non-empty ``str`` of at most :data:`SCOPE_MAX`
    characters without NUL; ``*``, ``%``, ``/`` and ``..`` are plain text in
    it, never patterns or paths.
    """
    if scope is None:
        return ""
    if not isinstance(scope, str):
        raise ValidationError(f"a scope must be a str or None, got {_kind(scope)}")
    if not scope:
        raise ValidationError("a scope must not be empty (None is the default scope)")
    if len(scope) > SCOPE_MAX:
        raise ValidationError(f"a scope must be at most {SCOPE_MAX} characters, got {len(scope)}")
    if "\x00" in scope:
        raise ValidationError("a scope must not contain a NUL character")
    return str(scope)


def check_token(token: object) -> str | None:
    """Return an idempotency token: ``None`` or a non-empty ``str`` of printable ASCII.

    At most :data:`TOKEN_MAX` characters; a UUID or any request id fits.
    """
    if token is None:
        return None
    if not isinstance(token, str):
        raise ValidationError(f"an idempotency token must be a str or None, got {_kind(token)}")
    if not 0 < len(token) <= TOKEN_MAX or not token.isascii() or not token.isprintable():
        raise ValidationError(
            f"an idempotency token must be 1 to {TOKEN_MAX} printable ASCII characters"
        )
    return str(token)


def check_pop(n: object) -> int:
    """Return how many messages to pop: an ``int`` (not ``bool``) of at least 1."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValidationError(f"n must be an int of at least 1, got {n!r}"[:200])
    return int(n)


def check_label(label: object) -> str | None:
    """Return a session label: a ``str`` or ``None``."""
    if label is None or type(label) is str:
        return label
    if isinstance(label, str):
        return str(label)
    raise ValidationError(f"a session label must be a str or None, got {_kind(label)}")


def check_metadata(metadata: object) -> dict[str, Any] | None:
    """Return a deep JSON copy of session metadata (``None`` stays ``None``).

    Only a mapping with ``str`` keys and JSON-compatible values passes; a list
    of pairs does not, nor NaN.
    """
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise ValidationError(f"session metadata must be a mapping, got {_kind(metadata)}")
    for key in metadata:
        if not isinstance(key, str):
            raise ValidationError(f"session metadata keys must be str, got {_kind(key)}")
    try:
        copied: dict[str, Any] = json.loads(json.dumps(dict(metadata), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"session metadata must be JSON-compatible: {exc}") from None
    return copied


def check_messages(messages: object) -> list[str]:
    """Return session messages: a sequence of JSON texts.

    A message is a ``str`` that is valid UTF-8 (no lone surrogates) and holds
    no NUL, which no JSON text does and PostgreSQL's ``text`` cannot store.
    """
    if isinstance(messages, str | bytes | bytearray) or not isinstance(messages, Sequence):
        raise ValidationError(f"messages must be a list of str, got {_kind(messages)}")
    checked: list[str] = []
    for message in messages:
        if type(message) is not str:
            if not isinstance(message, str):
                raise ValidationError(f"a message must be a str, got {_kind(message)}")
            message = str(message)
        if "\x00" in message:
            raise ValidationError("a message contains a NUL character (not a JSON text)")
        if not message.isascii():
            try:
                message.encode("utf-8")
            except UnicodeEncodeError:
                raise ValidationError("a message contains a lone surrogate (not UTF-8)") from None
        checked.append(message)
    return checked


def check_count(value: object, what: str) -> int:
    """Return a count or index: an ``int`` (not ``bool``) of at least 0."""
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"{what} must be an int of at least 0, got {value!r}"[:200])
    return int(value)


def check_last(last: object) -> int | None:
    """Return how many of the last messages to read (``None``: all of them)."""
    return None if last is None else check_count(last, "last")


def check_limit(limit: object) -> int:
    """Return a page size: a positive ``int``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValidationError(f"limit must be a positive int, got {limit!r}"[:200])
    return int(limit)


def check_cursor(cursor: object) -> str | None:
    """Return a listing cursor: ``None`` or the ``str`` a previous page returned."""
    if cursor is None or type(cursor) is str:
        return cursor
    raise ValidationError("invalid session listing cursor")
