"""A Django session engine on any unistore driver.

Point Django at it in the settings::

    SESSION_ENGINE = "unistore.integrations.django"
    UNISTORE_SESSION_STORE = "redis://localhost:6379/0"  # a URL, or a unistore.sync.Store
    UNISTORE_SESSION_PREFIX = "session"  # optional
    UNISTORE_SESSION_TOUCH_INTERVAL = None  # optional: seconds, default a tenth of the age

``request.session`` then keeps its data in the store, one namespace per
session, written key by key: Django hands a session engine the whole dict to
save, and this engine compares it with what the request loaded, so only the
keys that changed are written and two concurrent requests that change
different keys keep each other's changes. The session id is a random 256-bit
token; the store knows it only by its SHA-256 digest. ``request.session.namespace``
is the blocking namespace handle (:mod:`unistore.sync`) for hashes, counters
and ``with_cas``.

Django's own ``SessionMiddleware`` writes the cookie, with the
``SESSION_COOKIE_*`` settings (set ``SESSION_COOKIE_SECURE = True`` in
production). Idle sessions expire after ``SESSION_COOKIE_AGE`` seconds, on the
store's TTL: there is nothing for ``clearsessions`` to do. Values must be JSON
(Django's default serializer). Install with ``pip install "unistore[django]"``.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Final

try:
    # Django ships no type information (django-stubs is a separate project).
    from django.conf import settings  # type: ignore[import-untyped]
    from django.contrib.sessions.backends.base import SessionBase  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        'unistore.integrations.django needs Django: pip install "unistore[django]"'
    ) from exc

from unistore.errors import ConfigurationError
from unistore.integrations._web._config import make_config
from unistore.integrations._web._ids import namespace_id, new_token, parse_token
from unistore.integrations._web._state import MARKER, SLOT, SessionState
from unistore.integrations._web._sync import SyncEngine

__all__ = ["SessionStore", "close"]

_OWNER: Final = "unistore.integrations.django"
_ENGINES: dict[tuple[Any, ...], SyncEngine] = {}
_LOCK = threading.Lock()


def _engine() -> SyncEngine:
    """The engine of the current settings (one store per configuration, shared)."""
    url = getattr(settings, "UNISTORE_SESSION_STORE", None)
    if not url:
        raise ConfigurationError(
            f"{_OWNER}: set UNISTORE_SESSION_STORE to a store URL in the Django settings"
        )
    prefix = getattr(settings, "UNISTORE_SESSION_PREFIX", "session")
    interval = getattr(settings, "UNISTORE_SESSION_TOUCH_INTERVAL", None)
    key = (url, prefix, settings.SESSION_COOKIE_AGE, interval)
    engine = _ENGINES.get(key)
    if engine is not None:
        return engine
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            config = make_config(
                owner=_OWNER,
                prefix=prefix,
                ttl=settings.SESSION_COOKIE_AGE,
                touch_interval=interval,
                # Django's middleware writes the cookie; these go unused.
                cookie_name="sessionid",
                secure=True,
                same_site="lax",
                path="/",
                domain=None,
            )
            engine = _ENGINES[key] = SyncEngine(url, config, _OWNER)
    return engine


def close() -> None:
    """Close the stores the engine opened (they also close at interpreter exit)."""
    with _LOCK:
        engines = list(_ENGINES.values())
        _ENGINES.clear()
    for engine in engines:
        engine.close()


class SessionStore(SessionBase):  # type: ignore[misc]
    """Django's ``request.session``, stored per key in a unistore namespace.

    Args:
        session_key: The id from the cookie; anything that is not one of this
            engine's ids, or names no live session, gives a fresh session.
    """

    # A property of SessionBase that validates what is assigned.
    _session_key: str | None
    session_key: str | None

    def __init__(self, session_key: str | None = None) -> None:
        self._state = SessionState()
        self._unistore = _engine()
        super().__init__(session_key)

    # -- ids --------------------------------------------------------------------

    def _validate_session_key(self, key: str | None) -> bool:
        return parse_token(key) is not None

    def _get_new_session_key(self) -> str:
        # 256 random bits: a collision is not a case to look for.
        return new_token()

    # -- the engine API -----------------------------------------------------------

    def load(self) -> dict[str, Any]:
        """Load the session; an unknown id gives an empty session and drops the id."""
        state, values = self._unistore.load(self.session_key)
        self._state = state
        if not state.known:
            self._session_key = None
            return {}
        touched = state.touched_at or 0.0
        if time.time() - touched >= self._unistore.config.touch_interval:
            # Makes Django's middleware save (which touches) and resend the cookie.
            self.modified = True
        return values

    def exists(self, session_key: str | None) -> bool:
        """Whether ``session_key`` names a live session."""
        token = parse_token(session_key)
        if token is None:
            return False
        ns = self._unistore.text.namespace(namespace_id(token))
        return ns.hget(SLOT, MARKER) is not None

    def create(self) -> None:
        """Start a new session with a new id and store it (empty) at once."""
        self._session_key = new_token()
        self._state = SessionState()
        self.save(must_create=True)
        self.modified = True

    def save(self, must_create: bool = False) -> None:
        """Write the keys that changed since the load (all of them for a new session)."""
        if self.session_key is None:
            self.create()
            return
        data = self._get_session(no_load=must_create)
        state = self._state
        if state.token != self.session_key:
            state.token, state.known, state.loaded = self.session_key, False, {}
        state.used = True
        self._unistore.flush(state, data)

    def delete(self, session_key: str | None = None) -> None:
        """Purge the session ``session_key`` (default: this one)."""
        key = parse_token(session_key if session_key is not None else self.session_key)
        if key is None:
            return
        self._unistore.text.namespace(namespace_id(key)).purge()
        if key == self._state.token:
            self._state = SessionState()

    def cycle_key(self) -> None:
        """A new id with the same data (called by ``login``); the old id stops working."""
        data = self._get_session()
        if self.session_key is None or not self._state.known:
            self.create()
            self._session_cache = data
            return
        self._unistore.regenerate(self._state)
        self._session_key = self._state.token
        self.modified = True

    @classmethod
    def clear_expired(cls) -> None:
        """Nothing to do: the store expires idle sessions on its own."""

    # -- beyond Django's API -----------------------------------------------------

    @property
    def namespace(self) -> Any:
        """The session's blocking namespace handle (a :class:`unistore.sync.Namespace`).

        For hashes, counters and ``with_cas``; writes go to the store at once.
        Using it makes the session exist (with an id and a cookie). The slot
        ``~session`` holds the mapping; every other slot is yours.
        """
        self._get_session()
        if self.session_key is None:
            self.create()
        self.modified = True
        key = self.session_key
        assert key is not None  # create() made one
        return self._unistore.text.namespace(namespace_id(key))
