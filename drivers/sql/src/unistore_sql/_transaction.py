"""Optimistic transactions: versions read at watch time, re-checked at commit.

Every write gives a slot a fresh random version (an expiry change included),
so "unchanged" means "same version and still live". The commit re-reads the
watched versions inside the committing database transaction - holding
SQLite's write lock (``BEGIN IMMEDIATE``) or PostgreSQL row locks - and
applies the queued writes only if none moved; expiry counts as a change
because an expired row reads as absent. Nothing is held between the watch
and the commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from unistore.errors import ConflictError, TransactionConflictError
from unistore.sdk import DeleteOp, HDelOp, HSetOp, Op, SetOp, TransactionBase, TransactionsBase
from unistore_sql._db import Mode
from unistore_sql._expiry import slot_deadline
from unistore_sql._schema import KIND_HASH, KIND_SCALAR
from unistore_sql._slots import SlotStatements, kind_error
from unistore_sql._watch import Snapshot, WatchStatements

__all__ = ["Run", "SQLTransaction"]

T = TypeVar("T")


class _MovedError(Exception):
    """A watched slot moved: leave the unit so that its database transaction rolls back."""


class Run(Protocol):
    """The store's way of running a unit of work (``SQLStore._run``)."""

    def __call__(
        self,
        operation: str,
        fn: Callable[[AsyncConnection], Awaitable[T]],
        mode: Mode = ...,
        *,
        idempotent: bool = ...,
    ) -> Awaitable[T]: ...


class SQLTransaction(TransactionBase):
    """A transaction of :class:`~unistore_sql.SQLStore` (see ``Transaction``).

    Reads of a watched slot come from the snapshot taken when the block was
    entered; other slots are read from the database when asked.
    """

    def __init__(
        self,
        store: TransactionsBase,
        ns: str,
        watch: tuple[str, ...],
        *,
        run: Run,
        slots: SlotStatements,
        watches: WatchStatements,
    ) -> None:
        super().__init__(store, ns, watch)
        self._run = run
        self._q = slots
        self._w = watches
        self._snapshot: dict[str, Snapshot] = {}

    async def _begin(self) -> None:
        ns, watch, w, clock = self.ns, self.watch, self._w, self._store.clock

        async def read(conn: AsyncConnection) -> dict[str, Snapshot]:
            return await w.snapshot(conn, ns, watch, clock())

        self._snapshot = await self._run("transaction watch", read)

    async def _end(self) -> None:
        self._snapshot = {}

    # -- reads ------------------------------------------------------------------

    def _watched(self, slot: str) -> Snapshot | None:
        snap = self._snapshot[slot]
        if snap.version is None or snap.expires_at <= self._store.clock():
            return None
        return snap

    async def _get(self, slot: str) -> bytes | None:
        if slot not in self._snapshot:
            ns, q, clock = self.ns, self._q, self._store.clock

            async def op(conn: AsyncConnection) -> bytes | None:
                return await q.read_scalar(conn, ns, slot, clock())

            return await self._run("transaction get", op)
        snap = self._watched(slot)
        if snap is None:
            return None
        if snap.kind != KIND_SCALAR:
            raise kind_error(slot, KIND_SCALAR, KIND_HASH)
        return snap.value

    async def _hget(self, slot: str, field: str) -> bytes | None:
        if slot not in self._snapshot:
            ns, q, clock = self.ns, self._q, self._store.clock

            async def op(conn: AsyncConnection) -> bytes | None:
                return await q.hget(conn, ns, slot, field, clock())

            return await self._run("transaction hget", op)
        return (await self._hgetall(slot)).get(field)

    async def _hgetall(self, slot: str) -> dict[str, bytes]:
        if slot not in self._snapshot:
            ns, q, clock = self.ns, self._q, self._store.clock

            async def op(conn: AsyncConnection) -> dict[str, bytes]:
                return await q.hgetall(conn, ns, slot, clock())

            return await self._run("transaction hgetall", op)
        snap = self._watched(slot)
        if snap is None:
            return {}
        if snap.fields is None:
            raise kind_error(slot, KIND_HASH, KIND_SCALAR)
        return dict(snap.fields)

    # -- commit -------------------------------------------------------------------

    async def _commit(self, ops: Sequence[Op]) -> bool:
        ns, watch, q, w, clock = self.ns, self.watch, self._q, self._w, self._store.clock
        expected = {slot: self._snapshot[slot].version for slot in watch}

        async def apply(conn: AsyncConnection) -> None:
            now = clock()
            if await w.current_versions(conn, ns, watch, now) != expected:
                raise _MovedError  # also undoes PostgreSQL's lock placeholders
            for op in ops:
                match op:
                    case SetOp(slot, value, ttl):
                        await q.write_scalar(conn, ns, slot, value, slot_deadline(now, ttl))
                    case DeleteOp(slot):
                        await q.delete_slot(conn, ns, slot, now)
                    case HSetOp(slot, mapping, ttl):
                        await q.hset(conn, ns, slot, mapping, slot_deadline(now, ttl), now)
                    case HDelOp(slot, fields):
                        await q.hdel(conn, ns, slot, list(fields), now)

        store = self._store
        try:
            await self._run("transaction commit", apply, Mode.WRITE, idempotent=False)
        except _MovedError:
            return False
        except store._catches as exc:
            error = store._translate(exc)
            if not isinstance(error, ConflictError):
                raise
            # The database aborted the commit for a concurrent one (deadlock,
            # serialization failure, a colliding insert): nothing was applied.
            raise TransactionConflictError(
                f"a concurrent commit won ({error})", namespace=ns, slots=watch
            ) from exc
        return True
