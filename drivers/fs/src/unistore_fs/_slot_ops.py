"""Blocking single-slot operations (run in a worker thread, one call per operation).

Reads take no lock. Writes take the namespace lock without waiting and return
:data:`~unistore_fs._locks.BUSY` when it is taken; the store then retries.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from unistore.protocols import SlotKind
from unistore.sdk import add_counter, parse_counter
from unistore_fs._locks import Busy, DirLock
from unistore_fs._nsdir import (
    commit_files,
    lock_ns,
    open_ns,
    read_slot,
    write_slot,
)
from unistore_fs._records import SlotRecord, expiry, new_version
from unistore_fs._root import Root

__all__ = [
    "delete",
    "expire",
    "get_ttl",
    "hdel",
    "hset",
    "incr",
    "read_live",
    "set_scalar",
]


def read_live(root: Root, ns: str, slot: str) -> SlotRecord | None:
    """Return a live slot's record, or ``None`` if absent or expired."""
    dir_fd = open_ns(root, ns)
    if dir_fd is None:
        return None
    try:
        record = read_slot(dir_fd, ns, slot)
    finally:
        os.close(dir_fd)
    if record is None or not record.live(root.clock()):
        return None
    return record


def get_ttl(root: Root, ns: str, slot: str) -> float | None:
    """Return the seconds left (``math.inf``: never expires), or ``None``."""
    record = read_live(root, ns, slot)
    return None if record is None else max(0.0, record.expires_at - root.clock())


def _current(lock: DirLock, ns: str, slot: str, now: float) -> SlotRecord | None:
    record = read_slot(lock.dir_fd, ns, slot)
    return record if record is not None and record.live(now) else None


def set_scalar(root: Root, ns: str, slot: str, value: bytes, ttl: float | None) -> Busy | None:
    """Write a scalar value with its expiry (``ttl`` None: none, dropping any old one)."""
    lock = lock_ns(root, ns, create=True)
    if not isinstance(lock, DirLock):
        return lock if isinstance(lock, Busy) else None
    with lock:
        record = SlotRecord(SlotKind.SCALAR, expiry(root.clock(), ttl), new_version(), value=value)
        write_slot(root, lock.dir_fd, ns, slot, record)
    return None


def delete(root: Root, ns: str, slot: str) -> bool | Busy:
    """Delete a slot of any kind; return whether a live one existed."""
    lock = lock_ns(root, ns, create=False)
    if lock is None:
        return False
    if isinstance(lock, Busy):
        return lock
    with lock:
        record = read_slot(lock.dir_fd, ns, slot)
        if record is None:
            return False
        commit_files(root, lock.dir_fd, ns, [(slot, None)])
        return record.live(root.clock())


def hset(
    root: Root, ns: str, slot: str, mapping: Mapping[str, bytes], ttl: float | None
) -> int | Busy:
    """Merge fields into a hash and re-apply its expiry; return how many were new."""
    lock = lock_ns(root, ns, create=True)
    if not isinstance(lock, DirLock):
        return lock if isinstance(lock, Busy) else 0
    with lock:
        now = root.clock()
        current = _current(lock, ns, slot, now)
        fields = {} if current is None else dict(current.hash(slot))
        added = sum(1 for name in mapping if name not in fields)
        fields.update(mapping)
        if fields:
            record = SlotRecord(SlotKind.HASH, expiry(now, ttl), new_version(), fields=fields)
            write_slot(root, lock.dir_fd, ns, slot, record)
        return added


def hdel(root: Root, ns: str, slot: str, names: Sequence[str]) -> int | Busy:
    """Delete hash fields; an emptied hash disappears. Return how many existed."""
    lock = lock_ns(root, ns, create=False)
    if lock is None:
        return 0
    if isinstance(lock, Busy):
        return lock
    with lock:
        now = root.clock()
        current = _current(lock, ns, slot, now)
        if current is None:
            return 0
        fields = dict(current.hash(slot))
        removed = sum(1 for name in set(names) if fields.pop(name, None) is not None)
        if removed:
            change = (
                SlotRecord(SlotKind.HASH, current.expires_at, new_version(), fields=fields)
                if fields
                else None
            )
            commit_files(root, lock.dir_fd, ns, [(slot, change)])
        return removed


def incr(root: Root, ns: str, slot: str, amount: int, ttl: float | None) -> int | Busy:
    """Add to a counter, creating it at 0 with ``ttl``; an existing one keeps its expiry."""
    lock = lock_ns(root, ns, create=True)
    if not isinstance(lock, DirLock):
        return lock if isinstance(lock, Busy) else 0
    with lock:
        now = root.clock()
        current = _current(lock, ns, slot, now)
        if current is None:
            value, expires_at = add_counter(0, amount, slot), expiry(now, ttl)
        else:
            # Raises before anything is written: a non-canonical value or an overflow.
            value = add_counter(parse_counter(current.scalar(slot), slot), amount, slot)
            expires_at = current.expires_at
        record = SlotRecord(
            SlotKind.SCALAR, expires_at, new_version(), value=str(value).encode("ascii")
        )
        write_slot(root, lock.dir_fd, ns, slot, record)
        return value


def expire(root: Root, ns: str, slot: str, ttl: float) -> bool | Busy:
    """Give a live slot a new expiry; return whether it existed.

    The version changes too: a transaction watching the slot sees the expiry
    change as a change (as Redis's WATCH sees an EXPIRE).
    """
    lock = lock_ns(root, ns, create=False)
    if lock is None:
        return False
    if isinstance(lock, Busy):
        return lock
    with lock:
        now = root.clock()
        current = _current(lock, ns, slot, now)
        if current is None:
            return False
        current.expires_at = now + ttl
        current.version = new_version()
        write_slot(root, lock.dir_fd, ns, slot, current)
        return True
