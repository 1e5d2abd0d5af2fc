"""What every session driver builds alike: records from stamps, and the session errors.

Stamps are whole microseconds since the Unix epoch (UTC), the unit every
shipped driver stores; records carry aware ``datetime`` values and a deep
copy of the metadata, so a caller cannot change what the driver keeps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from unistore.errors import (
    SessionConflictError,
    SessionExistsError,
    SessionNotFoundError,
    ValidationError,
)
from unistore.protocols import SessionRecord
from unistore.sdk._checks import short

__all__ = [
    "datetime_to_micros",
    "expiry_micros",
    "length_conflict",
    "micros_to_datetime",
    "position_error",
    "session_exists",
    "session_not_found",
    "session_record",
]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO: Final = timedelta(microseconds=1)


def micros_to_datetime(micros: int) -> datetime:
    """Return the UTC time of a stamp in microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=micros)


def datetime_to_micros(moment: datetime) -> int:
    """Return the stamp (microseconds since the epoch) of an aware ``datetime``."""
    return (moment - _EPOCH) // _MICRO


def expiry_micros(now_us: int, ttl: float | None) -> int | None:
    """Return the expiry stamp of a session written at ``now_us`` (``None``: no TTL)."""
    return None if ttl is None else now_us + max(1, round(ttl * 1_000_000))


def session_record(
    session_id: str,
    *,
    label: str | None,
    parent_id: str | None,
    fork_point: int | None,
    metadata: Mapping[str, Any],
    created_us: int,
    updated_us: int,
    message_count: int,
    scope: str = "",
    ttl: float | None = None,
    expires_us: int | None = None,
) -> SessionRecord:
    """Return the public record of a stored session (metadata deep-copied).

    ``scope`` is the primitives' spelling (``""``: the default scope);
    ``expires_us`` the expiry stamp, or ``None`` for a session without TTL.
    """
    return SessionRecord(
        id=session_id,
        label=label,
        parent_id=parent_id,
        fork_point=fork_point,
        metadata=json.loads(json.dumps(metadata)),
        created_at=micros_to_datetime(created_us),
        updated_at=micros_to_datetime(updated_us),
        message_count=message_count,
        scope=scope or None,
        ttl=ttl,
        expires_at=None if expires_us is None else micros_to_datetime(expires_us),
    )


def session_not_found(session_id: str) -> SessionNotFoundError:
    """Return the error for a session that does not exist (or is not visible)."""
    return SessionNotFoundError(f"no session {short(session_id)}", session_id=session_id)


def session_exists(session_id: str) -> SessionExistsError:
    """Return the error for creating or forking onto a taken id."""
    return SessionExistsError(f"session {short(session_id)} already exists", session_id=session_id)


def length_conflict(session_id: str, expected: int, actual: int) -> SessionConflictError:
    """Return the error for a write that expected another length (nothing was written)."""
    return SessionConflictError(
        f"session {short(session_id)} has {actual} messages, expected {expected}",
        session_id=session_id,
        expected=expected,
        actual=actual,
    )


def position_error(what: str, upper: int, value: object) -> ValidationError:
    """Return the error for a fork point or edit start past the session's length."""
    return ValidationError(f"{what} must be between 0 and {upper}, got {value!r}"[:200])
