"""Transactions of the memory driver: a snapshot at watch time, conflicts by notification."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from unistore._memory._slots import MemoryBackend, Slot, kind_error
from unistore.protocols import SlotKind
from unistore.sdk import DeleteOp, HDelOp, HSetOp, Op, SetOp, TransactionBase

if TYPE_CHECKING:
    from unistore.sdk import TransactionsBase

__all__ = ["MemoryTransaction"]

_SCALAR, _HASH = SlotKind.SCALAR, SlotKind.HASH


class MemoryTransaction(TransactionBase):
    """An optimistic transaction on a :class:`MemoryBackend`.

    The backend marks it :attr:`conflicted` when a watched slot is written,
    deleted, touched, purged or expires; reads see the state at watch time.
    """

    def __init__(
        self, store: TransactionsBase, backend: MemoryBackend, ns: str, watch: tuple[str, ...]
    ) -> None:
        super().__init__(store, ns, watch)
        self._backend = backend
        self._snapshot: dict[str, Slot | None] = {}

    async def _begin(self) -> None:
        backend = self._backend
        backend.watch(self, self.ns, self.watch)
        for slot in self.watch:
            entry = backend.lookup(self.ns, slot)
            # Hashes are replaced on write (copy-on-write), scalars may be
            # updated in place by incr: copy both to freeze the state.
            self._snapshot[slot] = (
                None
                if entry is None
                else Slot(
                    entry.kind,
                    dict(entry.value) if isinstance(entry.value, dict) else entry.value,
                    entry.expires_at,
                )
            )

    async def _end(self) -> None:
        self._backend.unwatch(self, self.ns, self.watch)

    def _read(self, slot: str) -> Slot | None:
        if slot in self._snapshot:
            entry = self._snapshot[slot]
            if entry is not None and entry.expires_at <= self._backend.clock():
                return None
            return entry
        return self._backend.lookup(self.ns, slot)

    async def _get(self, slot: str) -> bytes | None:
        entry = self._read(slot)
        if entry is None:
            return None
        if not isinstance(entry.value, bytes):
            raise kind_error(slot, _SCALAR, entry.kind)
        return entry.value

    async def _hgetall(self, slot: str) -> dict[str, bytes]:
        entry = self._read(slot)
        if entry is None:
            return {}
        if not isinstance(entry.value, dict):
            raise kind_error(slot, _HASH, entry.kind)
        return dict(entry.value)

    async def _commit(self, ops: Sequence[Op]) -> bool:
        backend, ns = self._backend, self.ns
        # A watched slot that expired since the watch is a change too.
        if self.conflicted or any(
            self._snapshot[slot] is not None and backend.lookup(ns, slot) is None
            for slot in self.watch
        ):
            return False
        self._check_kinds(ops)
        for op in ops:
            if isinstance(op, SetOp):
                backend.set(ns, op.slot, op.value, op.ttl)
            elif isinstance(op, DeleteOp):
                backend.delete(ns, op.slot)
            elif isinstance(op, HSetOp):
                backend.hset(ns, op.slot, op.mapping, op.ttl)
            else:
                backend.hdel(ns, op.slot, op.fields)
        return True

    def _check_kinds(self, ops: Sequence[Op]) -> None:
        # Check every op against the state it will meet, so that a kind error
        # aborts the commit before anything is applied.
        kinds: dict[str, SlotKind | None] = {}
        for op in ops:
            if op.slot not in kinds:
                kinds[op.slot] = self._backend.slot_kind(self.ns, op.slot)
            if isinstance(op, SetOp):
                kinds[op.slot] = _SCALAR
            elif isinstance(op, DeleteOp):
                kinds[op.slot] = None
            elif kinds[op.slot] is _SCALAR:
                raise kind_error(op.slot, _HASH, _SCALAR)
            elif isinstance(op, HSetOp):
                kinds[op.slot] = _HASH
            elif isinstance(op, HDelOp):
                pass  # deleting fields keeps the kind (or empties the slot)
