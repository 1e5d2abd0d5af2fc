"""Identifiers as stored: fixed-size digests for indexes, exact bytes beside them.

Namespaces, slots, hash fields and session ids are arbitrary strings (NUL,
10 KB of text, lone surrogates). PostgreSQL cannot index long values in a
btree (about 2.7 KB per entry) and cannot hold NUL in ``text``, so every id
is keyed by the SHA-256 digest of its UTF-8 bytes and its exact bytes are
stored beside the digest for listing and reading back.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Final

from unistore.errors import ValidationError

#: Bounds of a 64-bit signed counter, as in Redis.
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

_CANONICAL_INT = re.compile(rb"-?(?:0|[1-9][0-9]{0,18})")


def encode(text: str) -> bytes:
    """Return the exact bytes stored for an id (lone surrogates survive)."""
    return text.encode("utf-8", "surrogatepass")


def decode(raw: bytes) -> str:
    """Invert :func:`encode`."""
    return bytes(raw).decode("utf-8", "surrogatepass")


def digest(text: str) -> bytes:
    """Return the 32-byte key under which an id is indexed."""
    return hashlib.sha256(encode(text)).digest()


def new_token() -> int:
    """Return a fresh random 63-bit write token (slot version, hash generation).

    ``secrets`` reads the OS, so processes forked from one parent do not
    repeat each other's tokens as a copied PRNG state would.
    """
    return secrets.randbits(63)


def now_us() -> int:
    """Return the current UTC time in whole microseconds since the epoch."""
    return time.time_ns() // 1000


def check_id(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a str, got {type(value).__name__}")
    return value


def check_ttl(ttl: object) -> float:
    # NaN and infinity would make a slot immortal or unreadable.
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl < math.inf:
        raise ValidationError(f"ttl must be a positive finite number of seconds, got {ttl!r}")
    return float(ttl)


def check_value(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise ValidationError(f"a value must be bytes, got {type(value).__name__}")


def check_mapping(mapping: object) -> dict[str, bytes]:
    if not isinstance(mapping, Mapping):
        raise ValidationError(f"hset needs a mapping of fields, got {type(mapping).__name__}")
    return {check_id(k, "a hash field name"): check_value(v) for k, v in mapping.items()}


def check_fields(fields: object) -> list[str]:
    if isinstance(fields, str) or not isinstance(fields, Sequence | set | frozenset):
        raise ValidationError("hdel needs a list of field names")
    return list(dict.fromkeys(check_id(f, "a hash field name") for f in fields))


def check_amount(amount: object) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValidationError(f"incr amount must be an int, got {type(amount).__name__}")
    if not INT64_MIN <= amount <= INT64_MAX:
        raise ValidationError("incr amount is outside the 64-bit integer range")
    return amount


def as_counter(value: bytes) -> int | None:
    """Return the integer a scalar value spells canonically, else ``None``.

    Only the canonical decimal form (no sign on zero, no leading zeros or
    blanks) within 64 bits counts, so a value read back is byte-for-byte the
    one written, and ``incr`` accepts what Redis's INCR accepts.
    """
    if len(value) > 20 or _CANONICAL_INT.fullmatch(value) is None or value == b"-0":
        return None
    number = int(value)
    return number if INT64_MIN <= number <= INT64_MAX else None


def short(text: str) -> str:
    """Return an id shortened for a message (ids may be 10 KB long)."""
    return repr(text[:80]) + ("..." if len(text) > 80 else "")
