"""Transactions: the typed op queue, the transaction base, and the conflict-injection hook.

A driver's transaction implements four primitives: :meth:`TransactionBase._begin`
(watch and snapshot), the reads, :meth:`TransactionBase._commit` (apply the
ops atomically if no watched slot changed, else return ``False``) and
:meth:`TransactionBase._end` (release). Everything else (argument checks, the
op queue, the state machine, the conflict error, error mapping, and
:meth:`TransactionsBase.simulate_concurrent_change`) is here, once.
"""

from __future__ import annotations

import weakref
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar, Self, final

from unistore.errors import TransactionConflictError, ValidationError
from unistore.protocols import Capability
from unistore.sdk._checks import (
    check_expiry,
    check_fields,
    check_id,
    check_mapping,
    check_value,
    check_watch,
)
from unistore.sdk._store import StoreBase

__all__ = [
    "DeleteOp",
    "HDelOp",
    "HSetOp",
    "Op",
    "SetOp",
    "TransactionBase",
    "TransactionsBase",
]


@dataclass(frozen=True, slots=True)
class SetOp:
    """Queued scalar write."""

    slot: str
    value: bytes
    ttl: float | None


@dataclass(frozen=True, slots=True)
class DeleteOp:
    """Queued delete of a slot of any kind."""

    slot: str


@dataclass(frozen=True, slots=True)
class HSetOp:
    """Queued hash write: fields and the slot's new expiry."""

    slot: str
    mapping: dict[str, bytes]
    ttl: float | None


@dataclass(frozen=True, slots=True)
class HDelOp:
    """Queued deletion of hash fields (distinct names, at least one)."""

    slot: str
    fields: tuple[str, ...]


Op = SetOp | DeleteOp | HSetOp | HDelOp
"""One queued write of a transaction."""

_NEW, _OPEN, _DONE = 0, 1, 2


class TransactionBase(ABC):
    """An optimistic transaction over one namespace (see :class:`~unistore.protocols.Transaction`).

    Args:
        store: The store it belongs to (for error mapping and the conflict hook).
        ns: The namespace, checked.
        watch: The watched slots, checked and distinct.

    Attributes:
        ns: The namespace.
        watch: The watched slots.
    """

    def __init__(self, store: TransactionsBase, ns: str, watch: tuple[str, ...]) -> None:
        self._store = store
        self.ns = ns
        self.watch = watch
        self._ops: list[Op] = []
        self._state = _NEW
        #: Set by :meth:`TransactionsBase.simulate_concurrent_change`.
        self.conflicted = False

    # -- primitives -------------------------------------------------------------

    @abstractmethod
    async def _begin(self) -> None:
        """Watch :attr:`watch` (and take a snapshot, where the driver keeps one)."""

    @abstractmethod
    async def _get(self, slot: str) -> bytes | None: ...

    @abstractmethod
    async def _hgetall(self, slot: str) -> dict[str, bytes]: ...

    async def _hget(self, slot: str, field: str) -> bytes | None:
        return (await self._hgetall(slot)).get(field)

    @abstractmethod
    async def _commit(self, ops: Sequence[Op]) -> bool:
        """Apply ``ops`` in order, atomically, if no watched slot changed.

        Returns:
            ``False`` on a conflict (nothing applied).

        Raises:
            SlotKindError: An op meets a slot of the other kind; nothing applied.
        """

    @abstractmethod
    async def _end(self) -> None:
        """Release what :meth:`_begin` took; runs once, whatever happened."""

    # -- public -----------------------------------------------------------------

    @final
    async def __aenter__(self) -> Self:
        if self._state != _NEW:
            raise ValidationError("a transaction can be entered only once")
        store = self._store
        if store._closed:
            raise store._closed_error()
        try:
            await self._begin()
        except store._catches as exc:
            await self._end()
            raise store._translate(exc) from exc
        except BaseException:
            await self._end()
            raise
        self._state = _OPEN
        store._opened(self)
        return self

    @final
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._state == _OPEN:
            await self._finish()

    async def _finish(self) -> None:
        self._state = _DONE
        self._ops.clear()
        self._store._closed_tx(self)
        try:
            await self._end()
        except self._store._catches as exc:
            raise self._store._translate(exc) from exc

    def _reading(self, slot: object) -> str:
        if self._state != _OPEN:
            raise ValidationError("reads need an open transaction (use 'async with')")
        return check_id(slot, "a slot name")

    @final
    async def get(self, slot: str) -> bytes | None:
        """Read a scalar slot (as of the watch where the driver keeps a snapshot)."""
        name = self._reading(slot)
        try:
            return await self._get(name)
        except self._store._catches as exc:
            raise self._store._translate(exc) from exc

    @final
    async def hget(self, slot: str, field: str) -> bytes | None:
        """Read one field of a hash slot."""
        name = self._reading(slot)
        field = check_id(field, "a hash field name")
        try:
            return await self._hget(name, field)
        except self._store._catches as exc:
            raise self._store._translate(exc) from exc

    @final
    async def hgetall(self, slot: str) -> dict[str, bytes]:
        """Read a whole hash slot."""
        name = self._reading(slot)
        try:
            return await self._hgetall(name)
        except self._store._catches as exc:
            raise self._store._translate(exc) from exc

    def _queue(self, op: Op) -> None:
        if self._state == _DONE:
            raise ValidationError("the transaction has already been committed or closed")
        self._ops.append(op)

    @final
    def set(self, slot: str, value: bytes, *, ttl: float | None) -> None:
        """Queue a scalar write."""
        self._queue(SetOp(check_id(slot, "a slot name"), check_value(value), check_expiry(ttl)))

    @final
    def delete(self, slot: str) -> None:
        """Queue a delete."""
        self._queue(DeleteOp(check_id(slot, "a slot name")))

    @final
    def hset(self, slot: str, mapping: Mapping[str, bytes], *, ttl: float | None) -> None:
        """Queue a hash write (fields and expiry)."""
        self._queue(
            HSetOp(check_id(slot, "a slot name"), check_mapping(mapping), check_expiry(ttl))
        )

    @final
    def hdel(self, slot: str, fields: Sequence[str]) -> None:
        """Queue the deletion of hash fields."""
        names = check_fields(fields)
        if names:
            self._queue(HDelOp(check_id(slot, "a slot name"), tuple(names)))

    @property
    def ops(self) -> tuple[Op, ...]:
        """The writes queued so far."""
        return tuple(self._ops)

    @final
    async def commit(self) -> None:
        """Apply the queued writes atomically.

        Raises:
            TransactionConflictError: A watched slot changed since the watch;
                nothing was written.
        """
        if self._state != _OPEN:
            raise ValidationError("commit() needs an open transaction (use 'async with')")
        store = self._store
        if store._closed:
            raise store._closed_error()
        ops = tuple(self._ops)
        try:
            applied = not self.conflicted and await self._commit(ops)
        except store._catches as exc:
            await self._finish()
            raise store._translate(exc) from exc
        except BaseException:
            await self._finish()
            raise
        await self._finish()
        if not applied:
            raise TransactionConflictError(
                f"a watched slot changed before commit ({len(self.watch)} watched)",
                namespace=self.ns,
                slots=self.watch,
            )


class TransactionsBase(StoreBase):
    """Optimistic transactions.

    Primitive: :meth:`_transaction`, returning the driver's :class:`TransactionBase`.
    """

    _CAPABILITY: ClassVar[Capability | None] = Capability.TRANSACTIONS
    _open_tx: weakref.WeakSet[TransactionBase] | None = None

    @final
    def transaction(self, ns: str, watch: Sequence[str]) -> TransactionBase:
        """Start a transaction in ``ns`` watching ``watch`` (at least one slot)."""
        if self._closed:
            raise self._closed_error()
        return self._transaction(check_id(ns, "a namespace"), check_watch(watch))

    @abstractmethod
    def _transaction(self, ns: str, watch: tuple[str, ...]) -> TransactionBase: ...

    def _opened(self, tx: TransactionBase) -> None:
        if self._open_tx is None:
            self._open_tx = weakref.WeakSet()
        self._open_tx.add(tx)

    def _closed_tx(self, tx: TransactionBase) -> None:
        if self._open_tx is not None:
            self._open_tx.discard(tx)

    @final
    def simulate_concurrent_change(self, ns: str, slot: str) -> int:
        """Make every open transaction of this store watching ``slot`` conflict (test hook).

        Behaves as if another client wrote the slot between watch and commit,
        without changing it: the commit fails with
        :class:`~unistore.errors.TransactionConflictError` and writes nothing.
        Works on every SDK driver, so compare-and-swap retry paths can be
        tested anywhere.

        Returns:
            How many open transactions were marked.
        """
        marked = 0
        for tx in list(self._open_tx or ()):
            if tx.ns == ns and slot in tx.watch:
                tx.conflicted = True
                marked += 1
        return marked
