"""Server-side sessions for Flask, on any unistore driver.

:class:`UnistoreSessionInterface` replaces Flask's signed-cookie session:
``flask.session`` is a mapping whose data lives in the store, one namespace
per session, and the cookie carries only a random 256-bit id::

    from flask import Flask, session
    from unistore.integrations.flask import UnistoreSessionInterface, session_of

    app = Flask(__name__)
    app.session_interface = UnistoreSessionInterface("redis://localhost:6379/0")

    @app.post("/login")
    def login():
        session_of().regenerate()  # a new id at login (session fixation)
        session["user"] = "ada"  # JSON values, written per key
        session_of().namespace.incr("logins")  # the namespace handle
        return "ok"

It runs on the blocking facade :mod:`unistore.sync`: one store shared by every
thread of the WSGI server. Install with ``pip install "unistore[flask]"``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

try:
    import flask
    from flask.sessions import SessionInterface, SessionMixin
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        'unistore.integrations.flask needs Flask: pip install "unistore[flask]"'
    ) from exc

from unistore._url import StoreURL
from unistore.errors import ConfigurationError
from unistore.integrations._web._config import DEFAULT_TTL, make_config
from unistore.integrations._web._state import SessionState
from unistore.integrations._web._sync import SyncEngine

if TYPE_CHECKING:
    from flask.wrappers import Request, Response

    from unistore import sync

__all__ = ["Session", "UnistoreSessionInterface", "session_of"]

_OWNER: Final = "UnistoreSessionInterface"


class Session(dict[str, Any], SessionMixin):
    """``flask.session``: a mapping of JSON values stored per key, plus its namespace.

    Use it like Flask's own session. Values must be JSON-serialisable
    (``str``, numbers, ``bool``, ``None``, lists and dicts of them); keys are
    ``str``. What changed is written when the response is made, key by key, so
    concurrent requests that change different keys keep each other's changes.
    The ``repr`` lists no values.
    """

    def __init__(self, engine: SyncEngine, state: SessionState, values: dict[str, Any]) -> None:
        super().__init__(values)
        self._engine = engine
        self._state = state
        self.new = not state.known

    @property
    def namespace(self) -> sync.Namespace[str]:
        """The session's blocking namespace handle, for hashes, counters and ``with_cas``.

        Its writes go to the store at once, with the session's TTL. Using it
        makes the session exist. The slot ``~session`` holds the mapping;
        every other slot is yours.
        """
        ns: sync.Namespace[str] = self._engine.namespace(self._state)
        return ns

    def regenerate(self) -> None:
        """Give the session a new id, keeping its data; the old id stops working.

        Call it at login (session-fixation defence). The data moves at once;
        the response sends the new cookie.
        """
        self._engine.regenerate(self._state)

    def clear(self) -> None:
        """Empty the session and drop it: its namespace is purged with the response.

        The cookie is deleted, unless the request writes the session again,
        which then starts a new one with a new id.
        """
        self._state.forget()
        super().clear()

    def __repr__(self) -> str:
        return f"<Session keys={len(self)} new={self.new}>"


class UnistoreSessionInterface(SessionInterface):
    """A Flask session interface storing each session in a unistore namespace.

    Args:
        store: A store URL (opened here; :meth:`close` closes it, and so does
            interpreter exit) or a :class:`unistore.sync.Store` (borrowed).
        prefix: Prefix of the sessions' namespaces.
        ttl: Lifetime of an idle session: seconds or a ``timedelta`` (default
            14 days); it rolls as requests use the session, and the cookie's
            ``Max-Age`` matches it.
        touch_interval: How stale the last touch must be before a request
            touches the session again; default a tenth of ``ttl``.
        cookie_name: Name of the cookie.
        secure: Send the cookie over HTTPS only (on by default).
        same_site: ``"lax"`` (default), ``"strict"`` or ``"none"`` (needs
            ``secure=True``).
        path: Path attribute of the cookie.
        domain: Domain attribute of the cookie (default: the exact host).

    Raises:
        ValidationError: A setting is invalid (the message names it).
    """

    def __init__(
        self,
        store: sync.Store | str | StoreURL,
        *,
        prefix: str = "session",
        ttl: float | timedelta = DEFAULT_TTL,
        touch_interval: float | timedelta | None = None,
        cookie_name: str = "session",
        secure: bool = True,
        same_site: str = "lax",
        path: str = "/",
        domain: str | None = None,
    ) -> None:
        config = make_config(
            owner=_OWNER,
            prefix=prefix,
            ttl=ttl,
            touch_interval=touch_interval,
            cookie_name=cookie_name,
            secure=secure,
            same_site=same_site,
            path=path,
            domain=domain,
        )
        self._engine = SyncEngine(store, config, _OWNER)

    def open_session(self, app: flask.Flask, request: Request) -> Session:
        """Load the session the request's cookie names (a fresh one if none is live)."""
        cookie = request.cookies.get(self._engine.config.cookie.name)
        state, values = self._engine.load(cookie)
        return Session(self._engine, state, values)

    def save_session(self, app: flask.Flask, session: SessionMixin, response: Response) -> None:
        """Write what the request changed; set or delete the cookie as needed."""
        if not isinstance(session, Session):  # pragma: no cover - Flask passes ours
            return
        policy = self._engine.config.cookie
        if session.accessed or session._state.known:
            response.vary.add("Cookie")
        action = self._engine.flush(session._state, session)
        token = session._state.token
        if action == "set" and token is not None:
            response.headers.add("Set-Cookie", policy.set_header(token))
        elif action == "delete":
            response.headers.add("Set-Cookie", policy.delete_header())

    def close(self) -> None:
        """Close the store if this interface opened it from a URL."""
        self._engine.close()


def session_of() -> Session:
    """Return ``flask.session`` typed as a :class:`Session` (in a request).

    Raises:
        ConfigurationError: The app's session interface is not
            :class:`UnistoreSessionInterface`.
    """
    session = flask.session._get_current_object()  # type: ignore[attr-defined]
    if not isinstance(session, Session):
        raise ConfigurationError(
            "flask.session does not come from unistore: set "
            "app.session_interface = UnistoreSessionInterface(store)"
        )
    return session
