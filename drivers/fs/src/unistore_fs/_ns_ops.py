"""Blocking whole-namespace operations, and the sweep of one namespace.

Each costs O(files in one namespace directory); none ever lists the store
(the expiry sweep's walk over the store is in :mod:`unistore_fs._sweeper`).
"""

from __future__ import annotations

import logging
import os
from typing import Final

from unistore.errors import CorruptionError
from unistore_fs._fsio import (
    TEMP_PREFIX,
    fsync_dir,
    list_names,
    open_dir,
    read_file,
    remove_quietly,
    write_atomic,
)
from unistore_fs._locks import LOCK_NAME, Busy, DirLock, try_lock_dir
from unistore_fs._names import decode_name, encode_name
from unistore_fs._nsdir import JOURNAL, lock_ns, open_ns, recover_journal, remove_dir
from unistore_fs._records import (
    SLOT_SUFFIX,
    SlotRecord,
    decode_head,
    decode_record,
    encode_record,
    namespace_of,
    new_version,
)
from unistore_fs._root import Root

__all__ = [
    "SWEEP_GRACE",
    "live_namespaces",
    "namespace_dirs",
    "purge",
    "slots",
    "sweep_namespace",
    "sweep_one",
    "touch",
]

logger = logging.getLogger("unistore.driver.fs")

#: Seconds an expired slot file is kept before a sweep removes it. A transaction
#: that watched the (already expired) slot then still finds the same file.
SWEEP_GRACE: Final = 1.0


def _slot_files(dir_fd: int) -> list[str]:
    return [
        entry.name
        for entry in list_names(dir_fd)
        if entry.name.endswith(SLOT_SUFFIX)
        and not entry.name.startswith(".")
        and entry.is_file(follow_symlinks=False)
    ]


def _records(
    dir_fd: int, ns: str | None, *, strict: bool = True
) -> list[tuple[str, str, SlotRecord]]:
    """Return (file name, slot name, record) for every slot file.

    With ``strict`` false, files that cannot be decoded are skipped instead of
    raising ``CorruptionError``.
    """
    out = []
    for name in _slot_files(dir_fd):
        data = read_file(name, dir_fd)
        if data is None:
            continue  # removed meanwhile
        try:
            slot, record = decode_record(data, ns, None)
        except CorruptionError:
            if strict:
                raise
            continue
        out.append((name, slot, record))
    return out


def _may_start_with(file_name: str, prefix: str) -> bool:
    """Whether a slot file's name allows its slot to start with ``prefix`` (no read needed).

    A hashed (long) name keeps a readable head of the slot name: the slot can
    match only if that head and the prefix agree as far as both go. A name
    this store did not make is read, and judged by its content.
    """
    if not prefix:
        return True
    stem = file_name[: -len(SLOT_SUFFIX)]
    head, hashed, _ = stem.partition("~")
    try:
        known = decode_name(head) if hashed else decode_name(stem)
    except (ValueError, IndexError):
        return True
    if known is None:
        return True
    if hashed:
        return known.startswith(prefix) or prefix.startswith(known)
    return known.startswith(prefix)


def slots(root: Root, ns: str, prefix: str) -> tuple[list[str], int]:
    """Return the live slot names (at least those starting with ``prefix``).

    Also returns how many expired files were seen. Files whose names rule out
    the prefix are never opened; the others are read for their name and expiry
    only (values are not decoded).
    """
    dir_fd = open_ns(root, ns)
    if dir_fd is None:
        return [], 0
    now = root.clock()
    live: list[str] = []
    expired = 0
    try:
        for file_name in _slot_files(dir_fd):
            if not _may_start_with(file_name, prefix):
                continue
            data = read_file(file_name, dir_fd)
            if data is None:
                continue  # removed meanwhile
            slot, expires_at = decode_head(data, ns)
            if expires_at > now:
                live.append(slot)
            else:
                expired += 1
    finally:
        os.close(dir_fd)
    return live, expired


def touch(root: Root, ns: str, ttl: float) -> int | Busy:
    """Re-apply ``ttl`` to every live slot, remove expired files; return the live count.

    Each touched slot gets a new version: a transaction watching one sees the
    touch as a change (as Redis's WATCH sees an EXPIRE).
    """
    lock = lock_ns(root, ns, create=False)
    if lock is None:
        return 0
    if isinstance(lock, Busy):
        return lock
    with lock:
        now = root.clock()
        count = 0
        for name, slot, record in _records(lock.dir_fd, ns):
            if record.live(now):
                record.expires_at = now + ttl
                record.version = new_version()
                data = encode_record(ns, slot, record)
                write_atomic(lock.dir_fd, name, data, sync=root.sync)
                count += 1
            else:
                remove_quietly(name, lock.dir_fd)
        if not count:
            remove_dir(root.ns_fd, encode_name(ns), lock, sync=root.sync)
        elif root.sync:
            fsync_dir(lock.dir_fd)
        return count


def purge(root: Root, ns: str) -> int | Busy:
    """Delete every slot and the namespace directory; return the live count."""
    lock = lock_ns(root, ns, create=False)
    if lock is None:
        return 0
    if isinstance(lock, Busy):
        return lock
    with lock:
        now = root.clock()
        records = _records(lock.dir_fd, ns, strict=False)
        count = sum(1 for _, _, record in records if record.live(now))
        remove_dir(root.ns_fd, encode_name(ns), lock, sync=root.sync)
        return count


def namespace_dirs(root: Root) -> list[str]:
    """Return the names of every namespace folder (O(namespaces): for tooling only)."""
    return [
        entry.name
        for entry in list_names(root.ns_fd)
        if entry.is_dir(follow_symlinks=False) and not entry.name.startswith(".")
    ]


def _live_namespace(root: Root, name: str, now: float) -> str | None:
    """Return the namespace of a folder if it holds a live slot."""
    try:
        dir_fd = open_dir(name, root.ns_fd)
    except (FileNotFoundError, CorruptionError):
        return None
    try:
        for file_name in _slot_files(dir_fd):
            data = read_file(file_name, dir_fd)
            ns = None if data is None else namespace_of(data)
            if ns is None or data is None or encode_name(ns) != name:
                continue
            try:
                _, record = decode_record(data, ns, None)
            except CorruptionError:
                continue
            if record.live(now):
                return ns
    finally:
        os.close(dir_fd)
    return None


def live_namespaces(root: Root, names: list[str], prefix: str) -> list[str]:
    """Return the namespaces among folders ``names`` that start with ``prefix`` and are live."""
    now = root.clock()
    out = []
    for name in names:
        try:
            decoded = decode_name(name)
        except (ValueError, IndexError, UnicodeDecodeError):
            continue  # not a folder this store made
        if decoded is not None and not decoded.startswith(prefix):
            continue
        ns = _live_namespace(root, name, now)
        if ns is not None and ns.startswith(prefix):
            out.append(ns)
    return out


def sweep_namespace(root: Root, name: str, now: float) -> int:
    """Remove expired slot files and stray temporaries of one namespace directory.

    Never waits: a busy namespace is skipped. The directory goes when nothing
    is left in it. Returns how many files were removed.
    """
    try:
        lock = try_lock_dir(root.ns_fd, name, create=False)
    except (FileNotFoundError, CorruptionError):
        return 0
    if not isinstance(lock, DirLock):
        return 0
    removed = 0
    with lock:
        recover_journal(lock.dir_fd, sync=root.sync)
        remaining = 0
        for entry in list_names(lock.dir_fd):
            entry_name = entry.name
            if entry_name in (LOCK_NAME, JOURNAL):
                continue
            if entry_name.startswith(TEMP_PREFIX):
                # Writers hold the lock while a temporary exists: this one is orphaned.
                removed += remove_quietly(entry_name, lock.dir_fd)
                continue
            data = (
                read_file(entry_name, lock.dir_fd)
                if entry_name.endswith(SLOT_SUFFIX) and entry.is_file(follow_symlinks=False)
                else None
            )
            try:
                record = None if data is None else decode_record(data, None, None)[1]
            except CorruptionError:
                record = None
            if record is None:
                remaining += 1  # not ours or unreadable: leave it for a person to look at
            elif record.expires_at <= now - SWEEP_GRACE:
                removed += remove_quietly(entry_name, lock.dir_fd)
            else:
                remaining += 1
        if not remaining:
            remove_dir(root.ns_fd, name, lock, sync=False)
    return removed


def sweep_one(root: Root, ns: str) -> int:
    """Sweep one namespace now (after a listing saw expired files in it)."""
    return sweep_namespace(root, encode_name(ns), root.clock())
