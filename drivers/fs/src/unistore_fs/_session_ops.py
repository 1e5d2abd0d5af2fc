"""Blocking session operations (one worker-thread call per operation).

Each opens the folders of its scope (:mod:`unistore_fs._scopes`) and works
inside them only: a session id is looked up in its own scope, so another
scope's session of the same id is never seen. Writers lock the session folder
(``.lock``); a fork or an edit also locks the forks it must materialise,
always *trying* the lock: if one is busy everything is released and the
operation is retried, so lock order cannot deadlock. Every step is
idempotent, so a retry after a partial pass is safe. Readers take no lock:
they read the metadata, then the logs it names, then check that the base chain
they followed is unchanged (logs are only appended to, except past a pop's
new end, which ``trims`` reveals).

A session whose retention ran out is invisible to every call. Its space is
reclaimed through the delete path by the next write that finds it, by a
create or fork of the same id, or by the sweep.
"""

from __future__ import annotations

from typing import Any, Final

from unistore.errors import CorruptionError, StoreTimeoutError
from unistore.protocols import SessionPage, SessionRecord
from unistore.sdk import (
    ForkRequest,
    MessageWrite,
    NewSession,
    PopRequest,
    decode_cursor,
    expiry_micros,
    session_exists,
    session_not_found,
    short,
)
from unistore_fs._fsio import fsync_dir
from unistore_fs._locks import BUSY, Busy, DirLock
from unistore_fs._root import Root
from unistore_fs._scopes import Space, open_space
from unistore_fs._session_dirs import clear, lock_session
from unistore_fs._session_edits import (
    Change,
    apply_pop,
    apply_write,
    check_point,
    decode_lines,
    on_live_session,
)
from unistore_fs._session_index import list_page, stamp
from unistore_fs._session_lineage import forget_fork, reclaim_if_expired, remove_locked
from unistore_fs._session_log import StaleReadError, append_lines, encode_messages, read_range
from unistore_fs._session_meta import SessionMeta, load_meta, load_meta_in, write_meta

__all__ = [
    "create",
    "delete",
    "fork",
    "get",
    "list_sessions",
    "pop_messages",
    "read_messages",
    "update",
    "write_messages",
]

_READ_ATTEMPTS: Final = 50


def _live(space: Space, meta: SessionMeta | None) -> SessionMeta | None:
    return None if meta is None or meta.expired(space.now_us()) else meta


def get(root: Root, session_id: str, scope: str) -> SessionRecord | None:
    """Return a live session's record, or ``None``."""
    with open_space(root, scope, create=False) as space:
        if space is None:
            return None
        meta = _live(space, load_meta(space, session_id))
        return None if meta is None else meta.record()


def list_sessions(root: Root, limit: int, cursor: str | None, scope: str) -> SessionPage:
    """Return one page of a scope's live sessions, newest first."""
    with open_space(root, scope, create=False) as space:
        if space is None:
            if cursor is not None:
                decode_cursor(cursor, int, str)  # a bad cursor is refused in every scope
            return SessionPage()
        return list_page(space, limit, cursor)


def _occupied(space: Space, lock: DirLock, session_id: str) -> bool:
    """Whether the locked folder holds a session; raise if it is a live one."""
    existing = load_meta_in(lock.dir_fd, session_id, space.scope)
    if existing is None:
        return False
    if not existing.expired(space.now_us()):
        raise session_exists(session_id)
    # It expired after the reclaim that ran before locking: reclaim it next attempt.
    return True


def _new_meta(space: Space, session_id: str, ttl: float | None, **fields: Any) -> SessionMeta:
    micros = stamp(space, session_id)
    return SessionMeta(
        id=session_id,
        created_us=micros,
        updated_us=micros,
        scope=space.scope,
        ttl=ttl,
        expires_us=expiry_micros(micros, ttl),
        **fields,
    )


def create(root: Root, new: NewSession) -> SessionRecord | Busy:
    """Create a session with its first messages (reclaiming an expired one of the id first)."""
    with open_space(root, new.scope, create=True) as space:
        assert space is not None  # created on demand
        busy = reclaim_if_expired(space, new.session_id)
        if busy is not None:
            return busy
        lock = lock_session(space, new.session_id, create=True)
        if not isinstance(lock, DirLock):
            return BUSY
        with lock:
            if _occupied(space, lock, new.session_id):
                return BUSY
            clear(lock.dir_fd)
            meta = _new_meta(
                space, new.session_id, new.ttl, label=new.label, metadata=new.metadata or {}
            )
            if new.messages:
                # The log first: until the metadata names it, a crash leaves
                # no session, and the next create clears the folder.
                data = encode_messages(new.messages)
                append_lines(space, lock.dir_fd, meta, data)
                meta.log_size = len(data)
                meta.count = len(new.messages)
            write_meta(space, lock.dir_fd, meta)
            if lock.created and space.sync:
                fsync_dir(space.sessions_fd)
            return meta.record()


def fork(root: Root, request: ForkRequest) -> SessionRecord | Busy:
    """Create ``request.session_id`` sharing the parent's first ``request.at`` messages (O(1))."""
    parent_id, session_id = request.parent_id, request.session_id
    with open_space(root, request.scope, create=False) as space:
        if space is None:
            raise session_not_found(parent_id)
        # Before the parent is locked: reclaiming may have to materialise the parent itself.
        busy = reclaim_if_expired(space, session_id)
        if busy is not None:
            return busy
        plock = lock_session(space, parent_id, create=False)
        if plock is None:
            raise session_not_found(parent_id)
        if isinstance(plock, Busy):
            return plock
        with plock:
            parent = _live(space, load_meta_in(plock.dir_fd, parent_id, space.scope))
            if parent is None:
                raise session_not_found(parent_id)
            point = check_point(request.at, parent.count, "fork point")
            if session_id == parent_id:
                raise session_exists(session_id)
            clock = lock_session(space, session_id, create=True)
            if not isinstance(clock, DirLock):
                return BUSY
            with clock:
                if _occupied(space, clock, session_id):
                    return BUSY
                clear(clock.dir_fd)
                if point and session_id not in parent.forks:
                    # The parent learns of the fork first: a crash in between leaves a
                    # harmless dangling name, never a fork its parent does not know.
                    # Not a write of the parent: its updated_at and retention stay.
                    parent.forks.append(session_id)
                    write_meta(space, plock.dir_fd, parent)
                child = _new_meta(
                    space,
                    session_id,
                    request.ttl,
                    label=request.label,
                    metadata=request.metadata or {},
                    parent_id=parent_id,
                    fork_point=point,
                    count=point,
                    base=parent_id if point else None,
                    base_point=point,
                )
                write_meta(space, clock.dir_fd, child)
                if clock.created and space.sync:
                    fsync_dir(space.sessions_fd)
                return child.record()


def write_messages(root: Root, write: MessageWrite) -> int | Busy:
    """Append (``write.start`` None) or cut at ``write.start`` and append; return the length."""
    with open_space(root, write.scope, create=False) as space:
        if space is None:
            raise session_not_found(write.session_id)

        def change(lock: DirLock, meta: SessionMeta) -> Change[int] | Busy:
            return apply_write(space, lock, meta, write)

        return on_live_session(space, write.session_id, change)


def pop_messages(root: Root, pop: PopRequest) -> list[str] | Busy:
    """Remove and return a session's last ``pop.n`` messages."""
    with open_space(root, pop.scope, create=False) as space:
        if space is None:
            raise session_not_found(pop.session_id)

        def change(lock: DirLock, meta: SessionMeta) -> Change[list[str]] | Busy:
            return apply_pop(space, lock, meta, pop)

        return on_live_session(space, pop.session_id, change)


def update(
    root: Root, session_id: str, label: str | None, metadata: dict[str, Any] | None, scope: str
) -> SessionRecord | Busy:
    """Replace label and/or metadata; bumps ``updated_at`` and restarts the retention."""
    with open_space(root, scope, create=False) as space:
        if space is None:
            raise session_not_found(session_id)

        def change(lock: DirLock, meta: SessionMeta) -> Change[SessionRecord]:
            if label is not None:
                meta.label = label
            if metadata is not None:
                meta.metadata = metadata
            meta.written(stamp(space, session_id))
            write_meta(space, lock.dir_fd, meta)
            return meta.record(), None

        return on_live_session(space, session_id, change)


def delete(root: Root, session_id: str, scope: str) -> bool | Busy:
    """Delete a session after giving its forks their own copies; whether a live one existed."""
    with open_space(root, scope, create=False) as space:
        if space is None:
            return False
        lock = lock_session(space, session_id, create=False)
        if lock is None:
            return False
        if isinstance(lock, Busy):
            return lock
        with lock:
            meta = load_meta_in(lock.dir_fd, session_id, space.scope)
            existed = _live(space, meta) is not None
            if not remove_locked(space, lock, session_id, meta):
                return BUSY
        if meta is not None and meta.base is not None:
            forget_fork(space, meta.base, session_id)
        return existed


def read_messages(root: Root, session_id: str, last: int | None, scope: str) -> list[str]:
    """Return all messages, or the last ``last``, of a consistent state of the session."""
    with open_space(root, scope, create=False) as space:
        if space is None:
            raise session_not_found(session_id)
        return _read_messages(space, session_id, last)


def _read_messages(space: Space, session_id: str, last: int | None) -> list[str]:
    for _ in range(_READ_ATTEMPTS):
        meta = _live(space, load_meta(space, session_id))
        if meta is None:
            raise session_not_found(session_id)
        low = 0 if last is None else max(0, meta.count - last)
        chain = [meta]
        try:
            lines = read_range(space, meta, low, meta.count, chain)
        except (StaleReadError, FileNotFoundError):
            continue
        except CorruptionError:
            # A session deleted and re-created under us looks like a short log.
            if _unchanged(space, chain):
                raise
            continue
        if _unchanged(space, chain):
            return decode_lines(session_id, lines)
    raise StoreTimeoutError(f"session {short(session_id)} kept changing while it was read")


def _unchanged(space: Space, chain: list[SessionMeta]) -> bool:
    """Whether every session of a read chain is still the same and points the same way.

    Appends and new log generations meanwhile do not matter (bytes below a
    committed length are never rewritten); a new base pointer, a re-created
    session or a pop (which lets later appends reuse bytes past its new end)
    does.
    """
    for seen in chain:
        now = load_meta(space, seen.id)
        if now is None or (now.created_us, now.base, now.base_point, now.trims) != (
            seen.created_us,
            seen.base,
            seen.base_point,
            seen.trims,
        ):
            return False
    return True
