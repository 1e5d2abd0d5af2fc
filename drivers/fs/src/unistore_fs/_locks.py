"""Cross-process locks: ``flock`` on a ``.lock`` file inside the locked directory.

``flock`` locks belong to an open file description, so two descriptors opened
separately conflict even inside one process - which is what we want: two
stores on the same root in one process exclude each other like two processes.

Locks are only ever *tried* (``LOCK_NB``). A caller that finds a lock busy
releases everything it holds and retries later, so no lock order can deadlock.
The session index lock is the exception: it is waited for under a session
lock, which is safe because it is always the innermost lock taken.

A locked directory may be removed by its holder (purge, delete). A waiter that
then gets the lock holds it on a dead inode, so after locking we check that the
directory and the lock file are still the ones on the path, and retry if not.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Final

from unistore.errors import StoreTimeoutError
from unistore.sdk import Backoff, Deadline
from unistore_fs._fsio import close_quietly, open_dir, open_file

__all__ = [
    "BUSY",
    "LOCK_BACKOFF",
    "Busy",
    "DirLock",
    "KeyedMutex",
    "lock_deadline",
    "lock_dir",
    "try_lock_dir",
]

LOCK_NAME: Final = ".lock"


class Busy:
    """Returned by a blocking operation that found a lock taken."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "BUSY"


BUSY: Final = Busy()


class DirLock:
    """An exclusive lock on a directory, with the directory open."""

    __slots__ = ("created", "dir_fd", "lock_fd")

    def __init__(self, dir_fd: int, lock_fd: int, created: bool) -> None:
        self.dir_fd = dir_fd
        self.lock_fd = lock_fd
        #: Whether this call created the directory (its parent needs an fsync).
        self.created = created

    def release(self) -> None:
        """Unlock and close; idempotent."""
        if self.lock_fd >= 0:
            close_quietly(self.lock_fd)  # closing the only descriptor drops the flock
            self.lock_fd = -1
        if self.dir_fd >= 0:
            close_quietly(self.dir_fd)
            self.dir_fd = -1

    def __enter__(self) -> DirLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return a.st_ino == b.st_ino and a.st_dev == b.st_dev


def _still_current(parent_fd: int, name: str, dir_fd: int, lock_fd: int) -> bool:
    try:
        on_path = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        lock_on_path = os.stat(LOCK_NAME, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return _same(on_path, os.fstat(dir_fd)) and _same(lock_on_path, os.fstat(lock_fd))


def try_lock_dir(parent_fd: int, name: str, *, create: bool) -> DirLock | Busy:
    """Try to lock directory ``name`` inside ``parent_fd`` without waiting.

    Args:
        parent_fd: The open parent directory.
        name: The directory's (encoded) name.
        create: Create the directory if it is missing.

    Returns:
        The held lock, or :data:`BUSY` if another holder has it.

    Raises:
        FileNotFoundError: The directory does not exist and ``create`` is false.
    """
    created = False
    for _ in range(64):
        try:
            dir_fd = open_dir(name, parent_fd)
        except FileNotFoundError:
            if not create:
                raise
            try:
                os.mkdir(name, 0o755, dir_fd=parent_fd)
                created = True
            except FileExistsError:
                pass
            continue
        try:
            lock_fd = open_file(LOCK_NAME, dir_fd, os.O_RDWR | os.O_CREAT)
        except FileNotFoundError:
            # The directory was removed between mkdir/open and now.
            os.close(dir_fd)
            if not create:
                raise
            continue
        except BaseException:
            os.close(dir_fd)
            raise
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            os.close(dir_fd)
            return BUSY
        except BaseException:
            os.close(lock_fd)
            os.close(dir_fd)
            raise
        try:
            current = _still_current(parent_fd, name, dir_fd, lock_fd)
        except BaseException:
            os.close(lock_fd)
            os.close(dir_fd)
            raise
        if current:
            return DirLock(dir_fd, lock_fd, created)
        os.close(lock_fd)
        os.close(dir_fd)
    raise StoreTimeoutError("a store directory kept being replaced while locking it")


#: Lock polling: short pauses with a floor ("equal" jitter), so a waiter
#: neither spins nor sleeps long past the holder's release.
LOCK_BACKOFF: Final = Backoff(base=0.0005, cap=0.02, factor=2.0, jitter="equal")


def lock_deadline(timeout: float, what: str) -> Deadline:
    """Return the time budget for waiting for the lock of ``what`` (``lock_timeout``)."""
    return Deadline(timeout, f"lock {what} (lock_timeout)", LOCK_BACKOFF)


def lock_dir(parent_fd: int, name: str, *, create: bool, timeout: float, what: str) -> DirLock:
    """Lock a directory, waiting (in this thread) up to ``timeout`` seconds.

    Only for callers that hold no other lock.
    """
    deadline = lock_deadline(timeout, what)
    while True:
        lock = try_lock_dir(parent_fd, name, create=create)
        if isinstance(lock, DirLock):
            return lock
        time.sleep(deadline.next_delay())


class KeyedMutex:
    """One asyncio lock per key, dropped when nobody holds or waits for it.

    Tasks of one store queue here first, so they do not poll the file lock
    against each other.
    """

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold the lock of ``key`` for the duration of the block."""
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
