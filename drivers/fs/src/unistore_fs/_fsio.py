"""Blocking file primitives that never leave the store root.

Every path below the root is opened one component at a time relative to an
open directory, with ``O_NOFOLLOW``: a symbolic link planted anywhere inside the
store is refused, never followed. Files that are not regular files (FIFOs,
devices) are refused too, and files modified in place must have one link.

These functions block; the store calls them from worker threads.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import sys
from typing import Final

from unistore.errors import CorruptionError

__all__ = [
    "ForeignEntryError",
    "close_quietly",
    "fsync_dir",
    "fsync_file",
    "list_names",
    "open_dir",
    "open_file",
    "pread_exact",
    "read_file",
    "remove_quietly",
    "temp_name",
    "write_all",
    "write_atomic",
    "write_temp",
]

_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
TEMP_PREFIX: Final = ".tmp-"
# ENXIO: a FIFO without a reader (or a device without its driver) opened without blocking.
_FOREIGN_ERRNOS: Final = frozenset(
    {errno.ELOOP, errno.ENOTDIR, errno.EMLINK, errno.EISDIR, errno.ENXIO}
)


class ForeignEntryError(CorruptionError):
    """Something inside the store root is a link or not the expected file type."""


def _foreign(name: str) -> ForeignEntryError:
    return ForeignEntryError(
        f"entry {name[:60]!r} inside the store root is a symbolic link or not a regular "
        "file/directory; refusing to follow it"
    )


def open_dir(name: str, parent_fd: int) -> int:
    """Open the directory ``name`` inside ``parent_fd`` without following links.

    Raises:
        FileNotFoundError: No such entry.
        ForeignEntryError: The entry is a symbolic link or not a directory.
    """
    try:
        return os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno in _FOREIGN_ERRNOS:
            raise _foreign(name) from exc
        raise


def open_file(name: str, dir_fd: int, flags: int, mode: int = 0o644) -> int:
    """Open a regular file inside ``dir_fd`` without following links.

    Raises:
        FileNotFoundError: No such file (and ``O_CREAT`` not given).
        ForeignEntryError: The entry is a link, a directory, a FIFO, a device,
            or (when opened for writing) a file with several hard links.
    """
    # O_NONBLOCK always: opening a planted FIFO must fail, not wait for a peer
    # (it changes nothing for regular files, which we then insist on).
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in _FOREIGN_ERRNOS:
            raise _foreign(name) from exc
        raise
    info = os.fstat(fd)
    writing = flags & (os.O_WRONLY | os.O_RDWR)
    if not stat.S_ISREG(info.st_mode) or (writing and info.st_nlink > 1):
        os.close(fd)
        raise _foreign(name)
    return fd


def close_quietly(fd: int) -> None:
    """Close a descriptor, ignoring errors (used on cleanup paths)."""
    with contextlib.suppress(OSError):
        os.close(fd)


def pread_exact(fd: int, size: int, offset: int) -> bytes:
    """Read exactly ``size`` bytes at ``offset``, or fewer at end of file."""
    chunks: list[bytes] = []
    while size > 0:
        chunk = os.pread(fd, min(size, 1 << 24), offset)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def read_file(name: str, dir_fd: int) -> bytes | None:
    """Return a whole regular file's bytes, or ``None`` if it does not exist."""
    try:
        fd = open_file(name, dir_fd, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        chunks: list[bytes] = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes, offset: int | None = None) -> None:
    """Write all of ``data`` (at ``offset`` with ``pwrite`` when given)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view) if offset is None else os.pwrite(fd, view, offset)
        view = view[written:]
        if offset is not None:
            offset += written


def fsync_file(fd: int) -> None:
    """Flush a file to stable storage (``F_FULLFSYNC`` on macOS, where fsync is weaker)."""
    if sys.platform == "darwin":  # pragma: no cover - platform specific
        try:
            fcntl.fcntl(fd, fcntl.F_FULLFSYNC)
            return
        except OSError:
            pass
    os.fsync(fd)


def fsync_dir(dir_fd: int) -> None:
    """Make renames, creations and removals inside a directory durable."""
    try:
        os.fsync(dir_fd)
    except OSError as exc:  # pragma: no cover - some file systems refuse directory fsync
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise


def temp_name() -> str:
    """Return a fresh hidden temporary file name."""
    return TEMP_PREFIX + os.urandom(8).hex()


def write_temp(dir_fd: int, data: bytes, *, sync: bool) -> str:
    """Write ``data`` to a new temporary file in ``dir_fd``; return its name."""
    name = temp_name()
    fd = os.open(
        name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC, 0o644, dir_fd=dir_fd
    )
    try:
        write_all(fd, data)
        if sync:
            fsync_file(fd)
    except BaseException:
        os.close(fd)
        remove_quietly(name, dir_fd)
        raise
    os.close(fd)
    return name


def write_atomic(dir_fd: int, name: str, data: bytes, *, sync: bool) -> None:
    """Replace ``name`` with ``data`` atomically: temp file, fsync, rename.

    The caller fsyncs the directory (once per batch of writes) when durable.
    """
    temp = write_temp(dir_fd, data, sync=sync)
    try:
        os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        remove_quietly(temp, dir_fd)
        raise


def remove_quietly(name: str, dir_fd: int) -> bool:
    """Unlink ``name`` if it exists; return whether it did."""
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    return True


def list_names(dir_fd: int) -> list[os.DirEntry[str]]:
    """Return the entries of an open directory (links are listed, not followed)."""
    # scandir duplicates the descriptor and rewinds it, so dir_fd stays usable.
    with os.scandir(dir_fd) as entries:
        return list(entries)
