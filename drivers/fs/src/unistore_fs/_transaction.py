"""Optimistic transactions: watch versions, queue writes, commit under the namespace lock.

On entry the watched slot files are read once (without a lock): their values
are the snapshot the transaction reads, and their version tokens and liveness
are what the commit checks. The commit takes the namespace lock, re-reads the
watched files, and applies the queued writes only if every watched slot still
has the same version and has not expired; several changed files are applied
through the namespace journal, so a crash cannot leave half a commit behind.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, TypeVar

from unistore.errors import TransactionConflictError, ValidationError
from unistore.protocols import SlotKind
from unistore_fs._locks import Busy, DirLock
from unistore_fs._names import check_id
from unistore_fs._nsdir import commit_files, lock_ns, open_ns, read_slot
from unistore_fs._records import (
    SlotRecord,
    check_fields,
    check_ttl,
    check_value,
    kind_error,
    new_version,
)
from unistore_fs._root import Root
from unistore_fs._slot_ops import read_live

__all__ = ["FileTransaction", "commit", "snapshot"]

T = TypeVar("T")

#: (version token or None if no file, live at watch time)
WatchState = tuple[str | None, bool]
#: (operation, slot, argument, ttl)
Op = tuple[str, str, Any, float]


def snapshot(root: Root, ns: str, names: Sequence[str]) -> dict[str, SlotRecord | None]:
    """Read the watched slot files as they are now (expired ones included)."""
    dir_fd = open_ns(root, ns)
    if dir_fd is None:
        return dict.fromkeys(names)
    try:
        return {slot: read_slot(dir_fd, ns, slot) for slot in names}
    finally:
        os.close(dir_fd)


def _conflict(ns: str, watched: Mapping[str, WatchState]) -> TransactionConflictError:
    return TransactionConflictError(
        f"a watched slot changed before commit ({len(watched)} watched)",
        namespace=ns,
        slots=list(watched),
    )


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

    for op, slot, arg, ttl in ops:
        if op == "set":
            state[slot] = SlotRecord(SlotKind.SCALAR, now + ttl, "", value=arg)
        elif op == "delete":
            state[slot] = None
        else:
            record = current(slot)
            if record is not None and record.kind is not SlotKind.HASH:
                raise kind_error(slot, SlotKind.HASH, record.kind)
            fields = {} if record is None else dict(record.fields or {})
            if op == "hset":
                fields.update(arg)
                expires_at = now + ttl
            elif record is None:
                continue
            else:
                for name in arg:
                    fields.pop(name, None)
                expires_at = record.expires_at
            state[slot] = (
                SlotRecord(SlotKind.HASH, expires_at, "", fields=fields) if fields else None
            )
    return state


def commit(
    root: Root, ns: str, watched: Mapping[str, WatchState], ops: Sequence[Op]
) -> Busy | None:
    """Check the watched versions and apply ``ops``, under the namespace lock."""
    lock = lock_ns(root, ns, create=bool(ops))
    if lock is None:
        # No directory and nothing to write: only a watched file that vanished conflicts.
        if any(version is not None for version, _ in watched.values()):
            raise _conflict(ns, watched)
        return None
    if not isinstance(lock, DirLock):
        return lock
    with lock:
        now = time.time()
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
                raise _conflict(ns, watched)
        final = _plan(read, ops, now)
        changes: list[tuple[str, SlotRecord | None]] = []
        for slot, record in final.items():
            if record is None:
                if read(slot) is not None:
                    changes.append((slot, None))
            else:
                record.version = new_version()
                changes.append((slot, record))
        commit_files(root, lock.dir_fd, ns, changes)
    return None


class _Host(Protocol):
    async def _read(self, fn: Callable[..., T], /, *args: Any) -> T: ...

    async def _write(self, key: str, fn: Callable[..., T | Busy], /, *args: Any) -> T: ...


class FileTransaction:
    """An optimistic transaction over one namespace of a file store."""

    def __init__(self, host: _Host, ns: str, watch: Sequence[str]) -> None:
        if isinstance(watch, str) or not watch:
            raise ValidationError("a transaction must watch at least one slot (a list of names)")
        self._host = host
        self._ns = ns
        self._watch = tuple(dict.fromkeys(check_id(slot, "watched slot") for slot in watch))
        self._snapshot: dict[str, SlotRecord | None] = {}
        self._states: dict[str, WatchState] = {}
        self._ops: list[Op] = []
        self._active = False
        self._done = False

    async def __aenter__(self) -> FileTransaction:
        self._snapshot = await self._host._read(snapshot, self._ns, self._watch)
        now = time.time()
        self._states = {
            slot: (None, False) if rec is None else (rec.version, rec.live(now))
            for slot, rec in self._snapshot.items()
        }
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

    async def _view(self, slot: str) -> SlotRecord | None:
        slot = check_id(slot, "slot")
        if slot in self._snapshot:
            record = self._snapshot[slot]
            return record if record is not None and record.live(time.time()) else None
        return await self._host._read(read_live, self._ns, slot)

    async def get(self, slot: str) -> bytes | None:
        """Read a scalar slot as of the watch."""
        record = await self._view(slot)
        return None if record is None else record.scalar(slot)

    async def hget(self, slot: str, field: str) -> bytes | None:
        """Read one hash field as of the watch."""
        return (await self.hgetall(slot)).get(field)

    async def hgetall(self, slot: str) -> dict[str, bytes]:
        """Read a whole hash slot as of the watch."""
        record = await self._view(slot)
        return {} if record is None else dict(record.hash(slot))

    def _queue(self, op: str, slot: str, arg: Any, ttl: float) -> None:
        if self._done:
            raise ValidationError("the transaction has already been committed")
        self._ops.append((op, check_id(slot, "slot"), arg, ttl))

    def set(self, slot: str, value: bytes, *, ttl: float) -> None:
        """Queue a scalar write."""
        self._queue("set", slot, check_value(value), check_ttl(ttl))

    def delete(self, slot: str) -> None:
        """Queue a delete."""
        self._queue("delete", slot, None, 0.0)

    def hset(self, slot: str, mapping: Mapping[str, bytes], *, ttl: float) -> None:
        """Queue a hash write (fields and expiry)."""
        self._queue("hset", slot, check_fields(mapping), check_ttl(ttl))

    def hdel(self, slot: str, fields: Sequence[str]) -> None:
        """Queue the deletion of hash fields."""
        if isinstance(fields, str):
            raise ValidationError("fields must be a sequence of names, not a str")
        self._queue("hdel", slot, [check_id(name, "hash field name") for name in fields], 0.0)

    async def commit(self) -> None:
        """Apply the queued writes atomically if no watched slot changed.

        Raises:
            TransactionConflictError: A watched slot changed; nothing was written.
        """
        if not self._active or self._done:
            raise ValidationError("commit() needs an open transaction (use 'async with')")
        ops = list(self._ops)
        self._done = True
        self._active = False
        self._ops.clear()
        await self._host._write(f"n:{self._ns}", commit, self._ns, self._states, ops)
