"""Where the ADK session service keeps each thing in a unistore store.

* A session is a unistore session in the scope of its ``(app_name, user_id)``
  pair; its events are the session's messages (one event's JSON each) and its
  own state and ADK update time are the session's metadata, so an append
  writes event, state and time in one atomic step.
* App state is one hash per app, user state one hash per ``(app, user)``
  pair, each field one state key holding its JSON value.
* The users of an app are the fields of one more hash, so sessions can be
  listed for a whole app without scanning every scope of the store.

Names reach the store only in encoded form: a name is its JSON text and a
pair the JSON text of a two-item list, which no other name or pair spells,
so no app or user name (with quotes, ``:``, ``../``, NUL, lone surrogates or
10 KB of text) can reach another one's data. The JSON is ASCII, which every
driver stores as it is.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

from unistore.errors import ValidationError
from unistore.sdk import short

APP_STATE_NS: Final = "adk:app-state"
USER_STATE_NS: Final = "adk:user-state"
USERS_NS: Final = "adk:users"

# A scope is at most 1024 characters; longer encodings are hashed. The two
# prefixes differ, so a hashed scope never equals a plain one.
_SCOPE_MAX: Final = 1024
_PLAIN: Final = "adk:"
_HASHED: Final = "adk#"

# Stale-session markers this service writes: "unistore:<message count>".
_MARKER: Final = "unistore:"


def check_name(value: object, what: str) -> str:
    """Return an app name or user id as ``str``, or name what was wrong."""
    if isinstance(value, str):
        return str(value)
    raise ValidationError(f"{what} must be a str, got {type(value).__name__}")


def check_state(state: object) -> dict[str, Any]:
    """Return the initial state of a new session: a dict with ``str`` keys, or ``{}``."""
    if state is None:
        return {}
    if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
        raise ValidationError(
            f"state must be a dict with str keys or None, got {type(state).__name__}"
        )
    return state


def check_session_id(value: object) -> str:
    """Return a session id with surrounding blanks removed, as ADK's services do."""
    if not isinstance(value, str):
        raise ValidationError(f"session_id must be a str, got {type(value).__name__}")
    return str(value).strip()


def shown(session_id: str) -> str:
    """Return a session id for an error message: as ADK words it, unless hostile.

    A short printable id reads as ADK's own services print it; a long one, or
    one with control characters, is shown bounded and escaped so that it can
    neither flood nor forge a log line.
    """
    if len(session_id) <= 200 and session_id.isprintable():
        return session_id
    return short(session_id)


def _pair(app_name: str, user_id: str) -> str:
    # ensure_ascii: NUL and lone surrogates become escapes the stores accept.
    return json.dumps([app_name, user_id], separators=(",", ":"))


def scope_of(app_name: str, user_id: str) -> str:
    """Return the session scope of one ``(app, user)`` pair."""
    pair = _pair(app_name, user_id)
    if len(_PLAIN) + len(pair) <= _SCOPE_MAX:
        return _PLAIN + pair
    return _HASHED + hashlib.sha256(pair.encode("utf-8", "surrogatepass")).hexdigest()


def app_slot(app_name: str) -> str:
    """Return the slot of an app's state hash (and of its users hash)."""
    return json.dumps(app_name)


def user_field(user_id: str) -> str:
    """Return the field naming a user in the hash of an app's users."""
    return json.dumps(user_id)


def user_of_field(field: str) -> str:
    """Return the user id a field of an app's users hash names."""
    user = json.loads(field)
    if not isinstance(user, str):  # pragma: no cover - only this module writes these
        raise TypeError("not a user field")
    return user


def user_slot(app_name: str, user_id: str) -> str:
    """Return the slot of one user's state hash."""
    return _pair(app_name, user_id)


def encode_state(delta: dict[str, Any]) -> dict[str, bytes]:
    """Return hash fields for a (JSON-safe) state delta: JSON keys and values."""
    return {json.dumps(key): json.dumps(value).encode() for key, value in delta.items()}


def decode_state(fields: dict[str, bytes]) -> dict[str, Any]:
    """Return the state a state hash holds."""
    return {json.loads(key): json.loads(raw) for key, raw in fields.items()}


def session_metadata(state: dict[str, Any], update_time: float) -> dict[str, Any]:
    """Return the metadata stored with a session: its own state and ADK update time."""
    return {"state": state, "update_time": update_time}


def stored_state(metadata: Any) -> dict[str, Any]:
    """Return the session state kept in a session's metadata."""
    state = metadata.get("state") if isinstance(metadata, dict) else None
    return dict(state) if isinstance(state, dict) else {}


def stored_update_time(metadata: Any) -> float:
    """Return the ADK update time kept in a session's metadata."""
    value = metadata.get("update_time") if isinstance(metadata, dict) else None
    return float(value) if isinstance(value, int | float) else 0.0


def marker(length: int) -> str:
    """Return the revision marker of a session that holds ``length`` events."""
    return f"{_MARKER}{length}"


def parse_marker(value: str | None) -> int | None:
    """Return the length a marker of ours records; ``None`` for none or another's."""
    if value is None or not value.startswith(_MARKER):
        return None
    digits = value[len(_MARKER) :]
    return int(digits) if digits.isdigit() else None
