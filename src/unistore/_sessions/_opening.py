"""What a SessionManager is given: a store with session documents or a URL, and ids."""

from __future__ import annotations

from unistore._url import StoreURL
from unistore.errors import NotSupportedError, ValidationError
from unistore.protocols import Capability, SessionDocuments, Store

__all__ = [
    "check_count",
    "check_label",
    "check_scope",
    "check_session_id",
    "check_session_ttl",
    "open_store",
]


def open_store(
    store_or_url: str | StoreURL | Store | SessionDocuments,
) -> tuple[SessionDocuments, bool]:
    """Return the session store and whether the manager opened it (and so closes it).

    Raises:
        NotSupportedError: The store has no session documents.
    """
    if isinstance(store_or_url, str | StoreURL):
        # Imported here: the registry loads pluggy, which `import unistore` avoids.
        from unistore._registry import connect

        store: object = connect(store_or_url)
        owned = True
    else:
        store = store_or_url
        owned = False
    capabilities = getattr(store, "capabilities", None)
    declared = capabilities is None or Capability.SESSION_DOCUMENTS in capabilities
    if not declared or not isinstance(store, SessionDocuments):
        raise NotSupportedError(f"store {getattr(store, 'url', store)} has no session documents")
    return store, owned


def check_session_id(session_id: object, what: str = "session id") -> str:
    """Return a session id given to the manager, refusing anything but ``str``."""
    if not isinstance(session_id, str):
        raise ValidationError(f"a {what} must be a str, got {type(session_id).__name__}")
    return session_id


def check_label(label: object) -> None:
    """Refuse a label that is neither ``str`` nor ``None``."""
    if label is not None and not isinstance(label, str):
        raise ValidationError("a label must be a str")


def check_scope(scope: object) -> str | None:
    """Return a manager's scope: ``None`` (the default scope) or a valid scope text."""
    # Imported here: the SDK's checks are the one rule set for scopes.
    from unistore.sdk import check_scope as sdk_check_scope

    sdk_check_scope(scope)
    return None if scope is None else str(scope)


def check_session_ttl(ttl: object) -> float | None:
    """Return a session retention in seconds: ``None``, a positive number or ``timedelta``."""
    if ttl is None:
        return None
    # Imported here: the namespaced store's TTL rules (numbers and timedelta)
    # and the SDK's bound for retention are the one rule set for both.
    from unistore._namespaced._checks import check_ttl
    from unistore.sdk import check_retention

    return check_retention(check_ttl(ttl))


def check_count(n: object, what: str) -> int:
    """Return a count of at least 1 given to the manager."""
    if isinstance(n, int) and not isinstance(n, bool) and n >= 1:
        return int(n)
    raise ValidationError(f"{what} must be an int of at least 1, got {n!r}"[:200])
