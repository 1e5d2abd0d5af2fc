"""Reading sessions back: stored JSON texts to messages, and the not-found error."""

from __future__ import annotations

import json
from typing import Any

from unistore.errors import CorruptionError, SessionNotFoundError
from unistore.sdk import session_not_found

__all__ = ["decode_message", "missing_session"]


def decode_message(session_id: str, index: int, text: str) -> dict[str, Any]:
    """Return stored message ``index`` as a dict.

    Raises:
        CorruptionError: The text is not a JSON object.
    """
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CorruptionError(
            f"message {index} of session {session_id[:80]!r} is not JSON"
        ) from exc
    if not isinstance(value, dict):
        raise CorruptionError(f"message {index} of session {session_id[:80]!r} is not an object")
    return value


def missing_session(session_id: str) -> SessionNotFoundError:
    """Return the error for a session that does not exist."""
    return session_not_found(session_id)
