"""Message logs: one JSON text per line, appended in place, never rewritten in place.

An append writes the new lines after the committed length and fsyncs; the
metadata file, replaced afterwards, commits the new length. A replace, or
giving a fork its own copy, writes a *new* log file (``messages.<n>.jsonl``)
that the metadata then points to, so that bytes a reader may be reading are
never changed under it. A pop only lowers the committed length: the next
append then rewrites bytes past it, which is why a pop bumps ``trims`` and
lock-free readers check it after reading.

Reads walk the base chain: the first ``base_point`` messages come from the
base session, the rest from the own log. Reading the last N messages reads the
log backwards from its committed end, so it costs O(N), not O(session).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Final

from unistore.errors import CorruptionError
from unistore.sdk import short
from unistore_fs._fsio import (
    fsync_file,
    open_dir,
    open_file,
    pread_exact,
    remove_quietly,
    write_all,
)
from unistore_fs._names import encode_name
from unistore_fs._scopes import Space
from unistore_fs._session_meta import SessionMeta, load_meta

__all__ = [
    "StaleReadError",
    "append_lines",
    "decode_line",
    "encode_messages",
    "own_lines",
    "read_range",
    "write_new_log",
]

_CHUNK: Final = 1 << 20
#: The first read of a log's tail: room for a few dozen typical messages.
_FIRST_CHUNK: Final = 16 << 10
#: Starts a line holding a message with raw newlines, JSON-escaped.
_ESCAPED: Final = b"\x00"


class StaleReadError(Exception):
    """A lock-free read met a session that changed under it; read again."""


def encode_messages(messages: Sequence[str]) -> bytes:
    """Encode checked messages as lines, one per message.

    A message is written as it is, unless it holds a raw newline (which would
    split its line): then the line is a NUL followed by the message as a JSON
    string. No message holds a NUL (the SDK refuses it), so the marker cannot
    be confused with a message's own text.
    """
    parts: list[bytes] = []
    for message in messages:
        if "\n" in message:
            parts.append(_ESCAPED + json.dumps(message).encode("ascii"))
        else:
            parts.append(message.encode("utf-8", "surrogatepass"))
        parts.append(b"\n")
    return b"".join(parts)


def decode_line(line: bytes) -> str:
    """Return the message one log line holds (see :func:`encode_messages`).

    Raises:
        ValueError: The line is not valid UTF-8 or a broken escaped line.
    """
    if line.startswith(_ESCAPED):
        message = json.loads(line[1:])
        if not isinstance(message, str):
            raise ValueError("an escaped message line does not hold a JSON string")
        return message
    return line.decode("utf-8", "surrogatepass")


def _corrupt(meta: SessionMeta) -> CorruptionError:
    return CorruptionError(
        f"the message log of session {short(meta.id)} is shorter than its metadata records"
    )


def _head(fd: int, end: int, n: int) -> list[bytes]:
    """Return the first ``n`` lines of bytes ``[0, end)``."""
    chunks: list[bytes] = []
    pos = count = 0
    while pos < end and count < n:
        chunk = os.pread(fd, min(_CHUNK, end - pos), pos)
        if not chunk:
            break
        chunks.append(chunk)
        pos += len(chunk)
        count += chunk.count(b"\n")
    return b"".join(chunks).split(b"\n")[:n] if count >= n else []


def _tail(fd: int, end: int, n: int) -> tuple[list[bytes], int]:
    """Return the last ``n`` lines of bytes ``[0, end)`` and the offset where they start."""
    chunks: list[bytes] = []
    pos = end
    count = 0
    # Chunks start small and double: a short tail of a long log then reads a
    # few KiB, not a whole chunk, and a long tail still takes few reads.
    want = _FIRST_CHUNK
    while pos > 0 and count <= n:
        size = min(want, pos)
        want = min(_CHUNK, want * 2)
        pos -= size
        chunk = pread_exact(fd, size, pos)
        chunks.append(chunk)
        count += chunk.count(b"\n")
    data = b"".join(reversed(chunks))
    if not data.endswith(b"\n"):
        return [], end
    lines = data.split(b"\n")[:-1]
    if len(lines) < n or (pos > 0 and len(lines) == n):
        return [], end
    lines = lines[len(lines) - n :]
    return lines, end - sum(len(line) + 1 for line in lines)


def own_lines(fd: int, meta: SessionMeta, a: int, b: int) -> list[bytes]:
    """Return own messages ``[a, b)`` (own indices) from an open log."""
    if a >= b:
        return []
    if b == meta.own_count:
        lines, _ = _tail(fd, meta.log_size, b - a)
    elif meta.own_count - a <= b:
        # Nearer the end than the start (a fork's share of its base's log):
        # reading back from the end walks fewer lines.
        lines, _ = _tail(fd, meta.log_size, meta.own_count - a)
        lines = lines[: b - a]
    else:
        lines = _head(fd, meta.log_size, b)[a:]
    if len(lines) != b - a:
        raise _corrupt(meta)
    return lines


def own_offset(fd: int, meta: SessionMeta, k: int) -> int:
    """Return the byte offset where own message ``k`` starts."""
    if k >= meta.own_count:
        return meta.log_size
    if k >= meta.own_count // 2:
        lines, offset = _tail(fd, meta.log_size, meta.own_count - k)
        if len(lines) != meta.own_count - k:
            raise _corrupt(meta)
        return offset
    lines = _head(fd, meta.log_size, k)
    if len(lines) != k:
        raise _corrupt(meta)
    return sum(len(line) + 1 for line in lines)


def _read_own(space: Space, meta: SessionMeta, a: int, b: int) -> list[bytes]:
    if a >= b:
        return []
    try:
        dir_fd = open_dir(encode_name(meta.id), space.sessions_fd)
    except FileNotFoundError:
        raise StaleReadError from None
    try:
        fd = open_file(meta.log, dir_fd, os.O_RDONLY)
    except FileNotFoundError:
        raise StaleReadError from None
    finally:
        os.close(dir_fd)
    try:
        return own_lines(fd, meta, a, b)
    finally:
        os.close(fd)


def read_range(
    space: Space, meta: SessionMeta, lo: int, hi: int, chain: list[SessionMeta]
) -> list[bytes]:
    """Return messages ``[lo, hi)`` of a session, following its base chain.

    Every base metadata read is appended to ``chain`` so the caller can check
    afterwards that the chain did not change while it was read.

    Raises:
        StaleReadError: A base or a log file vanished (the chain changed): read again.
    """
    segments: list[list[bytes]] = []
    node = meta
    while hi > lo:
        if hi > node.base_point:
            start = max(lo, node.base_point)
            segments.append(_read_own(space, node, start - node.base_point, hi - node.base_point))
            hi = node.base_point
            if hi <= lo:
                break
        if node.base is None:
            raise CorruptionError(f"session {short(node.id)} lost the base it shares messages with")
        parent = load_meta(space, node.base)
        if parent is None or parent.count < hi:
            raise StaleReadError
        chain.append(parent)
        node = parent
    return [line for segment in reversed(segments) for line in segment]


def append_lines(space: Space, dir_fd: int, meta: SessionMeta, data: bytes) -> None:
    """Write ``data`` after the committed end of the log (cutting a torn tail) and fsync.

    The caller commits by writing the metadata with the new ``log_size``.
    """
    flags = os.O_WRONLY | (os.O_CREAT if meta.log_size == 0 else 0)
    try:
        fd = open_file(meta.log, dir_fd, flags)
    except FileNotFoundError:
        raise _corrupt(meta) from None
    try:
        size = os.fstat(fd).st_size
        if size < meta.log_size:
            raise _corrupt(meta)
        if size > meta.log_size:
            os.ftruncate(fd, meta.log_size)  # an uncommitted tail left by a crash
        write_all(fd, data, meta.log_size)
        if space.sync:
            fsync_file(fd)
    finally:
        os.close(fd)


def write_new_log(space: Space, dir_fd: int, meta: SessionMeta, parts: Sequence[bytes]) -> int:
    """Write a fresh log generation for ``meta`` (and point ``meta`` at it).

    Returns:
        The new log's size. ``meta.log``/``log_gen``/``log_size`` are updated;
        the caller writes the metadata, then removes the old log.
    """
    meta.log_gen += 1
    name = f"messages.{meta.log_gen}.jsonl"
    remove_quietly(name, dir_fd)  # a leftover of a crash before its metadata was written
    fd = open_file(name, dir_fd, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    size = 0
    try:
        for part in parts:
            write_all(fd, part)
            size += len(part)
        if space.sync:
            fsync_file(fd)
    finally:
        os.close(fd)
    meta.log = name
    meta.log_size = size
    return size
