"""SQLStore: every unistore capability on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from unistore._base import BaseStore
from unistore._url import StoreURL
from unistore.errors import ValidationError
from unistore.protocols import Capability, SessionPage, SessionRecord, SlotKind
from unistore_sql._db import Database, Mode
from unistore_sql._engine import Settings, resolve
from unistore_sql._keys import (
    check_amount,
    check_fields,
    check_id,
    check_mapping,
    check_ttl,
    check_value,
)
from unistore_sql._schema import build_tables
from unistore_sql._sessions import (
    MAX_INDEX,
    SessionStatements,
    check_index,
    check_label,
    check_messages,
    metadata_json,
)
from unistore_sql._slots import LISTING_BATCH, SlotStatements
from unistore_sql._transaction import SQLTransaction
from unistore_sql._watch import WatchStatements

__all__ = ["SQLStore"]

_READ, _WRITE_ONE, _WRITE = Mode.READ, Mode.WRITE_ONE, Mode.WRITE


def _ns_slot(ns: str, slot: str) -> None:
    check_id(ns, "a namespace")
    check_id(slot, "a slot name")


class SQLStore(BaseStore):
    """A store in SQL tables, on SQLite (aiosqlite) or PostgreSQL (asyncpg, psycopg).

    Open it with :func:`unistore.connect` (``sqlite:///app.db``,
    ``postgresql://user:password@host/db``). Nothing connects until the first
    operation; that one checks the schema version and creates or upgrades the
    tables when ``create_schema`` allows it.
    """

    CAPABILITIES = frozenset(
        {
            Capability.KEY_VALUE,
            Capability.HASH,
            Capability.COUNTER,
            Capability.TTL,
            Capability.NAMESPACE_LIFECYCLE,
            Capability.NAMESPACE_LISTING,
            Capability.TRANSACTIONS,
            Capability.SESSION_DOCUMENTS,
        }
    )

    def __init__(self, url: StoreURL, options: Mapping[str, Any]) -> None:
        super().__init__(url)
        settings = Settings.from_options(options)
        target = None if settings.engine is not None else resolve(url)
        tables = build_tables(settings.table_prefix)
        self._db = Database(url, target, settings, tables)
        self._q = SlotStatements(tables, self._db.dialect)
        self._w = WatchStatements(self._q)
        self._s = SessionStatements(tables, self._db.dialect)
        self._db.sweeper = self._q.sweep

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy engine the store runs on."""
        return self._db.engine

    @property
    def table_prefix(self) -> str:
        """The prefix of this store's table names."""
        return self._db.tables.prefix

    async def _aclose(self) -> None:
        await self._db.close()

    # -- administration ---------------------------------------------------------

    async def migrate(self) -> None:
        """Create the tables, or upgrade them to this release's schema version.

        Works whatever ``create_schema`` says; for applications that manage
        their schema themselves and open stores with ``create_schema=False``.

        Raises:
            ConfigurationError: The tables were made by a newer unistore-sql.
        """
        self._check_open()
        await self._db.prepare("migrate", migrate=True)

    async def sweep(self) -> int:
        """Reclaim one bounded batch of expired slots now; return how many.

        Writes do this on their own every ``sweep_interval`` seconds; expired
        slots are invisible either way.
        """
        self._check_open()
        await self._db.prepare("sweep")
        return await self._db.sweep()

    async def server_version(self) -> str:
        """Return the database's version string, for ``unistore info``."""
        self._check_open()
        query = "select sqlite_version()" if self._db.sqlite else "show server_version"

        async def op(conn: AsyncConnection) -> str:
            result = await conn.exec_driver_sql(query)
            name = "SQLite" if self._db.sqlite else "PostgreSQL"
            return f"{name} {result.scalar_one()}"

        return await self._db.run("server_version", op)

    async def destroy(self) -> None:
        """Drop this store's tables (those named with its table prefix) and their data."""
        self._check_open()
        await self._db.destroy()

    # -- KeyValue ---------------------------------------------------------------

    async def get(self, ns: str, slot: str) -> bytes | None:
        """Return a scalar slot's value, or ``None`` if absent or expired."""
        self._check_open()
        _ns_slot(ns, slot)
        q = self._q

        async def op(conn: AsyncConnection) -> bytes | None:
            return await q.read_scalar(conn, ns, slot, time.time())

        return await self._db.run("get", op)

    async def set(self, ns: str, slot: str, value: bytes, *, ttl: float) -> None:
        """Store a scalar value and its expiry in one statement."""
        self._check_open()
        _ns_slot(ns, slot)
        data, seconds = check_value(value), check_ttl(ttl)
        q = self._q

        async def op(conn: AsyncConnection) -> None:
            await q.write_scalar(conn, ns, slot, data, time.time() + seconds)

        await self._db.run("set", op, _WRITE_ONE)

    async def delete(self, ns: str, slot: str) -> bool:
        """Delete a slot of any kind; return whether it existed."""
        self._check_open()
        _ns_slot(ns, slot)
        q = self._q

        async def op(conn: AsyncConnection) -> bool:
            return await q.delete_slot(conn, ns, slot, time.time())

        # Not repeated after a broken connection: the first try may have deleted it.
        return await self._db.run("delete", op, _WRITE, idempotent=False)

    # -- Hash -------------------------------------------------------------------

    async def hget(self, ns: str, slot: str, field: str) -> bytes | None:
        """Return one field of a hash slot, or ``None``."""
        self._check_open()
        _ns_slot(ns, slot)
        check_id(field, "a hash field name")
        q = self._q

        async def op(conn: AsyncConnection) -> bytes | None:
            return await q.hget(conn, ns, slot, field, time.time())

        return await self._db.run("hget", op)

    async def hset(self, ns: str, slot: str, mapping: Mapping[str, bytes], *, ttl: float) -> int:
        """Set fields and re-apply the slot's expiry; return how many fields are new."""
        self._check_open()
        _ns_slot(ns, slot)
        fields, seconds = check_mapping(mapping), check_ttl(ttl)
        q = self._q

        async def op(conn: AsyncConnection) -> int:
            now = time.time()
            return await q.hset(conn, ns, slot, fields, now + seconds, now)

        return await self._db.run("hset", op, _WRITE, idempotent=False)

    async def hdel(self, ns: str, slot: str, fields: Sequence[str]) -> int:
        """Delete fields; return how many existed. An emptied hash disappears."""
        self._check_open()
        _ns_slot(ns, slot)
        names = check_fields(fields)
        q = self._q

        async def op(conn: AsyncConnection) -> int:
            return await q.hdel(conn, ns, slot, names, time.time())

        return await self._db.run("hdel", op, _WRITE, idempotent=False)

    async def hgetall(self, ns: str, slot: str) -> dict[str, bytes]:
        """Return every field of a hash slot (empty if absent)."""
        self._check_open()
        _ns_slot(ns, slot)
        q = self._q

        async def op(conn: AsyncConnection) -> dict[str, bytes]:
            return await q.hgetall(conn, ns, slot, time.time())

        return await self._db.run("hgetall", op)

    async def hkeys(self, ns: str, slot: str) -> list[str]:
        """Return the field names of a hash slot (empty if absent)."""
        return list(await self.hgetall(ns, slot))

    # -- Counter ----------------------------------------------------------------

    async def incr(self, ns: str, slot: str, amount: int = 1, *, ttl: float) -> int:
        """Add ``amount`` in one statement; a new counter starts at 0 with ``ttl``."""
        self._check_open()
        _ns_slot(ns, slot)
        delta, seconds = check_amount(amount), check_ttl(ttl)
        q = self._q

        async def op(conn: AsyncConnection) -> int:
            now = time.time()
            return await q.incr(conn, ns, slot, delta, now + seconds, now)

        return await self._db.run("incr", op, _WRITE_ONE, idempotent=False)

    # -- TTL --------------------------------------------------------------------

    async def get_ttl(self, ns: str, slot: str) -> float | None:
        """Return the seconds left before the slot expires, or ``None`` if absent."""
        self._check_open()
        _ns_slot(ns, slot)
        q = self._q

        async def op(conn: AsyncConnection) -> float | None:
            return await q.get_ttl(conn, ns, slot, time.time())

        return await self._db.run("get_ttl", op)

    async def expire(self, ns: str, slot: str, ttl: float) -> bool:
        """Give a live slot a new expiry; return whether it existed."""
        self._check_open()
        _ns_slot(ns, slot)
        seconds = check_ttl(ttl)
        q = self._q

        async def op(conn: AsyncConnection) -> bool:
            now = time.time()
            return await q.expire_slot(conn, ns, slot, now + seconds, now)

        return await self._db.run("expire", op, _WRITE_ONE)

    # -- NamespaceLifecycle -----------------------------------------------------

    async def slots(self, ns: str) -> list[str]:
        """Return the names of the live slots of a namespace, sorted."""
        self._check_open()
        check_id(ns, "a namespace")
        q = self._q

        async def op(conn: AsyncConnection) -> list[str]:
            return await q.slot_names(conn, ns, time.time())

        return await self._db.run("slots", op)

    async def slot_kind(self, ns: str, slot: str) -> SlotKind | None:
        """Return the kind of a live slot, or ``None``."""
        self._check_open()
        _ns_slot(ns, slot)
        q = self._q

        async def op(conn: AsyncConnection) -> SlotKind | None:
            return await q.slot_kind(conn, ns, slot, time.time())

        return await self._db.run("slot_kind", op)

    async def touch(self, ns: str, *, ttl: float) -> int:
        """Re-apply ``ttl`` to every live slot of a namespace; return how many."""
        self._check_open()
        check_id(ns, "a namespace")
        seconds = check_ttl(ttl)
        q = self._q

        async def op(conn: AsyncConnection) -> int:
            now = time.time()
            return await q.touch(conn, ns, now + seconds, now)

        return await self._db.run("touch", op, _WRITE_ONE)

    async def purge(self, ns: str) -> int:
        """Delete every slot of a namespace; return how many were live."""
        self._check_open()
        check_id(ns, "a namespace")
        q = self._q

        async def op(conn: AsyncConnection) -> int:
            return await q.purge(conn, ns, time.time())

        return await self._db.run("purge", op, _WRITE, idempotent=False)

    # -- NamespaceListing -------------------------------------------------------

    async def iter_namespaces(self, prefix: str = "") -> AsyncIterator[str]:
        """Yield each namespace holding a live slot whose name starts with ``prefix``.

        Reads the slots table in batches (administration, not a hot path).
        """
        self._check_open()
        check_id(prefix, "a namespace prefix")
        q = self._q
        after = b""
        while True:

            async def op(conn: AsyncConnection, start: bytes = after) -> list[tuple[bytes, str]]:
                return await q.namespaces(conn, prefix, start, time.time())

            batch = await self._db.run("iter_namespaces", op)
            for _, ns in batch:
                yield ns
            if len(batch) < LISTING_BATCH:
                return
            after = batch[-1][0]

    # -- Transactions -----------------------------------------------------------

    def transaction(self, ns: str, watch: Sequence[str]) -> SQLTransaction:
        """Start an optimistic transaction in ``ns`` watching ``watch``."""
        self._check_open()
        return SQLTransaction(self, ns, watch)

    # -- SessionDocuments -------------------------------------------------------

    async def create_session(
        self,
        session_id: str,
        *,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Create an empty session."""
        self._check_open()
        check_id(session_id, "a session id")
        name, meta = check_label(label), metadata_json(metadata)
        s = self._s

        async def op(conn: AsyncConnection) -> SessionRecord:
            return await s.create(conn, session_id, name, meta)

        return await self._db.run("create_session", op, _WRITE_ONE, idempotent=False)

    async def fork_session(
        self,
        parent_id: str,
        session_id: str,
        *,
        at: int | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Create ``session_id`` sharing the parent's first ``at`` messages (one row)."""
        self._check_open()
        check_id(parent_id, "a session id")
        check_id(session_id, "a session id")
        name, meta = check_label(label), metadata_json(metadata)
        s = self._s

        async def op(conn: AsyncConnection) -> SessionRecord:
            return await s.fork(conn, parent_id, session_id, at, name, meta)

        return await self._db.run("fork_session", op, _WRITE, idempotent=False)

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[str],
        *,
        expected_length: int,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Append messages if the session has exactly ``expected_length``."""
        self._check_open()
        check_id(session_id, "a session id")
        bodies = check_messages(messages, allow_nul=self._db.sqlite)
        name, meta = check_label(label), metadata_json(metadata)
        expected = _length(expected_length)
        s = self._s

        async def op(conn: AsyncConnection) -> SessionRecord:
            return await s.append(conn, session_id, bodies, expected, name, meta)

        return await self._db.run("append_messages", op, _WRITE, idempotent=False)

    async def replace_messages(
        self,
        session_id: str,
        start: int,
        messages: Sequence[str],
        *,
        expected_length: int,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Drop the messages from ``start`` on and append ``messages``."""
        self._check_open()
        check_id(session_id, "a session id")
        check_index(start, "replace start", MAX_INDEX)
        bodies = check_messages(messages, allow_nul=self._db.sqlite)
        name, meta = check_label(label), metadata_json(metadata)
        expected = _length(expected_length)
        s = self._s

        async def op(conn: AsyncConnection) -> SessionRecord:
            return await s.replace(conn, session_id, start, bodies, expected, name, meta)

        return await self._db.run("replace_messages", op, _WRITE, idempotent=False)

    async def read_messages(self, session_id: str, *, last: int | None = None) -> list[str]:
        """Return all messages, or the last ``last``, in order."""
        self._check_open()
        check_id(session_id, "a session id")
        if last is not None:
            check_index(last, "last", MAX_INDEX)
        s = self._s

        async def op(conn: AsyncConnection) -> list[str]:
            return await s.read(conn, session_id, last)

        return await self._db.run("read_messages", op)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """Return a session's record, or ``None``."""
        self._check_open()
        check_id(session_id, "a session id")
        s = self._s

        async def op(conn: AsyncConnection) -> SessionRecord | None:
            return await s.get(conn, session_id)

        return await self._db.run("get_session", op)

    async def list_sessions(self, *, limit: int = 50, cursor: str | None = None) -> SessionPage:
        """Return records newest first, one keyset page at a time."""
        self._check_open()
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValidationError(f"limit must be a positive int, got {limit!r}")
        s = self._s

        async def op(conn: AsyncConnection) -> SessionPage:
            return await s.page(conn, min(limit, 10_000), cursor)

        return await self._db.run("list_sessions", op)

    async def update_session(
        self,
        session_id: str,
        *,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Replace the label and/or metadata (``None`` keeps the stored one)."""
        self._check_open()
        check_id(session_id, "a session id")
        name, meta = check_label(label), metadata_json(metadata)
        s = self._s

        async def op(conn: AsyncConnection) -> SessionRecord:
            return await s.update(conn, session_id, name, meta)

        return await self._db.run("update_session", op, _WRITE_ONE, idempotent=False)

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session; its forks first get their own copy of what they share."""
        self._check_open()
        check_id(session_id, "a session id")
        s = self._s

        async def op(conn: AsyncConnection) -> bool:
            return await s.delete(conn, session_id)

        # Not repeated after a broken connection: the first try may have deleted it.
        return await self._db.run("delete_session", op, _WRITE, idempotent=False)


def _length(value: object) -> int:
    return check_index(value, "expected_length", MAX_INDEX)
