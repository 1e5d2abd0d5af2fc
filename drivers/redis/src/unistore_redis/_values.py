"""Encodings the scripts need: TTLs in milliseconds, field names, and the write-op stream.

Arguments arrive checked by the SDK; nothing here validates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from unistore.sdk import DeleteOp, HDelOp, HSetOp, Op, SetOp
from unistore_redis._keys import KeyLayout, escape

__all__ = ["NEVER", "apply_args", "field_bytes", "field_str", "ttl_ms"]

#: Longest expiry Redis accepts comfortably (about 300 years, in milliseconds).
_MAX_TTL_MS: Final = 10**13

#: What the scripts receive for "no expiry": a real TTL is at least 1 ms.
NEVER: Final = 0


def ttl_ms(ttl: float | None) -> int:
    """Return a TTL in whole milliseconds (rounded up, at least 1), or :data:`NEVER`.

    Rounding up keeps a sub-millisecond TTL from meaning "expire now".
    """
    if ttl is None:
        return NEVER
    return min(_MAX_TTL_MS, max(1, math.ceil(ttl * 1000)))


def field_bytes(name: str) -> bytes:
    """Encode a hash field name (any ``str``, lone surrogates included)."""
    return name.encode("utf-8", "surrogatepass")


def field_str(raw: bytes) -> str:
    """Decode a hash field name encoded by :func:`field_bytes`."""
    return raw.decode("utf-8", "surrogatepass")


def apply_args(
    keys: KeyLayout, ns: str, ops: Sequence[Op]
) -> tuple[list[bytes], list[bytes | int]]:
    """Return the KEYS and ARGV of one ``APPLY`` script call for ``ops``.

    KEYS are the two indexes, then one slot key per op. ARGV is the op stream
    the script reads: ``S member value ttl_ms``, ``D member``,
    ``H member ttl_ms n f1 v1 ...`` or ``X member n f1 ...`` (``ttl_ms`` is
    :data:`NEVER` for a slot without expiry).
    """
    prefix, index, names = keys.namespace(ns)
    script_keys = [index, names]
    args: list[bytes | int] = []
    for op in ops:
        member = escape(op.slot)
        script_keys.append(prefix + member)
        if isinstance(op, SetOp):
            args += (b"S", member, op.value, ttl_ms(op.ttl))
        elif isinstance(op, DeleteOp):
            args += (b"D", member)
        elif isinstance(op, HSetOp):
            args += (b"H", member, ttl_ms(op.ttl), len(op.mapping))
            for name, value in op.mapping.items():
                args += (field_bytes(name), value)
        else:
            assert isinstance(op, HDelOp)
            args += (b"X", member, len(op.fields), *map(field_bytes, op.fields))
    return script_keys, args
