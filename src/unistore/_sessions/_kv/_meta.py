"""The stored form of one generic session: its ``meta`` slot and its listing entry.

Fields added after the first layout (``ttl``, ``expires``, ``tokens``) are
optional when read, so records written before they existed load unchanged:
no retention, no remembered tokens.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from unistore._sessions._kv._layout import encode_id
from unistore.errors import CorruptionError
from unistore.protocols import SessionRecord
from unistore.sdk import session_record

__all__ = ["Entry", "Meta", "parse_entry"]


def _dumps(value: object) -> bytes:
    return json.dumps(value, allow_nan=False, separators=(",", ":")).encode()


def _ttl(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError("a stored session ttl is not a positive number")
    return float(value)


def _stamp(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("a stored session expiry is not a stamp")
    return value


def _tokens(value: object) -> dict[str, int]:
    if not isinstance(value, dict) or not all(
        isinstance(length, int) and not isinstance(length, bool) for length in value.values()
    ):
        raise ValueError("stored session tokens are not a mapping of lengths")
    return value


@dataclass(slots=True)
class Meta:
    """One session as stored in its ``meta`` slot.

    Storage: the session's messages ``[0, base_point)`` are the first
    ``base_point`` messages of ``base`` (read recursively); it stores
    ``[base_point, length)`` itself. ``parent_id``/``fork_point`` are lineage
    and never change; ``base``/``base_point`` change when the session is
    materialised or truncated into the shared part.

    Retention: ``ttl`` (seconds, or ``None``) is the session's; ``expires`` the
    stamp past which it is gone. ``tokens`` maps the idempotency tokens of its
    latest writes to the length each produced, oldest first. ``scope`` is not
    stored: the slot names carry it.
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
    ttl: float | None = None
    expires: int | None = None
    tokens: dict[str, int] = field(default_factory=dict)
    scope: str = ""

    @property
    def encoded(self) -> str:
        """The encoded id."""
        return encode_id(self.id)

    def expired(self, now: int) -> bool:
        """Whether the session is gone at stamp ``now``."""
        return self.expires is not None and self.expires <= now

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
            "ttl": _dumps(self.ttl),
            "expires": _dumps(self.expires),
            "tokens": _dumps(self.tokens),
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, bytes], scope: str = "") -> Meta:
        """Decode a ``meta`` slot of ``scope``.

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
                ttl=_ttl(json.loads(fields.get("ttl", b"null"))),
                expires=_stamp(json.loads(fields.get("expires", b"null"))),
                tokens=_tokens(json.loads(fields.get("tokens", b"{}"))),
                scope=scope,
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
            scope=self.scope,
            ttl=self.ttl,
            expires_us=self.expires,
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
                self.ttl,
                self.expires,
            ]
        )


@dataclass(frozen=True, slots=True)
class Entry:
    """A decoded listing entry: the record and when the session expires."""

    record: SessionRecord
    expires: int | None

    def expired(self, now: int) -> bool:
        """Whether the session is gone at stamp ``now``."""
        return self.expires is not None and self.expires <= now


def parse_entry(value: bytes, scope: str = "") -> Entry:
    """Decode a listing entry made by :meth:`Meta.entry_value` in ``scope``.

    Entries of the first layout have 8 items (no ``ttl``, ``expires``).

    Raises:
        CorruptionError: The entry is unreadable.
    """
    try:
        items = json.loads(value)
        if not isinstance(items, list) or len(items) not in (8, 10):
            raise ValueError("a listing entry has the wrong shape")
        sid, label, parent, point, metadata, created, updated, length = items[:8]
        ttl, expires = (_ttl(items[8]), _stamp(items[9])) if len(items) == 10 else (None, None)
        record = session_record(
            sid,
            label=label,
            parent_id=parent,
            fork_point=point,
            metadata=metadata,
            created_us=int(created),
            updated_us=int(updated),
            message_count=int(length),
            scope=scope,
            ttl=ttl,
            expires_us=expires,
        )
    except (ValueError, TypeError) as exc:
        raise CorruptionError("a session index entry cannot be read") from exc
    return Entry(record, expires)
