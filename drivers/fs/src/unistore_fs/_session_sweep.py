"""The retention sweep: reclaiming sessions whose TTL ran out, a few at a time.

Like the slot sweep it walks a list taken once per full pass (every session
folder of every scope, in random order) and visits a bounded number of
entries per step. An expired session goes through the delete path: forks
that share its messages get their own copy first, so they keep loading them.
It never waits for a lock: a busy session, or one with a busy fork, is
visited again on a later pass.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

from unistore.errors import CorruptionError, UnistoreError
from unistore_fs._locks import Busy, try_lock_dir
from unistore_fs._names import encode_name
from unistore_fs._root import Root
from unistore_fs._scopes import Space, open_space, space_folders
from unistore_fs._session_lineage import forget_fork, remove_locked
from unistore_fs._session_meta import load_meta_in, peek_id

__all__ = ["SessionSweepState", "sweep_sessions"]

logger = logging.getLogger("unistore.driver.fs")


@dataclass
class SessionSweepState:
    """Where the session sweep stands: (scope, session folder) pairs and a cursor."""

    entries: list[tuple[str, str]] = field(default_factory=list)
    position: int = 0


def _reclaim(space: Space, name: str, now_us: int) -> bool:
    """Delete the session in folder ``name`` if it expired; return whether it did."""
    try:
        lock = try_lock_dir(space.sessions_fd, name, create=False)
    except (FileNotFoundError, CorruptionError):
        return False
    if isinstance(lock, Busy):
        return False
    with lock:
        session_id = peek_id(lock.dir_fd)
        if session_id is None or encode_name(session_id) != name:
            return False  # no metadata yet, or not a folder this store made
        try:
            meta = load_meta_in(lock.dir_fd, session_id, space.scope)
        except CorruptionError:
            return False  # left for a person to look at
        if meta is None or not meta.expired(now_us):
            return False
        if not remove_locked(space, lock, session_id, meta):
            return False
    if meta.base is not None:
        forget_fork(space, meta.base, session_id, wait=False)
    return True


def sweep_sessions(root: Root, state: SessionSweepState, batch: int) -> int:
    """Visit the next ``batch`` session folders; return how many expired sessions went."""
    if state.position >= len(state.entries):
        state.entries = [(scope, name) for scope, names in space_folders(root) for name in names]
        random.shuffle(state.entries)
        state.position = 0
    chunk = state.entries[state.position : state.position + batch]
    state.position += len(chunk)
    by_scope: dict[str, list[str]] = {}
    for scope, name in chunk:
        by_scope.setdefault(scope, []).append(name)
    removed = 0
    for scope, names in by_scope.items():
        try:
            with open_space(root, scope, create=False) as space:
                if space is None:
                    continue
                now_us = space.now_us()
                for name in names:
                    removed += _reclaim(space, name, now_us)
        except (OSError, UnistoreError):
            logger.warning("retention sweep skipped session folders", exc_info=True)
    if removed:
        logger.debug("retention sweep removed %d expired session(s)", removed)
    return removed
