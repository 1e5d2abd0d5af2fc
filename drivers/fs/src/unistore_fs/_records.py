"""The slot file format: one small JSON document per slot.

A slot file ``<root>/ns/<namespace>/<slot>.json`` holds::

    {"ns": "app:s1", "slot": "basket", "kind": "hash", "version": "9f3c...",
     "expires_at": 1767225600.25, "fields": {"apples": "Mw=="}}

or, for a scalar, ``"value": "<base64>"`` instead of ``"fields"``. The full
namespace and slot names are stored inside, so hashed (long) file names stay
reversible and a file moved by hand is detected. ``version`` is a random token
written by every change of the value; transactions compare it. ``expires_at``
is a Unix time in seconds, or ``null`` for a slot that never expires (held as
``math.inf`` in memory, so every comparison with a time needs no special case).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from dataclasses import dataclass
from typing import Any, Final

from unistore.errors import CorruptionError, SlotKindError
from unistore.protocols import SlotKind
from unistore.sdk import short
from unistore_fs._names import encode_name

__all__ = [
    "SlotRecord",
    "decode_head",
    "decode_record",
    "encode_record",
    "expiry",
    "kind_error",
    "namespace_of",
    "new_version",
    "slot_file",
]

SLOT_SUFFIX: Final = ".json"


def slot_file(slot: str) -> str:
    """Return the file name of a slot inside its namespace directory."""
    return encode_name(slot) + SLOT_SUFFIX


def expiry(now: float, ttl: float | None) -> float:
    """Return the expiry time of a slot written at ``now`` (``math.inf``: never)."""
    return math.inf if ttl is None else now + ttl


def new_version() -> str:
    """Return a fresh version token."""
    return os.urandom(8).hex()


def kind_error(slot: str, expected: SlotKind, actual: SlotKind) -> SlotKindError:
    """Return the error for using a slot as another kind than it holds."""
    return SlotKindError(f"slot {short(slot)} holds a {actual.value}, not a {expected.value}")


@dataclass(slots=True)
class SlotRecord:
    """A decoded slot file."""

    kind: SlotKind
    #: Unix time in seconds; ``math.inf`` for a slot that never expires.
    expires_at: float
    version: str
    value: bytes = b""
    fields: dict[str, bytes] | None = None

    def live(self, now: float) -> bool:
        """Return whether the slot has not expired at ``now``."""
        return self.expires_at > now

    def scalar(self, slot: str) -> bytes:
        """Return the scalar value, or raise ``SlotKindError`` for a hash."""
        if self.kind is not SlotKind.SCALAR:
            raise kind_error(slot, SlotKind.SCALAR, self.kind)
        return self.value

    def hash(self, slot: str) -> dict[str, bytes]:
        """Return the hash fields, or raise ``SlotKindError`` for a scalar."""
        if self.kind is not SlotKind.HASH or self.fields is None:
            raise kind_error(slot, SlotKind.HASH, self.kind)
        return self.fields


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encode_record(ns: str, slot: str, record: SlotRecord) -> bytes:
    """Serialise a slot record (with its full names) to bytes."""
    doc: dict[str, Any] = {
        "ns": ns,
        "slot": slot,
        "kind": record.kind.value,
        "version": record.version,
        "expires_at": None if math.isinf(record.expires_at) else record.expires_at,
    }
    if record.kind is SlotKind.HASH:
        doc["fields"] = {name: _b64(value) for name, value in (record.fields or {}).items()}
    else:
        doc["value"] = _b64(record.value)
    return json.dumps(doc, ensure_ascii=True).encode("ascii") + b"\n"


def namespace_of(data: bytes) -> str | None:
    """Return the namespace a slot file records, or ``None`` if it cannot be read."""
    try:
        ns = json.loads(data)["ns"]
    except (ValueError, KeyError, TypeError):
        return None
    return ns if isinstance(ns, str) else None


def _expires_at(raw: object) -> float:
    if raw is None:
        return math.inf
    if isinstance(raw, bool) or not isinstance(raw, int | float) or math.isnan(raw):
        raise TypeError("expires_at")
    return float(raw)


def _mismatch() -> CorruptionError:
    return CorruptionError(
        "a slot file names another namespace or slot than its path "
        "(moved by hand, or a digest collision)"
    )


def decode_head(data: bytes, ns: str) -> tuple[str, float]:
    """Return the slot name and expiry a slot file records, without decoding its value.

    Raises:
        CorruptionError: The file cannot be parsed or belongs to another namespace.
    """
    try:
        doc = json.loads(data)
        name = doc["slot"]
        if not isinstance(name, str) or doc["ns"] != ns:
            raise _mismatch()
        return name, _expires_at(doc["expires_at"])
    except CorruptionError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptionError(f"a slot file cannot be decoded: {type(exc).__name__}") from exc


def decode_record(data: bytes, ns: str | None, slot: str | None) -> tuple[str, SlotRecord]:
    """Parse a slot file; check it belongs to ``ns`` and ``slot`` (those given).

    Returns:
        The slot name recorded inside and the record.

    Raises:
        CorruptionError: The file cannot be parsed or names another slot.
    """
    try:
        doc = json.loads(data)
        name = doc["slot"]
        if (
            not isinstance(name, str)
            or (ns is not None and doc["ns"] != ns)
            or (slot is not None and name != slot)
        ):
            raise _mismatch()
        kind = SlotKind(doc["kind"])
        expires_at = _expires_at(doc["expires_at"])
        version = str(doc["version"])
        if kind is SlotKind.HASH:
            raw = doc["fields"]
            fields = {str(k): base64.b64decode(v, validate=True) for k, v in raw.items()}
            return name, SlotRecord(kind, expires_at, version, fields=fields)
        value = base64.b64decode(doc["value"], validate=True)
        return name, SlotRecord(kind, expires_at, version, value=value)
    except CorruptionError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise CorruptionError(f"a slot file cannot be decoded: {type(exc).__name__}") from exc
