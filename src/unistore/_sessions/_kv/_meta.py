"""The stored form of one generic session: its ``meta`` slot and its listing entry."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from unistore._sessions._kv._layout import encode_id
from unistore.errors import CorruptionError
from unistore.protocols import SessionRecord
from unistore.sdk import session_record

__all__ = ["Meta", "record_from_entry"]


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
        return session_record(
            self.id,
            label=self.label,
            parent_id=self.parent_id,
            fork_point=self.fork_point,
            metadata=self.metadata,
            created_us=self.created,
            updated_us=self.updated,
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
        return session_record(
            sid,
            label=label,
            parent_id=parent,
            fork_point=point,
            metadata=metadata,
            created_us=int(created),
            updated_us=int(updated),
            message_count=int(length),
        )
    except (ValueError, TypeError) as exc:
        raise CorruptionError("a session index entry cannot be read") from exc
