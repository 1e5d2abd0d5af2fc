"""Blocking session operations (one worker-thread call per operation).

Writers lock the session folder (``.lock``); a fork or an edit also locks the
forks it must materialise, always *trying* the lock: if one is busy everything
is released and the operation is retried, so lock order cannot deadlock.
Every step is idempotent, so a retry after a partial pass is safe. Readers
take no lock: they read the metadata, then the logs it names, then check that
the base chain they followed is unchanged (logs are never rewritten in place).
"""

from __future__ import annotations

import os
import random
from typing import Any, Final

from unistore.errors import CorruptionError, StoreTimeoutError
from unistore.protocols import SessionRecord
from unistore.sdk import (
    ForkRequest,
    MessageWrite,
    length_conflict,
    position_error,
    session_exists,
    session_not_found,
    short,
)
from unistore_fs._fsio import (
    TEMP_PREFIX,
    fsync_dir,
    list_names,
    open_file,
    pread_exact,
    remove_quietly,
)
from unistore_fs._locks import BUSY, LOCK_NAME, Busy, DirLock, lock_dir, try_lock_dir
from unistore_fs._names import encode_name
from unistore_fs._nsdir import remove_dir
from unistore_fs._root import Root
from unistore_fs._session_index import stamp
from unistore_fs._session_log import (
    StaleReadError,
    append_lines,
    decode_line,
    encode_messages,
    own_lines,
    own_offset,
    read_range,
    write_new_log,
)
from unistore_fs._session_meta import (
    META_FILE,
    SessionMeta,
    load_meta,
    load_meta_in,
    write_meta,
)

__all__ = [
    "create",
    "delete",
    "fork",
    "get",
    "read_messages",
    "update",
    "write_messages",
]

_READ_ATTEMPTS: Final = 50
#: Share of appends that also tidy their folder (crash leftovers), amortising the listing.
_TIDY_CHANCE: Final = 1 / 32


def _lock(root: Root, session_id: str, *, create: bool) -> DirLock | Busy | None:
    try:
        return try_lock_dir(root.sessions_fd, encode_name(session_id), create=create)
    except FileNotFoundError:
        return None


def _clear(dir_fd: int) -> None:
    """Remove what a crashed create or delete left in a session folder."""
    for entry in list_names(dir_fd):
        if entry.name != LOCK_NAME and not entry.is_dir(follow_symlinks=False):
            remove_quietly(entry.name, dir_fd)


def _tidy(dir_fd: int, meta: SessionMeta) -> None:
    """Remove temporaries and old log generations a crash left in a session folder."""
    for entry in list_names(dir_fd):
        name = entry.name
        stray_log = name.startswith("messages") and name != meta.log
        if (name.startswith(TEMP_PREFIX) or stray_log) and entry.is_file(follow_symlinks=False):
            remove_quietly(name, dir_fd)


def _check_point(value: int | None, length: int, what: str) -> int:
    # The SDK checked the type and the sign; only the session knows its length.
    point = length if value is None else value
    if point > length:
        raise position_error(what, length, value)
    return point


def get(root: Root, session_id: str) -> SessionRecord | None:
    """Return a session's record, or ``None``."""
    meta = load_meta(root, session_id)
    return None if meta is None else meta.record()


def create(
    root: Root, session_id: str, label: str | None, metadata: dict[str, Any] | None
) -> SessionRecord | Busy:
    """Create an empty session."""
    lock = try_lock_dir(root.sessions_fd, encode_name(session_id), create=True)
    if isinstance(lock, Busy):
        return lock
    with lock:
        if load_meta_in(lock.dir_fd, session_id) is not None:
            raise session_exists(session_id)
        _clear(lock.dir_fd)
        micros = stamp(root, session_id)
        meta = SessionMeta(
            id=session_id,
            created_us=micros,
            updated_us=micros,
            label=label,
            metadata=metadata or {},
        )
        write_meta(root, lock.dir_fd, meta)
        if lock.created and root.sync:
            fsync_dir(root.sessions_fd)
        return meta.record()


def fork(root: Root, request: ForkRequest) -> SessionRecord | Busy:
    """Create ``request.session_id`` sharing the parent's first ``request.at`` messages (O(1))."""
    parent_id, session_id = request.parent_id, request.session_id
    plock = _lock(root, parent_id, create=False)
    if plock is None:
        raise session_not_found(parent_id)
    if isinstance(plock, Busy):
        return plock
    with plock:
        parent = load_meta_in(plock.dir_fd, parent_id)
        if parent is None:
            raise session_not_found(parent_id)
        point = _check_point(request.at, parent.count, "fork point")
        if session_id == parent_id:
            raise session_exists(session_id)
        clock = try_lock_dir(root.sessions_fd, encode_name(session_id), create=True)
        if isinstance(clock, Busy):
            return clock
        with clock:
            if load_meta_in(clock.dir_fd, session_id) is not None:
                raise session_exists(session_id)
            _clear(clock.dir_fd)
            if point and session_id not in parent.forks:
                # The parent learns of the fork first: a crash in between leaves a
                # harmless dangling name, never a fork its parent does not know.
                parent.forks.append(session_id)
                write_meta(root, plock.dir_fd, parent)
            micros = stamp(root, session_id)
            child = SessionMeta(
                id=session_id,
                created_us=micros,
                updated_us=micros,
                label=request.label,
                metadata=request.metadata or {},
                parent_id=parent_id,
                fork_point=point,
                count=point,
                base=parent_id if point else None,
                base_point=point,
            )
            write_meta(root, clock.dir_fd, child)
            if clock.created and root.sync:
                fsync_dir(root.sessions_fd)
            return child.record()


def _materialise(root: Root, dir_fd: int, child: SessionMeta, parent: SessionMeta) -> None:
    """Give ``child`` its own copy of the messages it shares with ``parent`` (both locked)."""
    try:
        shared = read_range(root, parent, 0, child.base_point, [])
    except StaleReadError:
        # The parent is locked and its own bases cannot drop what it shares.
        raise StoreTimeoutError("a base session changed while a fork was materialised") from None
    own = b""
    if child.log_size:
        fd = open_file(child.log, dir_fd, os.O_RDONLY)
        try:
            own = b"".join(line + b"\n" for line in own_lines(fd, child, 0, child.own_count))
        finally:
            os.close(fd)
    write_new_log(root, dir_fd, child, [b"".join(line + b"\n" for line in shared), own])
    child.base = None
    child.base_point = 0
    write_meta(root, dir_fd, child)
    _tidy(dir_fd, child)


def _materialise_forks(root: Root, parent: SessionMeta, keep: int | None) -> bool:
    """Materialise the forks that share messages from index ``keep`` on (all if None).

    Returns:
        Whether a fork's lock was busy (the caller retries; progress is kept).
    """
    remaining: list[str] = []
    for fork_id in parent.forks:
        clock = _lock(root, fork_id, create=False)
        if clock is None:
            continue
        if isinstance(clock, Busy):
            return True
        with clock:
            child = load_meta_in(clock.dir_fd, fork_id)
            if child is None or child.base != parent.id:
                continue
            if keep is not None and child.base_point <= keep:
                remaining.append(fork_id)
                continue
            _materialise(root, clock.dir_fd, child, parent)
    parent.forks = remaining
    return False


def _forget_fork(root: Root, base_id: str, child_id: str) -> None:
    """Drop ``child_id`` from the forks list of ``base_id`` (best effort, holding nothing)."""
    try:
        lock = lock_dir(
            root.sessions_fd,
            encode_name(base_id),
            create=False,
            timeout=root.lock_timeout,
            what="a session",
        )
    except (FileNotFoundError, StoreTimeoutError):
        return
    with lock:
        base = load_meta_in(lock.dir_fd, base_id)
        if base is None or child_id not in base.forks:
            return
        child = load_meta(root, child_id)
        if child is not None and child.base == base_id:
            return
        base.forks.remove(child_id)
        write_meta(root, lock.dir_fd, base)


def _cut(root: Root, dir_fd: int, meta: SessionMeta, start: int, data: bytes) -> str | None:
    """Drop messages from ``start`` on and append ``data`` in a new log generation.

    Updates ``meta`` (log, sizes, count, base). The caller commits the metadata
    and then removes the old log.

    Returns:
        The base this session stopped sharing with (a cut at 0), if any.
    """
    dropped_base = None
    if start >= meta.base_point:
        prefix = b""
        if meta.log_size:
            fd = open_file(meta.log, dir_fd, os.O_RDONLY)
            try:
                offset = own_offset(fd, meta, start - meta.base_point)
                prefix = pread_exact(fd, offset, 0)
            finally:
                os.close(fd)
        write_new_log(root, dir_fd, meta, [prefix, data])
    else:
        # The kept prefix lies wholly in the base, which cannot change under us
        # (changing it would have materialised this session first).
        write_new_log(root, dir_fd, meta, [data])
        meta.base_point = start
        if start == 0:
            dropped_base, meta.base = meta.base, None
    meta.count = start
    return dropped_base


def write_messages(root: Root, write: MessageWrite) -> SessionRecord | Busy:
    """Append (``write.start`` None) or cut at ``write.start`` and append, if the length matches."""
    session_id, start = write.session_id, write.start
    data = encode_messages(write.messages)
    dropped_base = None
    lock = _lock(root, session_id, create=False)
    if lock is None:
        raise session_not_found(session_id)
    if isinstance(lock, Busy):
        return lock
    with lock:
        meta = load_meta_in(lock.dir_fd, session_id)
        if meta is None:
            raise session_not_found(session_id)
        if meta.count != write.expected_length:
            raise length_conflict(session_id, write.expected_length, meta.count)
        old_log = meta.log
        if start is not None and start != meta.count:
            start = _check_point(start, meta.count, "replace start")
            if _materialise_forks(root, meta, keep=start):
                return BUSY
            dropped_base = _cut(root, lock.dir_fd, meta, start, data)
        elif data:
            append_lines(root, lock.dir_fd, meta, data)
            meta.log_size += len(data)
        meta.count += len(write.messages)
        if write.label is not None:
            meta.label = write.label
        if write.metadata is not None:
            meta.metadata = write.metadata
        meta.updated_us = stamp(root, session_id)
        write_meta(root, lock.dir_fd, meta)
        if old_log != meta.log or random.random() < _TIDY_CHANCE:
            _tidy(lock.dir_fd, meta)
        record = meta.record()
    if dropped_base is not None:
        _forget_fork(root, dropped_base, session_id)
    return record


def update(
    root: Root, session_id: str, label: str | None, metadata: dict[str, Any] | None
) -> SessionRecord | Busy:
    """Replace label and/or metadata and bump ``updated_at``."""
    lock = _lock(root, session_id, create=False)
    if lock is None:
        raise session_not_found(session_id)
    if isinstance(lock, Busy):
        return lock
    with lock:
        meta = load_meta_in(lock.dir_fd, session_id)
        if meta is None:
            raise session_not_found(session_id)
        if label is not None:
            meta.label = label
        if metadata is not None:
            meta.metadata = metadata
        meta.updated_us = stamp(root, session_id)
        write_meta(root, lock.dir_fd, meta)
        return meta.record()


def delete(root: Root, session_id: str) -> bool | Busy:
    """Delete a session after giving its forks their own copies."""
    name = encode_name(session_id)
    lock = _lock(root, session_id, create=False)
    if lock is None:
        return False
    if isinstance(lock, Busy):
        return lock
    with lock:
        meta = load_meta_in(lock.dir_fd, session_id)
        if meta is not None:
            if _materialise_forks(root, meta, keep=None):
                return BUSY
            remove_quietly(META_FILE, lock.dir_fd)  # the commit point of the delete
            if root.sync:
                fsync_dir(lock.dir_fd)
        remove_dir(root.sessions_fd, name, lock, sync=root.sync)
    if meta is not None and meta.base is not None:
        _forget_fork(root, meta.base, session_id)
    return meta is not None


def read_messages(root: Root, session_id: str, last: int | None) -> list[str]:
    """Return all messages, or the last ``last``, of a consistent state of the session."""
    for _ in range(_READ_ATTEMPTS):
        meta = load_meta(root, session_id)
        if meta is None:
            raise session_not_found(session_id)
        low = 0 if last is None else max(0, meta.count - last)
        chain = [meta]
        try:
            lines = read_range(root, meta, low, meta.count, chain)
        except (StaleReadError, FileNotFoundError):
            continue
        except CorruptionError:
            # A session deleted and re-created under us looks like a short log.
            if _unchanged(root, chain):
                raise
            continue
        if _unchanged(root, chain):
            return _decode_lines(session_id, lines)
    raise StoreTimeoutError(f"session {short(session_id)} kept changing while it was read")


def _decode_lines(session_id: str, lines: list[bytes]) -> list[str]:
    try:
        return [decode_line(line) for line in lines]
    except ValueError as exc:  # UnicodeDecodeError or a broken escaped line
        raise CorruptionError(
            f"the message log of session {short(session_id)} holds bytes that are not UTF-8"
        ) from exc


def _unchanged(root: Root, chain: list[SessionMeta]) -> bool:
    """Whether every session of a read chain is still the same and points the same way.

    Logs are never rewritten in place, so an append or a new log generation
    meanwhile does not matter; a new base pointer or a re-created session does.
    """
    for seen in chain:
        now = load_meta(root, seen.id)
        if now is None or (now.created_us, now.base, now.base_point) != (
            seen.created_us,
            seen.base,
            seen.base_point,
        ):
            return False
    return True
