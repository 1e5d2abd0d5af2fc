"""Forks and the delete path: what a session owes the sessions sharing its messages.

A fork points at its base and the number of messages it shares; the base
lists its forks in ``forks``. Before a session drops messages a fork still
shares (an edit, a pop, a delete, or its retention running out), it gives
that fork its own copy of them, so what a session loads never changes
because of another session. Fork locks are only ever *tried*: a busy one
makes the whole operation retry, so lock order cannot deadlock.
"""

from __future__ import annotations

import os

from unistore.errors import StoreTimeoutError
from unistore_fs._fsio import fsync_dir, open_file, remove_quietly
from unistore_fs._locks import BUSY, Busy, DirLock, lock_dir, try_lock_dir
from unistore_fs._names import encode_name
from unistore_fs._nsdir import remove_dir
from unistore_fs._scopes import Space
from unistore_fs._session_dirs import lock_session, tidy
from unistore_fs._session_log import StaleReadError, own_lines, read_range, write_new_log
from unistore_fs._session_meta import META_FILE, SessionMeta, load_meta, load_meta_in, write_meta

__all__ = [
    "forget_fork",
    "materialise_forks",
    "reclaim_if_expired",
    "remove_locked",
]


def _materialise(space: Space, dir_fd: int, child: SessionMeta, parent: SessionMeta) -> None:
    """Give ``child`` its own copy of the messages it shares with ``parent`` (both locked)."""
    try:
        shared = read_range(space, parent, 0, child.base_point, [])
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
    write_new_log(space, dir_fd, child, [b"".join(line + b"\n" for line in shared), own])
    child.base = None
    child.base_point = 0
    write_meta(space, dir_fd, child)
    tidy(dir_fd, child)


def materialise_forks(space: Space, parent: SessionMeta, keep: int | None) -> bool:
    """Materialise the forks that share messages from index ``keep`` on (all if None).

    An expired fork that nobody shares messages with is reclaimed instead of
    copied: no one can read it any more.

    Returns:
        Whether a fork's lock was busy (the caller retries; progress is kept).
    """
    remaining: list[str] = []
    now_us = space.now_us()
    for fork_id in parent.forks:
        lock = lock_session(space, fork_id, create=False)
        if lock is None:
            continue
        if isinstance(lock, Busy):
            return True
        with lock:
            child = load_meta_in(lock.dir_fd, fork_id, space.scope)
            if child is None or child.base != parent.id:
                continue
            if keep is not None and child.base_point <= keep:
                remaining.append(fork_id)
                continue
            if child.expired(now_us) and not child.forks:
                remove_locked(space, lock, fork_id, child)
                continue
            _materialise(space, lock.dir_fd, child, parent)
    parent.forks = remaining
    return False


def forget_fork(space: Space, base_id: str, child_id: str, *, wait: bool = True) -> None:
    """Drop ``child_id`` from the forks list of ``base_id`` (best effort, holding no lock).

    With ``wait`` false a busy base is left alone: a stale name in a forks
    list is harmless, and dropped the next time the base materialises forks.
    """
    name = encode_name(base_id)
    try:
        if wait:
            lock: DirLock | Busy = lock_dir(
                space.sessions_fd, name, create=False, timeout=space.lock_timeout, what="a session"
            )
        else:
            lock = try_lock_dir(space.sessions_fd, name, create=False)
    except (FileNotFoundError, StoreTimeoutError):
        return
    if isinstance(lock, Busy):
        return
    with lock:
        base = load_meta_in(lock.dir_fd, base_id, space.scope)
        if base is None or child_id not in base.forks:
            return
        child = load_meta(space, child_id)
        if child is not None and child.base == base_id:
            return
        base.forks.remove(child_id)
        write_meta(space, lock.dir_fd, base)


def remove_locked(space: Space, lock: DirLock, session_id: str, meta: SessionMeta | None) -> bool:
    """Delete a locked session: its forks get their copies, then its folder goes.

    Removing ``meta.json`` is the commit point. The caller, once it has let go
    of the lock, forgets the session in its base's forks list.

    Returns:
        ``False`` if a fork's lock was busy (nothing removed; retry).
    """
    if meta is not None:
        if materialise_forks(space, meta, keep=None):
            return False
        remove_quietly(META_FILE, lock.dir_fd)
        if space.sync:
            fsync_dir(lock.dir_fd)
    remove_dir(space.sessions_fd, encode_name(session_id), lock, sync=space.sync)
    return True


def reclaim_if_expired(space: Space, session_id: str) -> Busy | None:
    """Delete ``session_id`` if its retention ran out (so that its id can be used again).

    Holds only that session's lock (and tries its forks'), as a delete does.
    """
    lock = lock_session(space, session_id, create=False)
    if lock is None or isinstance(lock, Busy):
        return lock
    with lock:
        meta = load_meta_in(lock.dir_fd, session_id, space.scope)
        if meta is None or not meta.expired(space.now_us()):
            return None
        if not remove_locked(space, lock, session_id, meta):
            return BUSY
    if meta.base is not None:
        forget_fork(space, meta.base, session_id)
    return None
