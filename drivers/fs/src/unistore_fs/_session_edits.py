"""Blocking writes to an existing session: append, replace, pop, update.

Each holds the session's lock for the whole change and commits by replacing
``meta.json`` once, so a crash leaves the session as it was or as it became,
never in between: the new length, the label and metadata, the idempotency
token and the restarted retention all land in that one rename. Unconditional
appends (``expected_length`` None) from many processes are serialised by the
lock and all land. A session found expired is reclaimed through the delete
path on the spot and reported missing.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Final, TypeVar

from unistore.errors import CorruptionError, StoreTimeoutError
from unistore.sdk import (
    MessageWrite,
    PopRequest,
    length_conflict,
    position_error,
    recall_token,
    remember_token,
    session_not_found,
    short,
)
from unistore_fs._fsio import open_file, pread_exact
from unistore_fs._locks import BUSY, Busy, DirLock
from unistore_fs._scopes import Space
from unistore_fs._session_dirs import lock_session, tidy
from unistore_fs._session_index import stamp
from unistore_fs._session_lineage import forget_fork, materialise_forks, remove_locked
from unistore_fs._session_log import (
    StaleReadError,
    append_lines,
    decode_line,
    encode_messages,
    own_offset,
    read_range,
    write_new_log,
)
from unistore_fs._session_meta import SessionMeta, load_meta_in, write_meta

__all__ = ["apply_pop", "apply_write", "check_point", "decode_lines", "on_live_session"]

T = TypeVar("T")

#: Share of appends that also tidy their folder (crash leftovers), amortising the listing.
_TIDY_CHANCE: Final = 1 / 32

#: What a locked change returns: its result and a base the session stopped
#: sharing with (forgotten in that base's forks list once the lock is released).
Change = tuple[T, str | None]


def check_point(value: int | None, length: int, what: str) -> int:
    """Return a fork point or replace start, refusing one past the session's length."""
    # The SDK checked the type and the sign; only the session knows its length.
    point = length if value is None else value
    if point > length:
        raise position_error(what, length, value)
    return point


def decode_lines(session_id: str, lines: list[bytes]) -> list[str]:
    """Decode log lines, reporting bytes that are not a message as corruption."""
    try:
        return [decode_line(line) for line in lines]
    except ValueError as exc:  # UnicodeDecodeError or a broken escaped line
        raise CorruptionError(
            f"the message log of session {short(session_id)} holds bytes that are not UTF-8"
        ) from exc


def on_live_session(
    space: Space,
    session_id: str,
    change: Callable[[DirLock, SessionMeta], Change[T] | Busy],
) -> T | Busy:
    """Lock a session and apply ``change`` to it if it exists and has not expired.

    Raises:
        SessionNotFoundError: No such session, or its retention ran out (it is
            reclaimed first).
    """
    lock = lock_session(space, session_id, create=False)
    if lock is None:
        raise session_not_found(session_id)
    if isinstance(lock, Busy):
        return lock
    with lock:
        meta = load_meta_in(lock.dir_fd, session_id, space.scope)
        if meta is None:
            raise session_not_found(session_id)
        if meta.expired(space.now_us()):
            if not remove_locked(space, lock, session_id, meta):
                return BUSY
            outcome: Change[T] | None = None
        else:
            changed = change(lock, meta)
            if isinstance(changed, Busy):
                return changed
            outcome = changed
    dropped_base = meta.base if outcome is None else outcome[1]
    if dropped_base is not None:
        forget_fork(space, dropped_base, session_id)
    if outcome is None:
        raise session_not_found(session_id)
    return outcome[0]


def _cut(space: Space, dir_fd: int, meta: SessionMeta, start: int, data: bytes) -> str | None:
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
        write_new_log(space, dir_fd, meta, [prefix, data])
    else:
        # The kept prefix lies wholly in the base, which cannot change under us
        # (changing it would have materialised this session first).
        write_new_log(space, dir_fd, meta, [data])
        meta.base_point = start
        if start == 0:
            dropped_base, meta.base = meta.base, None
    meta.count = start
    return dropped_base


def _trim(dir_fd: int, meta: SessionMeta, start: int) -> str | None:
    """Drop messages from ``start`` on by lowering the committed log length (no copy).

    The dropped bytes stay in the file until the next append overwrites them;
    ``trims`` tells lock-free readers that bytes past the new end may change.

    Returns:
        The base this session stopped sharing with (a trim to 0), if any.
    """
    dropped_base = None
    if start >= meta.base_point:
        if meta.log_size:
            fd = open_file(meta.log, dir_fd, os.O_RDONLY)
            try:
                meta.log_size = own_offset(fd, meta, start - meta.base_point)
            finally:
                os.close(fd)
    else:
        meta.log_size = 0
        meta.base_point = start
        if start == 0:
            dropped_base, meta.base = meta.base, None
    meta.count = start
    meta.trims += 1
    return dropped_base


def apply_write(
    space: Space, lock: DirLock, meta: SessionMeta, write: MessageWrite
) -> Change[int] | Busy:
    """Append, or cut at ``write.start`` and append; return the new length."""
    recalled = recall_token(meta.tokens, write.token)
    if recalled is not None:
        return recalled, None
    if write.expected_length is not None and meta.count != write.expected_length:
        raise length_conflict(meta.id, write.expected_length, meta.count)
    data = encode_messages(write.messages)
    old_log = meta.log
    dropped_base = None
    start = write.start
    if start is not None and start != meta.count:
        start = check_point(start, meta.count, "replace start")
        if materialise_forks(space, meta, keep=start):
            return BUSY
        dropped_base = _cut(space, lock.dir_fd, meta, start, data)
    elif data:
        append_lines(space, lock.dir_fd, meta, data)
        meta.log_size += len(data)
    meta.count += len(write.messages)
    if write.label is not None:
        meta.label = write.label
    if write.metadata is not None:
        meta.metadata = write.metadata
    remember_token(meta.tokens, write.token, meta.count)
    meta.written(stamp(space, meta.id))
    write_meta(space, lock.dir_fd, meta)
    if old_log != meta.log or random.random() < _TIDY_CHANCE:
        tidy(lock.dir_fd, meta)
    return meta.count, dropped_base


def apply_pop(
    space: Space, lock: DirLock, meta: SessionMeta, pop: PopRequest
) -> Change[list[str]] | Busy:
    """Remove and return the last ``pop.n`` messages (all, if the session is shorter)."""
    if pop.expected_length is not None and meta.count != pop.expected_length:
        raise length_conflict(meta.id, pop.expected_length, meta.count)
    start = max(0, meta.count - pop.n)
    messages: list[str] = []
    dropped_base = None
    if start < meta.count:
        if materialise_forks(space, meta, keep=start):
            return BUSY
        try:
            lines = read_range(space, meta, start, meta.count, [])
        except StaleReadError:
            # Locked, this session's bases cannot drop what it shares.
            raise StoreTimeoutError("a base session changed while messages were popped") from None
        messages = decode_lines(meta.id, lines)
        dropped_base = _trim(lock.dir_fd, meta, start)
    meta.written(stamp(space, meta.id))
    write_meta(space, lock.dir_fd, meta)
    return messages, dropped_base
