"""From a StoreURL and options to a SQLAlchemy AsyncEngine (no I/O happens here).

The SQLAlchemy URL is assembled from the parsed parts with ``URL.create`` so a
password is never pasted into text; SQLAlchemy masks it in its own repr, and
the driver only ever prints the StoreURL's redacted form.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, StaticPool

from unistore import StoreURL
from unistore.errors import ConfigurationError, InvalidOptionError, InvalidURLError
from unistore_sql._liveness import watch_connections
from unistore_sql._pgbouncer import pgbouncer_connect_args

_PG_DRIVERS = ("asyncpg", "psycopg")


@dataclass(frozen=True)
class Settings:
    """The driver options, typed (see ``_plugin.OPTIONS`` for their meaning).

    ``clock`` (:data:`unistore.sdk.CLOCK_OPTION`) is not among them: it goes
    to :class:`~unistore.sdk.StoreBase`.
    """

    table_prefix: str
    #: The open mode (``unistore.sdk.CREATE_OPTION``): False creates no file,
    #: table or upgrade, whatever ``create_schema`` says.
    create: bool
    create_schema: bool
    pool_size: int
    max_overflow: int
    pool_timeout: float
    pool_pre_ping: bool
    busy_timeout: float
    connect_timeout: float
    ssl: str | None
    application_name: str | None
    pgbouncer: bool
    sweep_interval: float
    engine: AsyncEngine | None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Settings:
        """Type the resolved options.

        Raises:
            InvalidOptionError: ``pgbouncer`` is on for an engine passed in,
                whose connections the store cannot configure.
        """
        settings = cls(**{name: options[name] for name in cls.__dataclass_fields__})
        if settings.pgbouncer and settings.engine is not None:
            raise InvalidOptionError(
                "option 'pgbouncer' configures the store's own engine and cannot apply to "
                "an engine passed in; create that engine with the connect arguments "
                "the sql driver's documentation lists under pgbouncer"
            )
        return settings


#: Settings only one dialect uses; the others apply to both.
_SQLITE_ONLY = frozenset({"busy_timeout"})
_POSTGRES_ONLY = frozenset(
    {"pool_pre_ping", "connect_timeout", "ssl", "application_name", "pgbouncer"}
)
#: Settings of the store's own engine: they do not apply to an engine passed in.
_ENGINE = frozenset({"pool_size", "max_overflow", "pool_timeout"}) | _SQLITE_ONLY | _POSTGRES_ONLY
#: Pool settings, which an in-memory SQLite database (one shared connection) has none of.
_POOL = frozenset({"pool_size", "max_overflow", "pool_timeout"})


def effective_settings(settings: Settings, dialect: str, *, memory: bool) -> dict[str, Any]:
    """The settings that apply to a store of ``dialect``, for ``unistore info``.

    In the order the options are declared; the open mode and the engine
    object are not settings to show.
    """
    skip = {"create", "engine"}
    skip |= _POSTGRES_ONLY if dialect == "sqlite" else _SQLITE_ONLY
    if settings.engine is not None:
        skip |= _ENGINE
    elif memory:
        skip |= _POOL
    return {
        name: getattr(settings, name) for name in Settings.__dataclass_fields__ if name not in skip
    }


@dataclass(frozen=True)
class Target:
    """What a URL points at: the dialect, its SQLAlchemy URL, in-memory or not."""

    dialect: str
    driver: str
    url: URL
    memory: bool
    #: The absolute path of a SQLite database file (``None`` otherwise).
    path: str | None = None


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
            # Made absolute now, as SQLAlchemy would: a later chdir does not move it.
            path=None if path is None else os.path.abspath(path),
        )
    if url.scheme == "postgresql":
        driver = url.dialect or "asyncpg"
        if driver not in _PG_DRIVERS:
            raise InvalidURLError(
                f"unsupported PostgreSQL driver {driver!r} in {url}; use postgresql:// "
                "(asyncpg) or postgresql+psycopg://"
            )
        if importlib.util.find_spec(driver) is None:
            extra = "[psycopg]" if driver == "psycopg" else ""
            raise ConfigurationError(
                f"{url} needs the {driver} package; install it with: pip install "
                f"'unistore-sql{extra}' (from a checkout of unistore: "
                f"pip install './drivers/sql{extra}')"
            )
        if url.hosts:
            raise InvalidURLError(
                f"{url} names several hosts; the sql driver connects to one server "
                "(put a pooler or a load balancer in front for more)"
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
    """Create the store's own engine (it connects lazily).

    Raises:
        InvalidOptionError: ``pgbouncer`` is on for a SQLite database.
    """
    if target.dialect == "sqlite":
        if settings.pgbouncer:
            raise InvalidOptionError(
                "option 'pgbouncer' applies to PostgreSQL only, not to a SQLite database"
            )
        return _sqlite_engine(target, settings)
    engine = create_async_engine(
        target.url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        hide_parameters=True,
        connect_args=_postgres_connect_args(target.driver, settings),
    )
    if settings.pool_pre_ping:
        # In place of SQLAlchemy's pre-ping, which costs round trips on every use.
        watch_connections(engine.sync_engine)
    return engine


def _postgres_connect_args(driver: str, settings: Settings) -> dict[str, Any]:
    connect_args: dict[str, Any] = {}
    if driver == "asyncpg":
        connect_args["timeout"] = settings.connect_timeout
        if settings.ssl is not None:
            connect_args["ssl"] = settings.ssl
        if settings.application_name is not None:
            connect_args["server_settings"] = {"application_name": settings.application_name}
    else:
        connect_args["connect_timeout"] = max(1, round(settings.connect_timeout))
        if settings.ssl is not None:
            connect_args["sslmode"] = settings.ssl
        if settings.application_name is not None:
            connect_args["application_name"] = settings.application_name
    if settings.pgbouncer:
        connect_args.update(pgbouncer_connect_args(driver))
    return connect_args


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
        assert target.path is not None
        engine = create_async_engine(
            target.url,
            poolclass=AsyncAdaptedQueuePool,
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.pool_timeout,
            hide_parameters=True,
            async_creator=_sqlite_file_connector(
                target.path, create=settings.create, timeout=settings.busy_timeout
            ),
        )
    busy_ms = int(settings.busy_timeout * 1000)
    wal = sqlite_wal(target, settings)

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        sqlite_pragmas(dbapi_connection, wal=wal, busy_ms=busy_ms)

    event.listen(engine.sync_engine, "connect", on_connect)
    return engine


def sqlite_wal(target: Target, settings: Settings) -> bool:
    """Whether the store's SQLite connections switch the file to WAL mode.

    WAL is a lasting property of the file: a store that may not create
    anything must not convert someone else's database (nor make its -wal file).
    """
    return not target.memory and settings.create


#: ``PRAGMA auto_vacuum``'s answer for INCREMENTAL.
_INCREMENTAL = 2


def sqlite_pragmas(dbapi_connection: Any, *, wal: bool, busy_ms: int) -> None:
    """Prepare one new SQLite connection of the store."""
    # Transactions are begun explicitly (BEGIN IMMEDIATE for writes), not
    # implicitly by the sqlite3 module, so autocommit mode at this level.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if wal:
            # Only a database with no table yet takes it: space freed by the
            # expiry sweep then goes back to the file system (``_store``).
            # Setting it is a write transaction even on a file that has it
            # (SQLite rewrites page 1), which would take the write lock, and
            # invalidate every other connection's cache, each time a
            # connection opens: it is set only where it is not yet.
            cursor.execute("PRAGMA auto_vacuum")  # DB-API form: aiosqlite's adapter too
            if cursor.fetchone()[0] != _INCREMENTAL:
                cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
            cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()


def _sqlite_file_connector(
    path: str, *, create: bool, timeout: float
) -> Callable[[], Awaitable[Any]]:
    """Return the function that opens one aiosqlite connection to ``path``.

    ``create=False`` opens the file as a SQLite URI with ``mode=rw``, so that
    SQLite fails rather than creates a missing file.

    When SQLite cannot open the file, aiosqlite queues the stop of its
    worker thread and raises without waiting for it; the thread then reports
    to the event loop, and if the loop has closed meanwhile (``asyncio.run``
    returning with the error) it dies with a traceback on stderr. So the
    failure waits for the thread here, while the loop still runs.
    """
    if create:
        database, uri = path, False
    else:
        database, uri = f"file:{quote(path, safe='/')}?mode=rw", True

    async def connect() -> Any:
        import aiosqlite

        connection = aiosqlite.connect(database, uri=uri, timeout=timeout, check_same_thread=False)
        worker = _worker_thread(connection)
        if worker is not None:
            # As SQLAlchemy does for its own aiosqlite connections: a store
            # dropped unclosed must not keep the interpreter from exiting.
            worker.daemon = True
        try:
            return await connection
        except Exception:
            if worker is not None and worker.ident is not None:
                await asyncio.to_thread(worker.join, _THREAD_STOP_WAIT)
            raise

    return connect


#: Seconds a failed connection waits for its aiosqlite worker thread to stop.
_THREAD_STOP_WAIT = 5.0


def _worker_thread(connection: Any) -> threading.Thread | None:
    # aiosqlite 0.22 keeps its worker in ``_thread``; before, the connection was the thread.
    if isinstance(connection, threading.Thread):
        return connection
    worker = getattr(connection, "_thread", None)
    return worker if isinstance(worker, threading.Thread) else None


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
