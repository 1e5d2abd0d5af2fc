"""The session listing index of one scope: ``session-index/updates.jsonl``.

Each scope has its own index (``<root>/session-index/`` for the default
scope, ``<root>/scopes/<scope>/session-index/`` for the others), so listing
one scope never reads another's lines and costs the same however many
sessions other scopes hold.

Every change of a session's ``updated_at`` appends one line ``{"t": <micros>,
"id": <session id>}`` under the index lock, with ``t`` strictly greater than
the previous line's, so the file is sorted by time and ``t`` is unique. The
line is written (and fsynced) *before* the session's metadata, and a line
counts only if the session's metadata still carries that very ``t``; older
lines of a session, lines of deleted sessions and lines of writes that never
committed are skipped.

Listing the newest sessions reads the file backwards and opens the metadata of
the sessions it lists (about ``limit`` small files), so its cost does not grow
with the number of sessions. A cursor is found again by binary search.

When the file has grown past twice its size after the last compaction, it is
rewritten with one line per live session (O(sessions), amortised over at
least as many appends).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from typing import Final

from unistore.errors import CorruptionError
from unistore.protocols import SessionPage
from unistore.sdk import decode_cursor, encode_cursor
from unistore_fs._fsio import (
    TEMP_PREFIX,
    close_quietly,
    fsync_dir,
    fsync_file,
    list_names,
    open_file,
    pread_exact,
    read_file,
    remove_quietly,
    write_all,
    write_atomic,
)
from unistore_fs._locks import LOCK_NAME, lock_deadline
from unistore_fs._scopes import Space
from unistore_fs._session_meta import SessionMeta, load_meta

__all__ = ["INDEX_LOG", "list_page", "stamp"]

logger = logging.getLogger("unistore.driver.fs")

INDEX_LOG: Final = "updates.jsonl"
INDEX_STATE: Final = "state.json"
_CHUNK: Final = 1 << 16
#: Lines newer than the session's metadata are kept this long by compaction
#: (a write between its index line and its metadata may still be running).
_PENDING_US: Final = 60_000_000
_MIN_GROWTH: Final = 256 * 1024


def _entry(micros: int, session_id: str) -> bytes:
    return (
        json.dumps({"t": micros, "id": session_id}, separators=(",", ":")).encode("ascii") + b"\n"
    )


def _parse(line: bytes) -> tuple[int, str]:
    try:
        doc = json.loads(line)
        micros, session_id = doc["t"], doc["id"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptionError("a session index line cannot be decoded") from exc
    if not isinstance(micros, int) or not isinstance(session_id, str):
        raise CorruptionError("a session index line holds impossible values")
    return micros, session_id


def _lines_backward(fd: int, end: int) -> Iterator[tuple[int, bytes]]:
    """Yield (start offset, line) for the complete lines before ``end``, last first.

    ``end`` must be a line boundary (0 or just after a newline).
    """
    buf = b""
    pos = end
    stop = 0  # buf[:stop] is not yet yielded and ends with a newline
    while True:
        if stop > 0:
            idx = buf.rfind(b"\n", 0, stop - 1)
            if idx >= 0:
                yield pos + idx + 1, buf[idx + 1 : stop - 1]
                stop = idx + 1
                continue
            if pos == 0:
                yield 0, buf[: stop - 1]
                return
        elif pos == 0:
            return
        size = min(_CHUNK, pos)
        pos -= size
        buf = pread_exact(fd, size, pos) + buf[:stop]
        stop += size


def _complete_end(fd: int, size: int) -> int:
    """Return the offset just after the last newline (a torn last line is excluded)."""
    pos = size
    while pos > 0:
        start = max(0, pos - _CHUNK)
        idx = pread_exact(fd, pos - start, start).rfind(b"\n")
        if idx >= 0:
            return start + idx + 1
        pos = start
    return 0


def _line_around(fd: int, mid: int, lo: int, hi: int) -> tuple[int, int, bytes]:
    """Return (start, next start, line) of the line containing byte ``mid`` in [lo, hi)."""
    start = lo
    pos = mid
    while pos > lo:
        begin = max(lo, pos - 4096)
        idx = pread_exact(fd, pos - begin, begin).rfind(b"\n")
        if idx >= 0:
            start = begin + idx + 1
            break
        pos = begin
    pos = mid
    while True:
        chunk = pread_exact(fd, min(4096, hi - pos), pos)
        idx = chunk.find(b"\n")
        if idx >= 0:
            stop = pos + idx
            break
        if not chunk:
            raise CorruptionError("the session index changed while it was searched")
        pos += len(chunk)
    return start, stop + 1, pread_exact(fd, stop - start, start)


def _first_after(fd: int, end: int, micros: int) -> int:
    """Binary search: the first line start whose time is greater than ``micros``."""
    lo, hi = 0, end
    while lo < hi:
        start, following, line = _line_around(fd, (lo + hi) // 2, lo, hi)
        if _parse(line)[0] <= micros:
            lo = following
        else:
            hi = start
    return lo


class _IndexLock:
    """The index's own lock; held only briefly and never while waiting for another."""

    def __init__(self, space: Space) -> None:
        self._space = space
        self._fd = -1

    def __enter__(self) -> None:
        fd = open_file(LOCK_NAME, self._space.index_fd, os.O_RDWR | os.O_CREAT)
        deadline = lock_deadline(self._space.lock_timeout, "the session index")
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    time.sleep(deadline.next_delay())
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def __exit__(self, *exc: object) -> None:
        close_quietly(self._fd)


def stamp(space: Space, session_id: str) -> int:
    """Append an index line for ``session_id`` and return its (unique) time in microseconds.

    The caller writes the session's metadata with this time afterwards.
    """
    with _IndexLock(space):
        fd = open_file(INDEX_LOG, space.index_fd, os.O_RDWR | os.O_CREAT)
        try:
            size = os.fstat(fd).st_size
            end = _complete_end(fd, size)
            if end != size:
                os.ftruncate(fd, end)  # a line torn by a crash
            last = 0
            for _, line in _lines_backward(fd, end):
                last = _parse(line)[0]
                break
            micros = max(space.now_us(), last + 1)
            line = _entry(micros, session_id)
            write_all(fd, line, end)
            if space.sync:
                fsync_file(fd)
                if end == 0:
                    fsync_dir(space.index_fd)
            grown = end + len(line)
        finally:
            os.close(fd)
        if grown > _threshold(space):
            _compact(space)
    return micros


def _threshold(space: Space) -> int:
    data = read_file(INDEX_STATE, space.index_fd)
    try:
        compacted = int(json.loads(data)["compacted_size"]) if data else 0
    except (ValueError, KeyError, TypeError):
        compacted = 0
    return 2 * compacted + _MIN_GROWTH


def _compact(space: Space) -> None:
    """Rewrite the index with the line each live session's metadata points to."""
    data = read_file(INDEX_LOG, space.index_fd) or b""
    times: dict[str, list[int]] = {}
    for line in data[: data.rfind(b"\n") + 1].split(b"\n")[:-1]:
        try:
            micros, session_id = _parse(line)
        except CorruptionError:
            continue
        times.setdefault(session_id, []).append(micros)
    recent = space.now_us() - _PENDING_US
    keep: set[tuple[int, str]] = set()
    for session_id, stamps in times.items():
        try:
            meta = load_meta(space, session_id)
        except CorruptionError:
            # Leave an unreadable session's lines for a person to look at.
            keep.update((t, session_id) for t in stamps)
            continue
        # Recent lines newer than the metadata (or without any yet) may belong to a
        # write still between its index line and its metadata: keep them.
        newest = -1 if meta is None else meta.updated_us
        if meta is not None:
            keep.add((meta.updated_us, session_id))
        keep.update((t, session_id) for t in stamps if t > newest and t > recent)
    out = b"".join(_entry(micros, session_id) for micros, session_id in sorted(keep))
    write_atomic(space.index_fd, INDEX_LOG, out, sync=space.sync)
    state = json.dumps({"compacted_size": len(out)}).encode("ascii")
    write_atomic(space.index_fd, INDEX_STATE, state, sync=space.sync)
    for entry in list_names(space.index_fd):
        if entry.name.startswith(TEMP_PREFIX):
            remove_quietly(entry.name, space.index_fd)  # left by a crash; we hold the lock
    if space.sync:
        fsync_dir(space.index_fd)


def _load_listed(space: Space, session_id: str) -> SessionMeta | None:
    try:
        return load_meta(space, session_id)
    except CorruptionError:
        logger.warning("session listing skipped a session whose metadata cannot be read")
        return None


def list_page(space: Space, limit: int, cursor: str | None) -> SessionPage:
    """Return one page of live sessions, newest first, reading ~``limit`` metadata files.

    Expired sessions not reclaimed yet are skipped like deleted ones.
    """
    now_us = space.now_us()
    after = None if cursor is None else decode_cursor(cursor, int, str)
    try:
        fd = open_file(INDEX_LOG, space.index_fd, os.O_RDONLY)
    except FileNotFoundError:
        return SessionPage()
    found: list[SessionMeta] = []
    try:
        end = _complete_end(fd, os.fstat(fd).st_size)
        if after is not None:
            end = _first_after(fd, end, after[0])
        metas: dict[str, SessionMeta | None] = {}
        listed: set[str] = set()
        for _, line in _lines_backward(fd, end):
            key = _parse(line)
            micros, session_id = key
            if (after is not None and key >= after) or session_id in listed:
                continue
            if session_id not in metas:
                metas[session_id] = _load_listed(space, session_id)
            meta = metas[session_id]
            if meta is None or meta.updated_us != micros or meta.expired(now_us):
                continue
            listed.add(session_id)
            found.append(meta)
            if len(found) > limit:
                break
    finally:
        os.close(fd)
    items = [meta.record() for meta in found[:limit]]
    last = found[limit - 1] if len(found) > limit else None
    next_cursor = None if last is None else encode_cursor(last.updated_us, last.id)
    return SessionPage(items=items, next_cursor=next_cursor)
