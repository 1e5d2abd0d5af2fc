"""From a StoreURL and options to a SQLAlchemy AsyncEngine (no I/O happens here).

The SQLAlchemy URL is assembled from the parsed parts with ``URL.create`` so a
password is never pasted into text; SQLAlchemy masks it in its own repr, and
the driver only ever prints the StoreURL's redacted form.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, StaticPool

from unistore import StoreURL
from unistore.errors import ConfigurationError, InvalidURLError

_PG_DRIVERS = ("asyncpg", "psycopg")


@dataclass(frozen=True)
class Settings:
    """The driver options, typed (see ``_plugin.OPTIONS`` for their meaning).

    ``clock`` (:data:`unistore.sdk.CLOCK_OPTION`) is not among them: it goes
    to :class:`~unistore.sdk.StoreBase`.
    """

    table_prefix: str
    create_schema: bool
    pool_size: int
    max_overflow: int
    pool_timeout: float
    pool_pre_ping: bool
    busy_timeout: float
    connect_timeout: float
    ssl: str | None
    sweep_interval: float
    engine: AsyncEngine | None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Settings:
        return cls(**{name: options[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Target:
    """What a URL points at: the dialect, its SQLAlchemy URL, in-memory or not."""

    dialect: str
    driver: str
    url: URL
    memory: bool


def resolve(url: StoreURL) -> Target:
    """Turn a ``sqlite``/``postgresql`` StoreURL into a SQLAlchemy target.

    Raises:
        InvalidURLError: The URL names an unsupported driver or misplaces parts.
        ConfigurationError: The optional client library it needs is missing.
    """
    if url.scheme == "sqlite":
        if url.dialect not in (None, "aiosqlite"):
            raise InvalidURLError(
                f"unsupported SQLite driver {url.dialect!r} in {url}; use sqlite:// (aiosqlite)"
            )
        if url.host or url.username or url.password is not None or url.port:
            raise InvalidURLError(
                f"SQLite URL {url} names a host; use sqlite:///relative.db, "
                "sqlite:////absolute.db or sqlite:// for an in-memory database"
            )
        path = url.local_path
        return Target(
            dialect="sqlite",
            driver="aiosqlite",
            url=URL.create("sqlite+aiosqlite", database=path or ":memory:"),
            memory=path is None,
        )
    if url.scheme == "postgresql":
        driver = url.dialect or "asyncpg"
        if driver not in _PG_DRIVERS:
            raise InvalidURLError(
                f"unsupported PostgreSQL driver {driver!r} in {url}; use postgresql:// "
                "(asyncpg) or postgresql+psycopg://"
            )
        if importlib.util.find_spec(driver) is None:
            extra = "unistore-sql[psycopg]" if driver == "psycopg" else "unistore-sql"
            raise ConfigurationError(
                f"{url} needs the {driver} package; install it with: pip install '{extra}'"
            )
        database = url.path.lstrip("/") or None
        return Target(
            dialect="postgresql",
            driver=driver,
            url=URL.create(
                f"postgresql+{driver}",
                username=url.username,
                password=url.password,
                host=url.host,
                port=url.port,
                database=database,
            ),
            memory=False,
        )
    raise InvalidURLError(f"the sql driver does not serve {url.scheme!r} URLs")


def create_engine(target: Target, settings: Settings) -> AsyncEngine:
    """Create the store's own engine (it connects lazily)."""
    if target.dialect == "sqlite":
        return _sqlite_engine(target, settings)
    connect_args: dict[str, Any] = {}
    if target.driver == "asyncpg":
        connect_args["timeout"] = settings.connect_timeout
        if settings.ssl is not None:
            connect_args["ssl"] = settings.ssl
    else:
        connect_args["connect_timeout"] = max(1, round(settings.connect_timeout))
        if settings.ssl is not None:
            connect_args["sslmode"] = settings.ssl
    return create_async_engine(
        target.url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_pre_ping=settings.pool_pre_ping,
        hide_parameters=True,
        connect_args=connect_args,
    )


def _sqlite_engine(target: Target, settings: Settings) -> AsyncEngine:
    connect_args: dict[str, Any] = {"timeout": settings.busy_timeout}
    if target.memory:
        # One connection holds the whole in-memory database; the store
        # serialises its use (see Database), so sharing it across threads is safe.
        connect_args["check_same_thread"] = False
        engine = create_async_engine(
            target.url, poolclass=StaticPool, hide_parameters=True, connect_args=connect_args
        )
    else:
        engine = create_async_engine(
            target.url,
            poolclass=AsyncAdaptedQueuePool,
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.pool_timeout,
            hide_parameters=True,
            connect_args=connect_args,
        )
    busy_ms = int(settings.busy_timeout * 1000)
    wal = not target.memory

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun explicitly (BEGIN IMMEDIATE for writes), not
        # implicitly by the sqlite3 module, so autocommit mode at this level.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        finally:
            cursor.close()

    event.listen(engine.sync_engine, "connect", on_connect)
    return engine


class EngineReaper:
    """Releases the connections of an engine whose store was dropped unclosed.

    Registered with :meth:`~unistore.sdk.StoreBase._hold`, it runs at garbage
    collection, with no greenlet and maybe no event loop, where
    ``AsyncEngine.dispose()`` cannot run and ``Engine.dispose()`` fails to
    close async connections. So it tracks the engine's DBAPI connections
    through pool events and force-closes each without awaiting: aiosqlite's
    ``stop()`` ends its worker thread, asyncpg's ``terminate()`` drops the
    socket (if the loop is already closed, asyncio's transport finaliser
    closes it), psycopg's ``pgconn.finish()`` closes it at once. It holds the
    engine, never the store.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine: Engine = engine.sync_engine
        self._live: dict[int, Any] = {}
        event.listen(self._engine, "connect", self._opened)
        event.listen(self._engine, "close", self._closed)
        event.listen(self._engine, "close_detached", self._detached)

    def _opened(self, dbapi_connection: Any, _record: Any) -> None:
        self._live[id(dbapi_connection)] = dbapi_connection

    def _closed(self, dbapi_connection: Any, _record: Any) -> None:
        self._live.pop(id(dbapi_connection), None)

    def _detached(self, dbapi_connection: Any) -> None:
        self._live.pop(id(dbapi_connection), None)

    def __call__(self) -> None:
        """Force-close every open connection and drop the pool (no I/O waits)."""
        connections, failed = list(self._live.values()), 0
        self._live.clear()
        for connection in connections:
            try:
                _force_close(connection, has_terminate=self._engine.dialect.has_terminate)
            except Exception:
                failed += 1
        self._engine.dispose(close=False)
        if failed:
            raise RuntimeError(f"{failed} database connection(s) could not be closed")


def _force_close(connection: Any, *, has_terminate: bool) -> None:
    if has_terminate:
        # Outside a greenlet, SQLAlchemy's terminate() force-closes (its GC path).
        connection.terminate()
        return
    pgconn = getattr(connection.driver_connection, "pgconn", None)
    if pgconn is None:
        raise RuntimeError("no way to close this connection synchronously")
    pgconn.finish()
