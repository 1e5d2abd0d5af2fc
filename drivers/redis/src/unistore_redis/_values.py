"""Argument checks and conversions shared by the store and its transactions."""

from __future__ import annotations

import math
from typing import Any

from unistore.errors import ValidationError

__all__ = ["field_bytes", "field_str", "ttl_ms", "value_bytes"]

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
