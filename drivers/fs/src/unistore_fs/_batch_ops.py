"""Blocking batch operations on scalar slots: get, set and delete many at once.

Each holds the namespace lock for the whole batch. Lock-free reads of single
slots rely on atomic renames, but several files read one after another could
straddle a commit; holding the lock makes a batch read one instant of the
namespace. Batch writes go through the namespace commit journal, so a crash
leaves all of a batch applied (once the namespace is next used) or none of it.
"""

from __future__ import annotations

from unistore.protocols import SlotKind
from unistore_fs._locks import Busy, DirLock
from unistore_fs._nsdir import commit_files, lock_ns, read_slot
from unistore_fs._records import SlotRecord, expiry, new_version
from unistore_fs._root import Root

__all__ = ["delete_many", "get_many", "set_many"]


def get_many(root: Root, ns: str, slots: list[str]) -> list[bytes | None] | Busy:
    """Return the scalar values of ``slots`` (repeats allowed) as of one instant."""
    lock = lock_ns(root, ns, create=False)
    if lock is None:
        return [None] * len(slots)
    if isinstance(lock, Busy):
        return lock
    with lock:
        now = root.clock()
        values: dict[str, bytes | None] = {}
        for slot in dict.fromkeys(slots):
            record = read_slot(lock.dir_fd, ns, slot)
            live = record is not None and record.live(now) and record.kind is SlotKind.SCALAR
            values[slot] = record.value if live and record is not None else None
    return [values[slot] for slot in slots]


def set_many(root: Root, ns: str, mapping: dict[str, bytes], ttl: float | None) -> Busy | None:
    """Write scalar values with one expiry, all or none (replacing slots of any kind)."""
    lock = lock_ns(root, ns, create=True)
    if not isinstance(lock, DirLock):
        return lock if isinstance(lock, Busy) else None
    with lock:
        expires_at = expiry(root.clock(), ttl)
        changes: list[tuple[str, SlotRecord | None]] = [
            (slot, SlotRecord(SlotKind.SCALAR, expires_at, new_version(), value=value))
            for slot, value in mapping.items()
        ]
        commit_files(root, lock.dir_fd, ns, changes)
    return None


def delete_many(root: Root, ns: str, slots: list[str]) -> int | Busy:
    """Delete distinct slots of any kind, all or none; return how many live ones existed."""
    lock = lock_ns(root, ns, create=False)
    if lock is None:
        return 0
    if isinstance(lock, Busy):
        return lock
    with lock:
        now = root.clock()
        changes: list[tuple[str, SlotRecord | None]] = []
        live = 0
        for slot in slots:
            record = read_slot(lock.dir_fd, ns, slot)
            if record is None:
                continue
            # An expired file goes too (it is invisible already), but does not count.
            changes.append((slot, None))
            live += record.live(now)
        commit_files(root, lock.dir_fd, ns, changes)
        return live
