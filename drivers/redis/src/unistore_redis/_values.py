"""Argument checks and conversions shared by the store and its transactions."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from unistore.errors import ValidationError

__all__ = ["field_bytes", "field_str", "hdel_args", "hset_args", "ttl_ms", "value_bytes"]

#: Longest expiry Redis accepts comfortably (about 300 years, in milliseconds).
_MAX_TTL_MS = 10**13


def ttl_ms(ttl: float) -> int:
    """Return a TTL in whole milliseconds (rounded up, at least 1).

    Raises:
        ValidationError: ``ttl`` is not a positive finite number.
    """
    cls = ttl.__class__
    if cls is not float and cls is not int and (cls is bool or not isinstance(ttl, int | float)):
        raise ValidationError(f"ttl must be a number of seconds, got {ttl!r}")
    if not 0 < ttl < math.inf:
        raise ValidationError(f"ttl must be a positive finite number of seconds, got {ttl!r}")
    return min(_MAX_TTL_MS, max(1, math.ceil(ttl * 1000)))


def value_bytes(value: Any) -> bytes:
    """Return a slot value as ``bytes``.

    Raises:
        ValidationError: ``value`` is not bytes-like.
    """
    if type(value) is bytes:
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise ValidationError(f"slot values must be bytes, got {type(value).__name__}")


def field_bytes(name: str) -> bytes:
    """Encode a hash field name (any ``str``, lone surrogates included)."""
    if not isinstance(name, str):
        raise ValidationError(f"hash field names must be str, got {type(name).__name__}")
    return name.encode("utf-8", "surrogatepass")


def field_str(raw: bytes) -> str:
    """Decode a hash field name encoded by :func:`field_bytes`."""
    return raw.decode("utf-8", "surrogatepass")


def hset_args(mapping: Mapping[str, bytes], ttl: float) -> list[Any]:
    """Return the arguments of an ``H`` op of the write script: ttl, count, fields.

    Raises:
        ValidationError: ``mapping`` is not a mapping of ``str`` to bytes, or
            ``ttl`` is not a positive number.
    """
    if not isinstance(mapping, Mapping):
        raise ValidationError(f"hash fields must be a mapping, got {type(mapping).__name__}")
    args: list[Any] = [ttl_ms(ttl), len(mapping)]
    for name, value in mapping.items():
        args.append(field_bytes(name))
        args.append(value_bytes(value))
    return args


def hdel_args(fields: Sequence[str]) -> list[Any]:
    """Return the arguments of an ``X`` op of the write script: count, distinct names.

    Raises:
        ValidationError: ``fields`` is one ``str`` or holds a non-``str``.
    """
    if isinstance(fields, str):
        raise ValidationError("fields must be a list of names, not one str")
    # Encoded before deduplication: a non-str name (even an unhashable one) must
    # fail as a ValidationError; the encoding is injective, so duplicates stay duplicates.
    names = list(dict.fromkeys(field_bytes(name) for name in fields))
    return [len(names), *names]
