"""Namespace directories: locking, slot files, the commit journal, removal.

A namespace is the directory ``<root>/ns/<encoded namespace>/``. Every write
holds the namespace lock (``.lock`` inside it); reads take no lock and rely on
atomic renames.

A commit that changes several slot files first writes the new files as
temporaries and a journal (``.journal``) naming them, then renames them into
place and removes the journal. Whoever takes the namespace lock next and finds
a journal finishes it, so after a crash a commit is either fully applied
(once the namespace is written again) or not at all.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
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
    write_temp,
)
from unistore_fs._locks import LOCK_NAME, Busy, DirLock, lock_dir, try_lock_dir
from unistore_fs._names import encode_name
from unistore_fs._records import SLOT_SUFFIX, SlotRecord, decode_record, encode_record, slot_file
from unistore_fs._root import Root

__all__ = [
    "JOURNAL",
    "commit_files",
    "lock_ns",
    "open_ns",
    "read_slot",
    "remove_dir",
    "write_slot",
]

JOURNAL: Final = ".journal"


def open_ns(root: Root, ns: str) -> int | None:
    """Open a namespace directory for reading, or return ``None`` if absent.

    If a commit journal is present (a commit is being applied, or one was
    interrupted by a crash), wait for the namespace lock and let the commit
    finish first, so that a reader never sees a commit half applied.
    """
    name = encode_name(ns)
    try:
        dir_fd = open_dir(name, root.ns_fd)
    except FileNotFoundError:
        return None
    try:
        os.stat(JOURNAL, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return dir_fd
    except BaseException:
        os.close(dir_fd)
        raise
    os.close(dir_fd)
    try:
        lock = lock_dir(
            root.ns_fd, name, create=False, timeout=root.lock_timeout, what="a namespace"
        )
    except FileNotFoundError:
        return None
    with lock:
        recover_journal(lock.dir_fd, sync=root.sync)
        return os.dup(lock.dir_fd)


def lock_ns(root: Root, ns: str, *, create: bool) -> DirLock | Busy | None:
    """Try to lock a namespace; ``None`` if it does not exist and ``create`` is false.

    A journal left by a crashed commit is finished before the lock is returned.
    """
    try:
        lock = try_lock_dir(root.ns_fd, encode_name(ns), create=create)
    except FileNotFoundError:
        return None
    if isinstance(lock, DirLock):
        try:
            if lock.created and root.sync:
                fsync_dir(root.ns_fd)
            recover_journal(lock.dir_fd, sync=root.sync)
        except BaseException:
            lock.release()
            raise
    return lock


def read_slot(dir_fd: int, ns: str, slot: str) -> SlotRecord | None:
    """Read a slot file (expired or not), or ``None`` if there is none."""
    data = read_file(slot_file(slot), dir_fd)
    if data is None:
        return None
    return decode_record(data, ns, slot)[1]


def write_slot(root: Root, dir_fd: int, ns: str, slot: str, record: SlotRecord) -> None:
    """Atomically replace one slot file and make it durable (per the durability option)."""
    write_atomic(dir_fd, slot_file(slot), encode_record(ns, slot, record), sync=root.sync)
    if root.sync:
        fsync_dir(dir_fd)


def commit_files(
    root: Root, dir_fd: int, ns: str, changes: Sequence[tuple[str, SlotRecord | None]]
) -> None:
    """Apply several slot writes/deletes all-or-nothing across crashes (via a journal)."""
    if not changes:
        return
    if len(changes) == 1:
        slot, record = changes[0]
        if record is None:
            if remove_quietly(slot_file(slot), dir_fd) and root.sync:
                fsync_dir(dir_fd)
        else:
            write_slot(root, dir_fd, ns, slot, record)
        return
    entries: list[list[str | None]] = []
    try:
        for slot, record in changes:
            temp = (
                None
                if record is None
                else write_temp(dir_fd, encode_record(ns, slot, record), sync=root.sync)
            )
            entries.append([temp, slot_file(slot)])
        write_atomic(dir_fd, JOURNAL, json.dumps(entries).encode("ascii"), sync=root.sync)
    except BaseException:
        for temp, _ in entries:
            if temp is not None:
                remove_quietly(temp, dir_fd)
        raise
    if root.sync:
        fsync_dir(dir_fd)
    _apply(dir_fd, entries, sync=root.sync)


def _apply(dir_fd: int, entries: list[list[str | None]], *, sync: bool) -> None:
    for temp, target in entries:
        if target is None:
            continue
        if temp is None:
            remove_quietly(target, dir_fd)
            continue
        # A missing temporary was already renamed before a crash.
        with contextlib.suppress(FileNotFoundError):
            os.rename(temp, target, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    if sync:
        fsync_dir(dir_fd)
    remove_quietly(JOURNAL, dir_fd)


def _plain_name(name: object) -> bool:
    """Whether a journal entry is one file name in the namespace folder, not a path."""
    return isinstance(name, str) and "/" not in name and "\0" not in name


def recover_journal(dir_fd: int, *, sync: bool) -> bool:
    """Finish a commit interrupted by a crash; return whether there was one."""
    data = read_file(JOURNAL, dir_fd)
    if data is None:
        return False
    try:
        entries = json.loads(data)
        valid = isinstance(entries, list) and all(
            isinstance(e, list)
            and len(e) == 2
            and (e[0] is None or (_plain_name(e[0]) and e[0].startswith(TEMP_PREFIX)))
            and _plain_name(e[1])
            and e[1].endswith(SLOT_SUFFIX)
            for e in entries
        )
    except ValueError as exc:
        raise CorruptionError("a namespace commit journal cannot be decoded") from exc
    if not valid:
        raise CorruptionError("a namespace commit journal has an unexpected shape")
    _apply(dir_fd, entries, sync=sync)
    return True


def remove_dir(parent_fd: int, name: str, lock: DirLock, *, sync: bool) -> None:
    """Remove a locked directory and everything in it, the lock file last.

    Waiters on the lock notice (the lock file is gone from the path) and retry.
    """
    for entry in list_names(lock.dir_fd):
        if entry.name != LOCK_NAME and not entry.is_dir(follow_symlinks=False):
            remove_quietly(entry.name, lock.dir_fd)
    remove_quietly(LOCK_NAME, lock.dir_fd)
    try:
        os.rmdir(name, dir_fd=parent_fd)
    except OSError:
        # A new locker recreated .lock meanwhile, or a stranger left a folder: keep it.
        return
    if sync:
        fsync_dir(parent_fd)
