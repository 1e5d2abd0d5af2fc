"""How generic session documents are laid out on hash slots.

Everything lives in one namespace so that every mutation, however many sessions
it touches (a delete that materialises forks), is one optimistic transaction.
Session ids never appear raw in slot or field names: they are base64url-encoded
(alphabet ``A-Za-z0-9_-``), so any id is safe on any driver and the ``/``
separators below are unambiguous.

Slots (``<e>`` is an encoded id, ``<c>``/``<t>``/``<l>`` decimal numbers)::

    meta/<e>            the session: label, lineage, storage pointers, length, ...
    msgs/<e>/<c>        messages of absolute index c*chunk .. c*chunk+chunk-1 that the
                        session stores itself; field = str(absolute index)
    forks/<e>           sessions whose base is this one; field = <e of fork>,
                        value = the fork's base point
    index               listing directory: one field per non-empty <t>
    index/<t>           one field per non-empty leaf <l> of that period
    index/<t>/<l>       listing entries; field = "<updated:020d>/<e>", value = record JSON
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from unistore.errors import CorruptionError, ValidationError
from unistore.protocols import SessionRecord

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_NAMESPACE",
    "DEFAULT_SLOT_TTL",
    "INDEX_SLOT",
    "LEAF_SHIFT",
    "TOP_SHIFT",
    "Meta",
    "check_id",
    "check_int",
    "check_label",
    "check_messages",
    "chunk_slot",
    "datetime_to_micros",
    "decode_id",
    "encode_id",
    "entry_field",
    "forks_slot",
    "leaf_slot",
    "meta_slot",
    "micros_to_datetime",
    "mid_slot",
    "now_micros",
    "parse_entry_field",
    "record_from_entry",
    "validate_metadata",
]

DEFAULT_NAMESPACE: Final = "unistore.sessions"

#: 100 years. The KV contract has no write without expiry; sessions must not expire.
DEFAULT_SLOT_TTL: Final = 100 * 365.25 * 24 * 3600.0

#: Messages per chunk slot: bounds what one append rewrites on drivers that store a
#: hash as one blob, and what reading the last few messages over-fetches.
DEFAULT_CHUNK_SIZE: Final = 64

#: A leaf of the listing index covers 2**30 us (about 18 minutes), a period 2**40 us
#: (about 12.7 days, so at most 1024 leaves per period and ~29 periods a year).
LEAF_SHIFT: Final = 30
TOP_SHIFT: Final = 40

INDEX_SLOT: Final = "index"

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def now_micros() -> int:
    """Return the current UTC time in microseconds since the epoch."""
    return time.time_ns() // 1000


def micros_to_datetime(micros: int) -> datetime:
    """Turn epoch microseconds into a timezone-aware UTC datetime, exactly."""
    return _EPOCH + timedelta(microseconds=micros)


def datetime_to_micros(moment: datetime) -> int:
    """Invert :func:`micros_to_datetime`."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def encode_id(session_id: str) -> str:
    """Encode a session id for use inside slot and field names."""
    raw = session_id.encode("utf-8", "surrogatepass")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_id(encoded: str) -> str:
    """Invert :func:`encode_id`."""
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        return raw.decode("utf-8", "surrogatepass")
    except (ValueError, UnicodeError) as exc:
        raise CorruptionError("a session index entry has an unreadable id") from exc


def meta_slot(encoded: str) -> str:
    """Return the slot of a session's record and storage pointers."""
    return f"meta/{encoded}"


def chunk_slot(encoded: str, chunk: int) -> str:
    """Return the slot holding chunk ``chunk`` of a session's own messages."""
    return f"msgs/{encoded}/{chunk}"


def forks_slot(encoded: str) -> str:
    """Return the slot listing the forks whose base is the session."""
    return f"forks/{encoded}"


def mid_slot(top: int) -> str:
    """Return the index slot listing the non-empty leaves of period ``top``."""
    return f"{INDEX_SLOT}/{top}"


def leaf_slot(top: int, leaf: int) -> str:
    """Return the index slot holding the entries of ``leaf``."""
    return f"{INDEX_SLOT}/{top}/{leaf}"


def entry_field(updated: int, encoded: str) -> str:
    """Return the listing entry name; sorting names sorts by (updated, id bytes)."""
    return f"{updated:020d}/{encoded}"


def parse_entry_field(name: str) -> tuple[int, str]:
    """Return ``(updated micros, session id)`` of a listing entry name."""
    micros, sep, encoded = name.partition("/")
    if not sep or not micros.isdigit():
        raise CorruptionError("a session index entry has an unreadable name")
    return int(micros), decode_id(encoded)


def check_id(value: object, what: str = "session id") -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a str, got {type(value).__name__}")
    return value


def check_label(label: object) -> str | None:
    if label is not None and not isinstance(label, str):
        raise ValidationError(f"label must be a str or None, got {type(label).__name__}")
    return label


def check_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{what} must be an int, got {type(value).__name__}")
    return value


def check_messages(messages: object) -> list[str]:
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
        raise ValidationError("messages must be a sequence of str")
    if not all(isinstance(text, str) for text in messages):
        raise ValidationError("every message must be a str (a JSON text)")
    return list(messages)


def validate_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Return a deep JSON copy of ``metadata`` (``None`` stays ``None``).

    Raises:
        ValidationError: The metadata is not a JSON-compatible mapping.
    """
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise ValidationError(f"session metadata must be a mapping, got {type(metadata).__name__}")
    try:
        copied = json.loads(json.dumps(dict(metadata), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"session metadata must be JSON-compatible: {exc}") from None
    return copied  # type: ignore[no-any-return]


def _dumps(value: object) -> bytes:
    return json.dumps(value, allow_nan=False, separators=(",", ":")).encode()


@dataclass(slots=True)
class Meta:
    """One session as stored in its ``meta`` slot.

    Storage: the session's messages ``[0, base_point)`` are the first
    ``base_point`` messages of ``base`` (read recursively); it stores
    ``[base_point, length)`` itself. ``parent_id``/``fork_point`` are lineage
    and never change; ``base``/``base_point`` change when the session is
    materialised or truncated into the shared part.
    """

    id: str
    label: str | None = None
    parent_id: str | None = None
    fork_point: int | None = None
    base: str | None = None
    base_point: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    created: int = 0
    updated: int = 0
    length: int = 0

    @property
    def encoded(self) -> str:
        """The encoded id."""
        return encode_id(self.id)

    def to_fields(self) -> dict[str, bytes]:
        """Return every field of the ``meta`` slot."""
        return {
            "id": _dumps(self.id),
            "label": _dumps(self.label),
            "parent": _dumps(self.parent_id),
            "fork_point": _dumps(self.fork_point),
            "base": _dumps(self.base),
            "base_point": str(self.base_point).encode(),
            "metadata": _dumps(self.metadata),
            "created": str(self.created).encode(),
            "updated": str(self.updated).encode(),
            "length": str(self.length).encode(),
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, bytes]) -> Meta:
        """Decode a ``meta`` slot.

        Raises:
            CorruptionError: A field is missing or unreadable.
        """
        try:
            meta = cls(
                id=json.loads(fields["id"]),
                label=json.loads(fields["label"]),
                parent_id=json.loads(fields["parent"]),
                fork_point=json.loads(fields["fork_point"]),
                base=json.loads(fields["base"]),
                base_point=int(fields["base_point"]),
                metadata=json.loads(fields["metadata"]),
                created=int(fields["created"]),
                updated=int(fields["updated"]),
                length=int(fields["length"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise CorruptionError("a stored session record cannot be read") from exc
        if not isinstance(meta.id, str) or not isinstance(meta.metadata, dict):
            raise CorruptionError("a stored session record cannot be read")
        return meta

    def record(self) -> SessionRecord:
        """Return the public record."""
        return SessionRecord(
            id=self.id,
            label=self.label,
            parent_id=self.parent_id,
            fork_point=self.fork_point,
            metadata=json.loads(json.dumps(self.metadata)),
            created_at=micros_to_datetime(self.created),
            updated_at=micros_to_datetime(self.updated),
            message_count=self.length,
        )

    def entry_value(self) -> bytes:
        """Return the listing entry: the record, so that listing reads no ``meta``."""
        return _dumps(
            [
                self.id,
                self.label,
                self.parent_id,
                self.fork_point,
                self.metadata,
                self.created,
                self.updated,
                self.length,
            ]
        )


def record_from_entry(value: bytes) -> SessionRecord:
    """Decode a listing entry made by :meth:`Meta.entry_value`.

    Raises:
        CorruptionError: The entry is unreadable.
    """
    try:
        sid, label, parent, point, metadata, created, updated, length = json.loads(value)
        return SessionRecord(
            id=sid,
            label=label,
            parent_id=parent,
            fork_point=point,
            metadata=metadata,
            created_at=micros_to_datetime(int(created)),
            updated_at=micros_to_datetime(int(updated)),
            message_count=int(length),
        )
    except (ValueError, TypeError) as exc:
        raise CorruptionError("a session index entry cannot be read") from exc
