"""Argument rules shared by the LangChain classes, applied before any I/O."""

from __future__ import annotations

from datetime import timedelta

from unistore._namespaced._checks import check_ttl
from unistore.errors import ValidationError
from unistore.sdk import check_retention

#: Namespaces of the key-value stores start with this, so that they cannot
#: meet the namespaces of other products of the same store by accident.
NAMESPACE_PREFIX = "langchain:"
DEFAULT_NAMESPACE = "default"
#: Long enough for any name or id a caller builds; bounded so that it can be indexed.
NAMESPACE_MAX = ID_MAX = 1024


def check_namespace(namespace: object, owner: str) -> str:
    """Return a key-value store's namespace: a non-empty ``str`` of at most 1024 characters."""
    if not isinstance(namespace, str):
        raise ValidationError(f"{owner}: namespace must be a str, got {type(namespace).__name__}")
    if not 0 < len(namespace) <= NAMESPACE_MAX:
        raise ValidationError(
            f"{owner}: namespace must be 1 to {NAMESPACE_MAX} characters, got {len(namespace)}"
        )
    return str(namespace)


def check_session_id(session_id: object, owner: str) -> str:
    """Return a session id: a ``str`` of 1 to 1024 characters (any text: ids are opaque)."""
    if not isinstance(session_id, str):
        raise ValidationError(f"{owner}: session_id must be a str, got {type(session_id).__name__}")
    if not 0 < len(session_id) <= ID_MAX:
        raise ValidationError(
            f"{owner}: session_id must be 1 to {ID_MAX} characters, got {len(session_id)}"
        )
    return str(session_id)


def check_key_ttl(ttl: object, owner: str) -> float | None:
    """Return the expiry of written keys: ``None`` (never) or positive seconds."""
    if ttl is None:
        return None
    try:
        return check_ttl(ttl)
    except ValidationError as exc:
        raise ValidationError(f"{owner}: {exc}") from None


def check_session_ttl(ttl: float | timedelta | None, owner: str) -> float | None:
    """Return a session's retention: ``None`` (never expires) or seconds, at most 100 years."""
    if ttl is None:
        return None
    try:
        return check_retention(check_ttl(ttl))
    except ValidationError as exc:
        raise ValidationError(f"{owner}: {exc}") from None


def check_prefix(prefix: object, owner: str) -> str:
    """Return a key prefix for listing: ``""`` for ``None``."""
    if prefix is None:
        return ""
    if not isinstance(prefix, str):
        raise ValidationError(f"{owner}: prefix must be a str or None, got {type(prefix).__name__}")
    return str(prefix)
