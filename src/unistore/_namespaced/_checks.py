"""Argument checks of the namespaced store, all run before any I/O.

The hot paths of :class:`~unistore.Namespace` inline the common case
(``type(x) is str``) and call into these functions only for anything else, so
that the checks cost a few comparisons per call.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Final

from unistore.errors import ValidationError

__all__ = [
    "MAX_ID_LENGTH",
    "MAX_PREFIX_LENGTH",
    "MAX_SLOT_LENGTH",
    "SLOT_CACHE",
    "TTLArg",
    "admit_slot",
    "check_amount",
    "check_fields",
    "check_id",
    "check_prefix",
    "check_retries",
    "check_slot",
    "check_ttl",
    "check_watch",
    "encode_mapping",
    "encode_value",
    "short",
]

#: Longest accepted prefix, in characters.
MAX_PREFIX_LENGTH: Final = 64
#: Longest accepted namespace id, in characters.
MAX_ID_LENGTH: Final = 16_384
#: Longest accepted slot name, in characters.
MAX_SLOT_LENGTH: Final = 1024

#: Slot names that passed :func:`check_slot`, each mapped to itself. The hot
#: paths look a name up here (one dict probe, ~3x cheaper than the type and
#: length checks) and pass on the cached ``str``; misses go to
#: :func:`admit_slot`. Bounded in entries and name length.
SLOT_CACHE: Final[dict[str, str]] = {}
_CACHE_ENTRIES: Final = 1024
_CACHE_NAME_LENGTH: Final = 128

#: Shown of a hostile or huge id or slot name in messages and logs.
_SHOWN: Final = 64

_PREFIX_RE: Final = re.compile(r"[A-Za-z0-9-]+")

TTLArg = float | int | timedelta | None
"""A per-call TTL: seconds (``int`` or ``float``), a ``timedelta``, or ``None`` for the default."""


def short(text: str) -> str:
    """Return a bounded ``repr`` of an id or slot name for messages and logs.

    ``repr`` escapes newlines and control characters, so a hostile id cannot
    forge log lines; the length bound keeps a 10 KB id out of the logs.
    """
    if len(text) <= _SHOWN:
        return repr(text)
    return f"{text[:_SHOWN]!r}...(+{len(text) - _SHOWN} chars)"


def check_prefix(prefix: object) -> str:
    if type(prefix) is not str or not prefix:
        raise ValidationError(f"prefix must be a non-empty str, got {type(prefix).__name__}")
    if len(prefix) > MAX_PREFIX_LENGTH or not (prefix.isascii() and _PREFIX_RE.fullmatch(prefix)):
        raise ValidationError(
            f"prefix {short(prefix)} must be 1-{MAX_PREFIX_LENGTH} ASCII letters, digits or dashes"
        )
    return prefix


def check_id(namespace_id: object) -> str:
    if not isinstance(namespace_id, str):
        raise ValidationError(f"namespace id must be a str, got {type(namespace_id).__name__}")
    if not 0 < len(namespace_id) <= MAX_ID_LENGTH:
        raise ValidationError(
            f"namespace id must have 1-{MAX_ID_LENGTH} characters, got {len(namespace_id)}"
        )
    return str(namespace_id)


def check_slot(slot: object) -> str:
    if not isinstance(slot, str):
        raise ValidationError(f"slot name must be a str, got {type(slot).__name__}")
    if not 0 < len(slot) <= MAX_SLOT_LENGTH:
        raise ValidationError(
            f"slot name must have 1-{MAX_SLOT_LENGTH} characters, got {len(slot)}"
        )
    return str(slot)


def admit_slot(slot: object) -> str:
    """Check a slot name that missed :data:`SLOT_CACHE`, and cache it if short."""
    name = check_slot(slot)
    if type(slot) is str and len(name) <= _CACHE_NAME_LENGTH:
        if len(SLOT_CACHE) >= _CACHE_ENTRIES:
            SLOT_CACHE.clear()
        SLOT_CACHE[name] = name
    return name


def check_field(field: object) -> str:
    if type(field) is str:
        return field
    if isinstance(field, str):
        return str(field)
    raise ValidationError(f"hash field names must be str, got {type(field).__name__}")


def check_fields(fields: tuple[object, ...]) -> list[str]:
    if not fields:
        raise ValidationError("hdel needs at least one field name")
    return [check_field(field) for field in fields]


def check_slots(slots: object, what: str) -> list[str]:
    """Return the slot names of a batch call, in order (one ``str`` is refused)."""
    if isinstance(slots, str | bytes | bytearray) or not isinstance(slots, Iterable):
        raise ValidationError(f"{what} takes a sequence of slot names, got {type(slots).__name__}")
    return [check_slot(slot) for slot in slots]


def check_slot_prefix(prefix: object) -> str:
    if isinstance(prefix, str):
        return str(prefix)
    raise ValidationError(f"a slot prefix must be a str, got {type(prefix).__name__}")


def encode_slot_values(mapping: object) -> dict[str, bytes]:
    """Return the slots and values of ``set_many``, encoded (``str`` as UTF-8)."""
    if not isinstance(mapping, Mapping):
        raise ValidationError(
            f"set_many takes a mapping of slot names to values, got {type(mapping).__name__}"
        )
    return {check_slot(slot): encode_value(value) for slot, value in mapping.items()}


def encode_value(value: object) -> bytes:
    """Return the bytes stored for ``value`` (``str`` is encoded as UTF-8)."""
    if isinstance(value, str):
        try:
            return str.encode(value)
        except UnicodeEncodeError:
            raise ValidationError(
                "str values must be encodable as UTF-8 (lone surrogates are not)"
            ) from None
    if isinstance(value, bytes):
        return bytes(value)
    raise ValidationError(f"values must be str or bytes, got {type(value).__name__}")


def encode_mapping(mapping: object) -> dict[str, bytes]:
    if not isinstance(mapping, Mapping):
        raise ValidationError(
            f"hset takes (slot, field, value) or (slot, mapping), got {type(mapping).__name__}"
        )
    if not mapping:
        raise ValidationError("hset needs at least one field")
    return {check_field(field): encode_value(value) for field, value in mapping.items()}


def check_ttl(ttl: object) -> float:
    """Return a TTL in seconds as a positive finite ``float``."""
    if isinstance(ttl, timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, int | float) and not isinstance(ttl, bool):
        seconds = float(ttl)
    else:
        raise ValidationError(
            f"ttl must be seconds (int or float) or a timedelta, got {type(ttl).__name__}"
        )
    if not 0.0 < seconds < math.inf:
        raise ValidationError(f"ttl must be positive and finite, got {seconds!r} seconds")
    return seconds


def check_amount(amount: object) -> int:
    if isinstance(amount, int) and not isinstance(amount, bool):
        return int(amount)
    raise ValidationError(f"incr amount must be an int, got {type(amount).__name__}")


def check_watch(slots: object) -> tuple[str, ...]:
    """Return the watched slots of a compare-and-swap, validated and deduplicated."""
    if isinstance(slots, str):
        return (check_slot(slots),)
    if isinstance(slots, bytes | bytearray) or not isinstance(slots, Iterable):
        raise ValidationError(
            f"watch a slot name or a sequence of slot names, got {type(slots).__name__}"
        )
    watched = tuple(dict.fromkeys(check_slot(slot) for slot in slots))
    if not watched:
        raise ValidationError("with_cas needs at least one slot to watch")
    return watched


def check_retries(max_retries: object) -> int:
    if isinstance(max_retries, int) and not isinstance(max_retries, bool) and max_retries >= 0:
        return int(max_retries)
    raise ValidationError(f"max_retries must be an int >= 0, got {max_retries!r}")
