"""Server-side sessions for Starlette and FastAPI, on any unistore driver.

:class:`SessionMiddleware` gives every request a ``request.session`` mapping
whose data lives in the store, one namespace per session; the cookie carries
only a random 256-bit id::

    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from unistore.integrations.starlette import SessionMiddleware

    app = Starlette(
        routes=[...],
        middleware=[Middleware(SessionMiddleware, store="redis://localhost:6379/0")],
    )

    async def login(request):
        await request.session.regenerate()  # a new id at login (session fixation)
        request.session["user"] = "ada"  # JSON values, written per key
        await request.session.namespace.incr("logins")  # the namespace handle

With FastAPI: ``app.add_middleware(SessionMiddleware, store=...)``.
Install with ``pip install "unistore[starlette]"``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

try:
    from starlette.datastructures import MutableHeaders
    from starlette.requests import HTTPConnection
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        'unistore.integrations.starlette needs Starlette: pip install "unistore[starlette]"'
    ) from exc

from unistore._namespaced._handle import Namespace
from unistore._namespaced._store import NamespacedStore
from unistore._url import StoreURL
from unistore.errors import ConfigurationError, ValidationError
from unistore.integrations._web._config import DEFAULT_TTL, WebConfig, make_config
from unistore.integrations._web._copy import copy_session
from unistore.integrations._web._ids import namespace_id, new_token, parse_token
from unistore.integrations._web._state import (
    SLOT,
    SessionState,
    committed,
    decode,
    plan_flush,
)
from unistore.protocols import Store

__all__ = ["Session", "SessionMiddleware", "session_of"]

_OWNER: Final = "SessionMiddleware"


class _Engine:
    """The store side of the middleware: load a session, write what changed."""

    def __init__(self, store: Store | str | StoreURL, config: WebConfig) -> None:
        self.config = config
        self._url: str | StoreURL | None = None
        if isinstance(store, str | StoreURL):
            # Opened on the application's event loop by the first request, closed
            # at lifespan shutdown.
            self._url = store
        elif not isinstance(store, Store):
            raise ValidationError(
                f"{_OWNER} takes a store URL or an open unistore store, not {type(store).__name__}"
            )
        self._use(store)

    def _use(self, store: Store | str | StoreURL) -> None:
        if isinstance(store, str | StoreURL):
            from unistore._registry import connect

            store = connect(store)  # no I/O yet: the first call connects
        self.store = store
        self.text: NamespacedStore[str] = NamespacedStore(
            store, prefix=self.config.prefix, default_ttl=self.config.ttl
        )
        self.raw: NamespacedStore[bytes] = NamespacedStore(
            store, prefix=self.config.prefix, default_ttl=self.config.ttl, decode=False
        )

    async def load(self, cookie: str | None, *, http: bool) -> Session:
        token = parse_token(cookie)
        if token is None:
            return Session(self, SessionState(), {}, http=http)
        loaded = decode(await self.text.namespace(namespace_id(token)).hgetall(SLOT))
        return Session(self, SessionState.from_load(token, loaded), loaded.values, http=http)

    async def flush(self, session: Session, *, can_set_cookie: bool) -> str | None:
        """Write the session's changes; return the ``Set-Cookie`` value to send, if any."""
        state = session._state
        plan = plan_flush(
            state,
            session,
            touch_interval=self.config.touch_interval,
            can_set_cookie=can_set_cookie,
        )
        for old in plan.purge:
            await self.text.namespace(old).purge()
        if plan.namespace is not None:
            ns = self.text.namespace(plan.namespace)
            if plan.hset:
                await ns.hset(SLOT, plan.hset)
            if plan.hdel:
                await ns.hdel(SLOT, *plan.hdel)
            if plan.touch:
                await ns.touch()
        committed(state, plan)
        if plan.cookie == "set" and state.token is not None:
            return self.config.cookie.set_header(state.token)
        if plan.cookie == "delete":
            return self.config.cookie.delete_header()
        return None

    async def aclose(self) -> None:
        if self._url is not None:
            store = self.store
            # The same app may be served again (a new lifespan, a new event
            # loop): it gets a fresh store, which connects on first use.
            self._use(self._url)
            await store.aclose()


class Session(dict[str, Any]):
    """``request.session``: a mapping of JSON values stored per key, plus its namespace.

    Read and write it like a ``dict``. Values must be JSON-serialisable
    (``str``, numbers, ``bool``, ``None``, lists and dicts of them), as with
    Starlette's own session; keys are ``str``. What changed is written at the
    end of the request, key by key, so concurrent requests that change
    different keys keep each other's changes.

    The ``repr`` lists no values: sessions hold secrets.
    """

    __slots__ = ("_engine", "_http", "_state")

    def __init__(
        self, engine: _Engine, state: SessionState, values: dict[str, Any], *, http: bool = True
    ) -> None:
        super().__init__(values)
        self._engine = engine
        self._state = state
        self._http = http

    @property
    def namespace(self) -> Namespace[str]:
        """The session's namespace handle, for hashes, counters and ``with_cas``.

        Its writes go to the store at once, with the session's TTL. Using it
        makes the session exist: the response sets the cookie. The slot
        ``~session`` holds the mapping; every other slot is yours.
        """
        return self._engine.text.namespace(namespace_id(self._state.need_token()))

    @property
    def is_new(self) -> bool:
        """Whether the request came without a live session (nothing was loaded)."""
        return not self._state.known

    async def regenerate(self) -> None:
        """Give the session a new id, keeping its data; the old id stops working.

        Call it when the privilege level changes, at login above all, so that an
        id planted in the browser beforehand is useless. The data moves at once
        (slots are copied, the old namespace is purged) and the response sends
        the new cookie.
        """
        state = self._state
        # A token is only held for a live session or one this request made
        # (its namespace may already hold the application's writes): move both.
        old = state.token
        state.token = new_token()
        state.used = True
        state.send_cookie = True
        if old is not None:
            raw = self._engine.raw
            await copy_session(
                raw.namespace(namespace_id(old)), raw.namespace(namespace_id(state.token))
            )

    async def save(self) -> None:
        """Write what changed now rather than when the response starts.

        For long-lived WebSocket connections above all, whose changes are
        otherwise written when the connection ends. Over HTTP the response
        still sends the cookie of a new or cleared session; over a WebSocket
        a session that does not exist yet cannot be made (no cookie can reach
        the client), and its changes are not written.
        """
        state = self._state
        cleared = state.cleared
        header = await self._engine.flush(self, can_set_cookie=self._http)
        if header is not None:
            # Sent by the response, which has not started yet.
            state.send_cookie = state.token is not None
            state.cleared = cleared and state.token is None

    def clear(self) -> None:
        """Empty the session and drop it: its namespace is purged at the end of the request.

        The response deletes the cookie, unless the request writes the
        session again, which then starts a new one with a new id.
        """
        self._state.forget()
        super().clear()

    def __repr__(self) -> str:
        return f"<Session keys={len(self)} new={self.is_new}>"


def session_of(connection: HTTPConnection) -> Session:
    """Return ``connection.session`` typed as a :class:`Session`.

    Starlette types ``request.session`` as a plain ``dict``; this gives type
    checkers the namespace handle and :meth:`Session.regenerate` as well.

    Raises:
        ConfigurationError: :class:`SessionMiddleware` does not serve the
            connection (another session middleware, or none).
    """
    session = connection.scope.get("session")
    if not isinstance(session, Session):
        raise ConfigurationError(
            "request.session does not come from unistore's SessionMiddleware; add "
            "Middleware(unistore.integrations.starlette.SessionMiddleware, store=...)"
        )
    return session


class SessionMiddleware:
    """ASGI middleware: ``request.session`` backed by a namespace per session.

    Args:
        app: The ASGI application.
        store: A store URL (the middleware opens the store, on the
            application's event loop, and closes it at lifespan shutdown) or an
            open unistore store (borrowed: the application closes it).
        prefix: Prefix of the sessions' namespaces (1 to 64 letters, digits
            or dashes).
        ttl: Lifetime of an idle session: seconds or a ``timedelta``
            (default 14 days). Every write through the session or its
            namespace carries it, and the sessions that requests use are touched
            so that it rolls; the cookie's ``Max-Age`` matches it.
        touch_interval: How stale the last touch must be before a request
            touches the session again (and re-sends the cookie); default a
            tenth of ``ttl``, ``0`` to touch on every request.
        cookie_name: Name of the cookie.
        secure: Send the cookie over HTTPS only (on by default; browsers also
            accept it on ``http://localhost``).
        same_site: ``"lax"`` (default), ``"strict"`` or ``"none"`` (which
            needs ``secure=True``).
        path: Path attribute of the cookie.
        domain: Domain attribute of the cookie (default: the exact host).

    Raises:
        ValidationError: A setting is invalid (the message names it).
    """

    def __init__(
        self,
        app: ASGIApp,
        store: Store | str | StoreURL,
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
        self.app = app
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
        self._engine = _Engine(store, config)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection with ``scope["session"]`` set."""
        kind = scope["type"]
        if kind == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        engine = self._engine
        cookie = HTTPConnection(scope).cookies.get(engine.config.cookie.name)
        session = await engine.load(cookie, http=kind == "http")
        scope["session"] = session
        if kind == "websocket":
            # No response headers to carry a cookie: changes to a live session
            # are saved when the connection ends; a new session is not made.
            await self.app(scope, receive, send)
            await engine.flush(session, can_set_cookie=False)
            return
        started = False

        async def send_with_cookie(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                started = True
                header = await engine.flush(session, can_set_cookie=True)
                session._http = False  # the headers are on their way: no more cookies
                if header is not None:
                    MutableHeaders(scope=message).append("set-cookie", header)
            await send(message)

        await self.app(scope, receive, send_with_cookie)
        if started:
            # Changes made while the body streamed; the id is already the client's.
            await engine.flush(session, can_set_cookie=False)

    def _lifespan_send(self, send: Send) -> Send:
        async def closing_send(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self._engine.aclose()
            await send(message)

        return closing_send
