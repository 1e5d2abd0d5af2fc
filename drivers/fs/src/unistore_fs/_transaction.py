"""Optimistic transactions: watch versions, queue writes, commit under the namespace lock.

On entry the watched slot files are read once (without a lock): their values
are the snapshot the transaction reads, and their version tokens and liveness
are what the commit checks. The commit takes the namespace lock, re-reads the
watched files, and applies the queued writes only if every watched slot still
has the same version and has not expired; several changed files are applied
through the namespace journal, so a crash cannot leave half a commit behind.
Every write, delete, touch and expire of a slot gives it a new version, so
each of them counts as a change.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from unistore.protocols import SlotKind
from unistore.sdk import DeleteOp, HDelOp, HSetOp, Op, SetOp, TransactionBase, TransactionsBase
from unistore_fs._locks import Busy, DirLock
from unistore_fs._nsdir import commit_files, lock_ns, open_ns, read_slot
from unistore_fs._records import SlotRecord, expiry, kind_error, new_version
from unistore_fs._root import Root
from unistore_fs._slot_ops import read_live

__all__ = ["FileTransaction", "commit", "snapshot"]

T = TypeVar("T")

#: (version token or None if no file, live at watch time)
WatchState = tuple[str | None, bool]


def snapshot(root: Root, ns: str, names: Sequence[str]) -> dict[str, SlotRecord | None]:
    """Read the watched slot files as they are now (expired ones included)."""
    dir_fd = open_ns(root, ns)
    if dir_fd is None:
        return dict.fromkeys(names)
    try:
        return {slot: read_slot(dir_fd, ns, slot) for slot in names}
    finally:
        os.close(dir_fd)


def _plan(
    read: Callable[[str], SlotRecord | None], ops: Sequence[Op], now: float
) -> dict[str, SlotRecord | None]:
    """Compute the final state of every slot the queued writes touch."""
    state: dict[str, SlotRecord | None] = {}

    def current(slot: str) -> SlotRecord | None:
        if slot not in state:
            record = read(slot)
            state[slot] = record if record is not None and record.live(now) else None
        return state[slot]

    for op in ops:
        slot = op.slot
        if isinstance(op, SetOp):
            state[slot] = SlotRecord(SlotKind.SCALAR, expiry(now, op.ttl), "", value=op.value)
            continue
        if isinstance(op, DeleteOp):
            state[slot] = None
            continue
        record = current(slot)
        if record is not None and record.kind is not SlotKind.HASH:
            raise kind_error(slot, SlotKind.HASH, record.kind)
        fields = {} if record is None else dict(record.fields or {})
        if isinstance(op, HSetOp):
            fields.update(op.mapping)
            expires_at = expiry(now, op.ttl)
        elif record is None:
            continue
        else:
            assert isinstance(op, HDelOp)
            for name in op.fields:
                fields.pop(name, None)
            expires_at = record.expires_at
        state[slot] = SlotRecord(SlotKind.HASH, expires_at, "", fields=fields) if fields else None
    return state


def commit(
    root: Root, ns: str, watched: Mapping[str, WatchState], ops: Sequence[Op]
) -> bool | Busy:
    """Check the watched versions and apply ``ops`` under the namespace lock.

    Returns:
        ``False`` if a watched slot changed (nothing written), ``True`` once applied.
    """
    lock = lock_ns(root, ns, create=bool(ops))
    if lock is None:
        # No directory and nothing to write: only a watched file that vanished conflicts.
        return all(version is None for version, _ in watched.values())
    if not isinstance(lock, DirLock):
        return lock
    with lock:
        now = root.clock()
        cache: dict[str, SlotRecord | None] = {}

        def read(slot: str) -> SlotRecord | None:
            if slot not in cache:
                cache[slot] = read_slot(lock.dir_fd, ns, slot)
            return cache[slot]

        for slot, (version, was_live) in watched.items():
            record = read(slot)
            if (record.version if record else None) != version or (
                was_live and (record is None or not record.live(now))
            ):
                return False
        final = _plan(read, ops, now)
        changes: list[tuple[str, SlotRecord | None]] = []
        for slot, planned in final.items():
            if planned is None:
                if read(slot) is not None:
                    changes.append((slot, None))
            else:
                planned.version = new_version()
                changes.append((slot, planned))
        commit_files(root, lock.dir_fd, ns, changes)
    return True


class FileHost(Protocol):
    """What a transaction needs from its store: the clock and the worker-thread calls."""

    @property
    def clock(self) -> Callable[[], float]: ...

    async def _read(self, fn: Callable[..., T], /, *args: Any) -> T: ...

    async def _write(self, key: str, fn: Callable[..., T | Busy], /, *args: Any) -> T: ...


class FileTransaction(TransactionBase):
    """An optimistic transaction over one namespace of a file store.

    Args:
        store: The store (for the SDK: error mapping, the conflict hook).
        host: The same store, seen as what runs the file operations.
        ns: The namespace.
        watch: The watched slots.
    """

    def __init__(
        self, store: TransactionsBase, host: FileHost, ns: str, watch: tuple[str, ...]
    ) -> None:
        super().__init__(store, ns, watch)
        self._host = host
        self._snapshot: dict[str, SlotRecord | None] = {}
        self._states: dict[str, WatchState] = {}

    async def _begin(self) -> None:
        self._snapshot = await self._host._read(snapshot, self.ns, self.watch)
        now = self._host.clock()
        self._states = {
            slot: (None, False) if rec is None else (rec.version, rec.live(now))
            for slot, rec in self._snapshot.items()
        }

    async def _view(self, slot: str) -> SlotRecord | None:
        if slot in self._snapshot:
            record = self._snapshot[slot]
            return record if record is not None and record.live(self._host.clock()) else None
        return await self._host._read(read_live, self.ns, slot)

    async def _get(self, slot: str) -> bytes | None:
        record = await self._view(slot)
        return None if record is None else record.scalar(slot)

    async def _hgetall(self, slot: str) -> dict[str, bytes]:
        record = await self._view(slot)
        return {} if record is None else dict(record.hash(slot))

    async def _commit(self, ops: Sequence[Op]) -> bool:
        return await self._host._write(f"n:{self.ns}", commit, self.ns, self._states, ops)

    async def _end(self) -> None:
        self._snapshot = {}
