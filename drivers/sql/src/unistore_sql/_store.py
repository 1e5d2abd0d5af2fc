"""SQLStore: every unistore capability on SQLite and PostgreSQL, as SDK primitives.

The SDK's public methods check the arguments and map errors through
:data:`~unistore_sql._errors.ERRORS`; each primitive here is one unit of
work (:meth:`SQLStore._run`) over prebuilt statements. Expiry is computed in
Python from :attr:`~unistore.sdk.StoreBase.clock` and passed to every
statement as a parameter: the database never reads its own clock, so every
process and the server agree on what has expired exactly as far as their
clocks agree, and tests can inject time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from unistore import StoreURL
from unistore.protocols import SessionPage, SessionRecord, SlotKind
from unistore.sdk import (
    ForkRequest,
    FullStoreBase,
    Later,
    LoopAffinity,
    MessageWrite,
    NewSession,
    PopRequest,
)
from unistore_sql._batch import BatchStatements
from unistore_sql._db import Database, Mode
from unistore_sql._engine import Settings, effective_settings, resolve
from unistore_sql._errors import ERRORS
from unistore_sql._expiry import slot_deadline
from unistore_sql._schema import build_tables
from unistore_sql._session_sql import LISTING_BATCH as SCOPES_BATCH
from unistore_sql._sessions import (
    MAX_INDEX,
    SessionStatements,
    metadata_json,
    read_cursor,
    within,
)
from unistore_sql._slots import LISTING_BATCH, SlotStatements
from unistore_sql._transaction import SQLTransaction
from unistore_sql._watch import WatchStatements

__all__ = ["SQLStore"]

T = TypeVar("T")

_READ, _WRITE_ONE, _WRITE = Mode.READ, Mode.WRITE_ONE, Mode.WRITE

#: Largest page a listing reads at once, whatever ``limit`` asks.
_MAX_PAGE = 10_000


class SQLStore(FullStoreBase):
    """A store in SQL tables, on SQLite (aiosqlite) or PostgreSQL (asyncpg, psycopg).

    Open it with :func:`unistore.connect` (``sqlite:///app.db``,
    ``postgresql://user:password@host/db``). Nothing connects until the first
    operation; that one checks the schema version and creates or upgrades the
    tables when ``create_schema`` allows it. Errors name the dialect
    (``sqlite store ...``, ``postgresql store ...``).
    """

    NAME = "sql"
    ERRORS = ERRORS

    def __init__(self, url: StoreURL, options: Mapping[str, Any]) -> None:
        super().__init__(url, clock=options.get("clock"), create=options.get("create", True))
        settings = Settings.from_options(options)
        target = None if settings.engine is not None else resolve(url)
        tables = build_tables(settings.table_prefix)
        self._db = Database(url, target, settings, tables, self.clock)
        # NAME is per class; the dialect is known only now (an engine may be given).
        self._where = f"{self._db.dialect} store {url}"
        self._q = SlotStatements(tables, self._db.dialect)
        self._b = BatchStatements(self._q)
        self._w = WatchStatements(self._q)
        self._s = SessionStatements(tables, self._db.dialect, self.clock)
        self._db.sweeper = self._sweep_batch
        # asyncpg's and psycopg's connections belong to the loop that opened
        # them; SQLite's worker threads serve any loop.
        self._loop = None if self._db.sqlite else LoopAffinity(self._where)
        # Held only from the first use on: a store that never connected has
        # nothing to release and must not warn when dropped.
        self._reaper = self._db.reaper

    @property
    def db_system(self) -> str:
        """The dialect, as OpenTelemetry's ``db.system.name`` spells it (``"postgresql"``)."""
        return self._db.dialect

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy engine the store runs on."""
        return self._db.engine

    def effective_options(self) -> Mapping[str, object]:
        """The settings in effect for this store's dialect (no SQLite option on PostgreSQL)."""
        return effective_settings(self._db.settings, self._db.dialect, memory=self._db.memory)

    @property
    def table_prefix(self) -> str:
        """The prefix of this store's table names."""
        return self._db.tables.prefix

    def _in_use(self) -> None:
        if self._loop is not None:
            self._loop.check()
        if self._reaper is not None:
            self._hold(self._reaper)
            self._reaper = None

    def _run(
        self,
        operation: str,
        fn: Callable[[AsyncConnection], Awaitable[T]],
        mode: Mode = _READ,
        *,
        idempotent: bool = True,
    ) -> Coroutine[Any, Any, T]:
        # A plain function handing back the unit's coroutine: no frame of its own.
        self._in_use()
        return self._db.run(operation, fn, mode, idempotent=idempotent)

    async def _aclose(self) -> None:
        if self._loop is None:
            await self._db.close()
        else:
            await self._loop.close(self._db.close, self._db.abandon)

    # -- administration ---------------------------------------------------------

    async def migrate(self) -> None:
        """Create the tables, or upgrade them to this release's schema version.

        Works whatever ``create_schema`` says; for applications that manage
        their schema themselves and open stores with ``create_schema=False``.

        Raises:
            ConfigurationError: The tables were made by a newer unistore-sql.
        """
        self._check_open()
        self._in_use()
        with self._errors():
            await self._db.prepare("migrate", migrate=True)

    async def _sweep_batch(self, conn: AsyncConnection, now: float, batch: int) -> int:
        return await self._q.sweep(conn, now, batch) + await self._s.sweep(conn)

    async def sweep(self) -> int:
        """Reclaim one bounded batch of expired slots and sessions now; return how many.

        Writes do this on their own every ``sweep_interval`` seconds; expired
        slots and sessions are invisible either way.
        """
        self._check_open()
        self._in_use()
        with self._errors():
            await self._db.prepare("sweep")
            return await self._db.sweep()

    async def server_version(self) -> str:
        """Return the database's version string, for ``unistore info``."""
        self._check_open()
        sqlite = self._db.sqlite
        query = "select sqlite_version()" if sqlite else "show server_version"

        async def op(conn: AsyncConnection) -> str:
            result = await conn.exec_driver_sql(query)
            return f"{'SQLite' if sqlite else 'PostgreSQL'} {result.scalar_one()}"

        with self._errors():
            return await self._run("server_version", op)

    async def destroy(self) -> None:
        """Drop this store's tables (those named with its table prefix) and their data."""
        self._check_open()
        self._in_use()
        with self._errors():
            await self._db.destroy()

    # -- KeyValue ---------------------------------------------------------------

    def _get_now(self, ns: str, slot: str) -> bytes | Later | None:
        # The hottest read: its one statement, run at once where it can be.
        # Only a SQLite file reads at once, where no loop is checked (a unit
        # of work, which checks it, runs every other read).
        if self._reaper is not None:
            self._in_use()
        return self._q.scalar_now(self._db.at_once, ns, slot, self.clock())

    async def _get(self, ns: str, slot: str) -> bytes | None:
        q, clock = self._q, self.clock
        return await self._run("get", lambda conn: q.read_scalar(conn, ns, slot, clock()))

    async def _set(self, ns: str, slot: str, value: bytes, ttl: float | None) -> None:
        q, clock = self._q, self.clock

        async def op(conn: AsyncConnection) -> None:
            await q.write_scalar(conn, ns, slot, value, slot_deadline(clock(), ttl))

        await self._run("set", op, _WRITE_ONE)

    async def _delete(self, ns: str, slot: str) -> bool:
        q, clock = self._q, self.clock

        async def op(conn: AsyncConnection) -> bool:
            return await q.delete_slot(conn, ns, slot, clock())

        # Not repeated after a broken connection: the first try may have deleted it.
        return await self._run("delete", op, _WRITE, idempotent=False)

    async def _get_many(self, ns: str, slots: list[str]) -> list[bytes | None]:
        b, clock = self._b, self.clock

        async def op(conn: AsyncConnection) -> list[bytes | None]:
            return await b.get_many(conn, ns, slots, clock())

        return await self._run("get_many", op)

    async def _set_many(self, ns: str, mapping: dict[str, bytes], ttl: float | None) -> None:
        b, clock = self._b, self.clock

        async def op(conn: AsyncConnection) -> None:
            await b.set_many(conn, ns, mapping, slot_deadline(clock(), ttl))

        # Repeating it after a broken connection writes the same values again.
        await self._run("set_many", op, _WRITE)

    async def _delete_many(self, ns: str, slots: list[str]) -> int:
        b, clock = self._b, self.clock

        async def op(conn: AsyncConnection) -> int:
            return await b.delete_many(conn, ns, slots, clock())

        # Not repeated: a second try would count the slots the first one deleted as absent.
        return await self._run("delete_many", op, _WRITE, idempotent=False)

    # -- Hash -------------------------------------------------------------------

    def _hget_now(self, ns: str, slot: str, field: str) -> bytes | Later | None:
        if self._reaper is not None:  # as _get_now
            self._in_use()
        return self._q.field_now(self._db.at_once, ns, slot, field, self.clock())

    async def _hget(self, ns: str, slot: str, field: str) -> bytes | None:
        q, clock = self._q, self.clock
        return await self._run("hget", lambda conn: q.hget(conn, ns, slot, field, clock()))

    async def _hset(self, ns: str, slot: str, mapping: dict[str, bytes], ttl: float | None) -> int:
        q, clock = self._q, self.clock

        async def op(conn: AsyncConnection) -> int:
            now = clock()
            return await q.hset(conn, ns, slot, mapping, slot_deadline(now, ttl), now)

        return await self._run("hset", op, _WRITE, idempotent=False)

    async def _hdel(self, ns: str, slot: str, fields: list[str]) -> int:
        q, clock = self._q, self.clock

        async def op(conn: AsyncConnection) -> int:
            return await q.hdel(conn, ns, slot, fields, clock())

        return await self._run("hdel", op, _WRITE, idempotent=False)

    async def _hgetall(self, ns: str, slot: str) -> dict[str, bytes]:
        q, clock = self._q, self.clock

        async def op(conn: AsyncConnection) -> dict[str, bytes]:
            return await q.hgetall(conn, ns, slot, clock())

        return await self._run("hgetall", op)

    # -- Counter ----------------------------------------------------------------

    async def _incr(self, ns: str, slot: str, amount: int, ttl: float | None) -> int:
        q, clock = self._q, self.clock

        async def op(conn: AsyncConnection) -> int:
            now = clock()
            return await q.incr(conn, ns, slot, amount, slot_deadline(now, ttl), now)

        return await self._run("incr", op, _WRITE_ONE, idempotent=False)

    # -- TTL --------------------------------------------------------------------

    async def _get_ttl(self, ns: str, slot: str) -> float | None:
        q, clock = self._q, self.clock

        async def op(conn: AsyncConnection) -> float | None:
            return await q.get_ttl(conn, ns, slot, clock())

        return await self._run("get_ttl", op)

    async def _expire(self, ns: str, slot: str, ttl: float) -> bool:
        q, clock = self._q, self.clock

        async def op(conn: AsyncConnection) -> bool:
            now = clock()
            return await q.expire_slot(conn, ns, slot, now + ttl, now)

        return await self._run("expire", op, _WRITE_ONE)

    # -- NamespaceLifecycle -----------------------------------------------------

    async def _slots(self, ns: str, prefix: str) -> list[str]:
        q, clock = self._q, self.clock

        async def op(conn: AsyncConnection) -> list[str]:
            return await q.slot_names(conn, ns, prefix, clock())

        return await self._run("slots", op)

    async def _slot_kind(self, ns: str, slot: str) -> SlotKind | None:
        q, clock = self._q, self.clock

        async def op(conn: AsyncConnection) -> SlotKind | None:
            return await q.slot_kind(conn, ns, slot, clock())

        return await self._run("slot_kind", op)

    async def _touch(self, ns: str, ttl: float) -> int:
        q, clock = self._q, self.clock

        async def op(conn: AsyncConnection) -> int:
            now = clock()
            return await q.touch(conn, ns, now + ttl, now)

        return await self._run("touch", op, _WRITE_ONE)

    async def _purge(self, ns: str) -> int:
        q, clock = self._q, self.clock

        async def op(conn: AsyncConnection) -> int:
            return await q.purge(conn, ns, clock())

        return await self._run("purge", op, _WRITE, idempotent=False)

    # -- NamespaceListing -------------------------------------------------------

    async def _namespaces(self, prefix: str) -> AsyncIterator[str]:
        # Reads the slots table in batches (administration, not a hot path).
        q, clock = self._q, self.clock
        after = b""
        while True:

            async def op(conn: AsyncConnection, start: bytes = after) -> list[tuple[bytes, str]]:
                return await q.namespaces(conn, prefix, start, clock())

            batch = await self._run("iter_namespaces", op)
            for _, ns in batch:
                yield ns
            if len(batch) < LISTING_BATCH:
                return
            after = batch[-1][0]

    # -- Transactions -----------------------------------------------------------

    def _transaction(self, ns: str, watch: tuple[str, ...]) -> SQLTransaction:
        return SQLTransaction(self, ns, watch, run=self._run, slots=self._q, watches=self._w)

    # -- SessionDocuments -------------------------------------------------------

    async def _create_session(self, new: NewSession) -> SessionRecord:
        s = self._s

        async def op(conn: AsyncConnection) -> SessionRecord | None:
            return await s.create(conn, new)

        async def over(conn: AsyncConnection) -> SessionRecord:
            return await s.create_over(conn, new)

        # One statement when the id is free (and one more, in the same
        # transaction, for first messages); a second unit only when it is
        # taken, to tell a live session from an expired one to reclaim.
        mode = _WRITE if new.messages else _WRITE_ONE
        created = await self._run("create_session", op, mode, idempotent=False)
        if created is not None:
            return created
        return await self._run("create_session", over, _WRITE, idempotent=False)

    async def _fork_session(self, fork: ForkRequest) -> SessionRecord:
        s = self._s

        async def op(conn: AsyncConnection) -> SessionRecord:
            return await s.fork(conn, fork)

        return await self._run("fork_session", op, _WRITE, idempotent=False)

    async def _write_messages(self, write: MessageWrite) -> int:
        # Positions are 32-bit columns: refuse what they cannot hold before any I/O.
        if write.expected_length is not None:
            within(write.expected_length, "expected_length", MAX_INDEX)
        if write.start is not None:
            within(write.start, "replace start", MAX_INDEX)
        s = self._s

        async def op(conn: AsyncConnection) -> int:
            return await s.write(conn, write)

        name = "append_messages" if write.start is None else "replace_messages"
        # With a token a repeat is harmless: after a lost reply it finds the
        # token and returns what the first try did. Without one it may apply twice.
        return await self._run(name, op, _WRITE, idempotent=write.token is not None)

    async def _pop_messages(self, pop: PopRequest) -> list[str]:
        if pop.expected_length is not None:
            within(pop.expected_length, "expected_length", MAX_INDEX)
        s = self._s

        async def op(conn: AsyncConnection) -> list[str]:
            return await s.pop(conn, pop)

        # Not repeated: a second try would pop more messages.
        return await self._run("pop_messages", op, _WRITE, idempotent=False)

    async def _read_messages(self, session_id: str, last: int | None, scope: str) -> list[str]:
        s, tail = self._s, None if last is None else min(last, MAX_INDEX)

        async def op(conn: AsyncConnection) -> list[str]:
            return await s.read(conn, session_id, tail, scope)

        return await self._run("read_messages", op)

    async def _get_session(self, session_id: str, scope: str) -> SessionRecord | None:
        s = self._s

        async def op(conn: AsyncConnection) -> SessionRecord | None:
            return await s.get(conn, session_id, scope)

        return await self._run("get_session", op)

    async def _list_sessions(self, limit: int, cursor: str | None, scope: str) -> SessionPage:
        s, after = self._s, None if cursor is None else read_cursor(cursor)
        size = min(limit, _MAX_PAGE)

        async def op(conn: AsyncConnection) -> SessionPage:
            return await s.page(conn, size, after, scope)

        return await self._run("list_sessions", op)

    async def _update_session(
        self, session_id: str, label: str | None, metadata: dict[str, Any] | None, scope: str
    ) -> SessionRecord:
        s, meta = self._s, metadata_json(metadata)

        async def op(conn: AsyncConnection) -> SessionRecord:
            return await s.update(conn, session_id, label, meta, scope)

        return await self._run("update_session", op, _WRITE_ONE, idempotent=False)

    async def _delete_session(self, session_id: str, scope: str) -> bool:
        s = self._s

        async def op(conn: AsyncConnection) -> bool:
            return await s.delete(conn, session_id, scope)

        # Not repeated after a broken connection: the first try may have deleted it.
        return await self._run("delete_session", op, _WRITE, idempotent=False)

    async def _scopes(self) -> AsyncIterator[str]:
        # Reads the sessions table in batches (tooling, not a hot path).
        s = self._s
        after: bytes | None = None
        while True:

            async def op(
                conn: AsyncConnection, start: bytes | None = after
            ) -> list[tuple[bytes, str]]:
                return await s.scopes(conn, start)

            batch = await self._run("iter_scopes", op)
            for _, scope in batch:
                yield scope
            if len(batch) < SCOPES_BATCH:
                return
            after = batch[-1][0]
