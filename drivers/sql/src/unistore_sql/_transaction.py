"""Optimistic transactions: versions read at watch time, re-checked at commit.

Every write gives a slot a fresh random version, so "unchanged" means "same
version and still live". The commit re-reads the watched versions inside the
committing database transaction - holding SQLite's write lock (``BEGIN
IMMEDIATE``) or PostgreSQL row locks - and applies the queued writes only if
none moved; expiry counts as a change because an expired row reads as absent.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from unistore.errors import ConflictError, TransactionConflictError, ValidationError
from unistore_sql._db import Mode
from unistore_sql._keys import check_fields, check_id, check_mapping, check_ttl, check_value
from unistore_sql._schema import KIND_HASH, KIND_SCALAR
from unistore_sql._slots import kind_error
from unistore_sql._watch import Snapshot

if TYPE_CHECKING:
    from unistore_sql._store import SQLStore

_Op = tuple[str, str, object, float]


class SQLTransaction:
    """A transaction of :class:`~unistore_sql.SQLStore` (see ``Transaction``)."""

    def __init__(self, store: SQLStore, ns: str, watch: Sequence[str]) -> None:
        if isinstance(watch, str) or not isinstance(watch, Sequence) or not watch:
            raise ValidationError("a transaction must watch at least one slot (a list of names)")
        self._store = store
        self._ns = check_id(ns, "a namespace")
        self._watch = tuple(dict.fromkeys(check_id(s, "a slot name") for s in watch))
        self._snapshot: dict[str, Snapshot] = {}
        self._ops: list[_Op] = []
        self._active = False
        self._done = False

    async def __aenter__(self) -> SQLTransaction:
        store, ns, watch = self._store, self._ns, self._watch
        store._check_open()

        async def read(conn: AsyncConnection) -> dict[str, Snapshot]:
            return await store._w.snapshot(conn, ns, watch, time.time())

        self._snapshot = await store._db.run("transaction watch", read)
        self._active = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._active = False
        self._ops.clear()

    # -- reads ------------------------------------------------------------------

    def _watched(self, slot: str) -> Snapshot | None:
        snap = self._snapshot.get(slot)
        if snap is None or snap.version is None or snap.expires_at <= time.time():
            return None
        return snap

    async def get(self, slot: str) -> bytes | None:
        """Read a scalar slot (as of the watch when the slot is watched)."""
        if slot not in self._snapshot:
            return await self._store.get(self._ns, slot)
        snap = self._watched(slot)
        if snap is None:
            return None
        if snap.kind != KIND_SCALAR:
            raise kind_error(slot, KIND_SCALAR, KIND_HASH)
        return snap.value

    async def hget(self, slot: str, field: str) -> bytes | None:
        """Read one hash field (as of the watch when the slot is watched)."""
        if slot not in self._snapshot:
            return await self._store.hget(self._ns, slot, field)
        return (await self.hgetall(slot)).get(field)

    async def hgetall(self, slot: str) -> dict[str, bytes]:
        """Read a whole hash (as of the watch when the slot is watched)."""
        if slot not in self._snapshot:
            return await self._store.hgetall(self._ns, slot)
        snap = self._watched(slot)
        if snap is None:
            return {}
        if snap.fields is None:
            raise kind_error(slot, KIND_HASH, KIND_SCALAR)
        return dict(snap.fields)

    # -- queued writes ------------------------------------------------------------

    def _queue(self, op: str, slot: str, arg: object, ttl: float) -> None:
        if self._done:
            raise ValidationError("the transaction has already been committed")
        self._ops.append((op, check_id(slot, "a slot name"), arg, ttl))

    def set(self, slot: str, value: bytes, *, ttl: float) -> None:
        """Queue a scalar write."""
        self._queue("set", slot, check_value(value), check_ttl(ttl))

    def delete(self, slot: str) -> None:
        """Queue a delete."""
        self._queue("delete", slot, None, 0.0)

    def hset(self, slot: str, mapping: Mapping[str, bytes], *, ttl: float) -> None:
        """Queue a hash write (fields and expiry)."""
        self._queue("hset", slot, check_mapping(mapping), check_ttl(ttl))

    def hdel(self, slot: str, fields: Sequence[str]) -> None:
        """Queue the deletion of hash fields."""
        self._queue("hdel", slot, check_fields(fields), 0.0)

    # -- commit -------------------------------------------------------------------

    async def commit(self) -> None:
        """Apply the queued writes if no watched slot changed since the watch.

        Raises:
            TransactionConflictError: A watched slot changed; nothing was written.
        """
        if not self._active or self._done:
            raise ValidationError("commit() needs an open transaction (use 'async with')")
        store, ns, watch = self._store, self._ns, self._watch
        store._check_open()
        ops = list(self._ops)
        expected = {slot: self._snapshot[slot].version for slot in watch}
        q, w = store._q, store._w

        async def apply(conn: AsyncConnection) -> None:
            now = time.time()
            current = await w.current_versions(conn, ns, watch, now)
            if current != expected:
                changed = [slot for slot in watch if current[slot] != expected[slot]]
                raise TransactionConflictError(
                    f"{len(changed)} of {len(watch)} watched slots changed before commit",
                    namespace=ns,
                    slots=watch,
                )
            for op, slot, arg, ttl in ops:
                if op == "set":
                    await q.write_scalar(conn, ns, slot, arg, now + ttl)  # type: ignore[arg-type]
                elif op == "delete":
                    await q.delete_slot(conn, ns, slot, now)
                elif op == "hset":
                    await q.hset(conn, ns, slot, arg, now + ttl, now)  # type: ignore[arg-type]
                else:
                    await q.hdel(conn, ns, slot, arg, now)  # type: ignore[arg-type]

        try:
            await store._db.run("transaction commit", apply, Mode.WRITE, idempotent=False)
        except ConflictError as exc:
            if isinstance(exc, TransactionConflictError):
                raise
            # The database aborted the commit for a concurrent one (deadlock).
            raise TransactionConflictError(
                f"a concurrent commit won ({exc})", namespace=ns, slots=watch
            ) from exc
        finally:
            self._done = True
            self._active = False
            self._ops.clear()
