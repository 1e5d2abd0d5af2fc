"""The machinery under every file-store operation: root, threads, retries, sweep."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import threading
from collections.abc import Callable
from typing import Any, Final, Literal, TypeVar

import aiofiles.os

from unistore import BaseStore, StoreURL
from unistore.errors import StoreClosedError
from unistore_fs._errors import map_os_error
from unistore_fs._fsio import DIR_FLAGS, close_quietly, remove_quietly
from unistore_fs._locks import Backoff, Busy, KeyedMutex
from unistore_fs._ns_ops import SweepState, sweep_step
from unistore_fs._root import LAYOUT_DIRS, VERSION_FILE, Root, open_root

__all__ = ["Durability", "FileRuntime"]

T = TypeVar("T")
Durability = Literal["fsync", "flush"]

logger = logging.getLogger("unistore.driver.fs")

_MAX_DELAY: Final = 0.02


class FileRuntime(BaseStore):
    """Root management, worker-thread calls, lock retries and the expiry sweep.

    Each operation is one call into a worker thread that does all of its file
    work (lock, read, write, fsync, unlock) in one go. A call that finds a lock
    taken by another process returns without doing anything and is retried
    after a short pause, up to ``lock_timeout``.
    """

    def __init__(
        self,
        url: StoreURL,
        *,
        path: str,
        durability: Durability = "fsync",
        lock_timeout: float = 10.0,
        sweep_every: int = 256,
        sweep_batch: int = 4,
    ) -> None:
        super().__init__(url)
        # Resolved now, so that a later chdir() does not move the store.
        self._path = os.path.abspath(path)
        self._durability: Durability = durability
        self._lock_timeout = lock_timeout
        self._sweep_every = sweep_every
        self._sweep_batch = sweep_batch
        self._root: Root | None = None
        self._root_lock = threading.Lock()
        self._mutex = KeyedMutex()
        self._sweep = SweepState()
        self._writes = 0

    @property
    def path(self) -> str:
        """The absolute path of the store's root folder."""
        return self._path

    @property
    def durability(self) -> Durability:
        """``"fsync"`` (every write reaches the disk before returning) or ``"flush"``."""
        return self._durability

    # -- root and worker threads ------------------------------------------------

    def _enter_root(self) -> Root:
        with self._root_lock:
            if self._closed:
                raise StoreClosedError(f"store {self._url} is closed")
            if self._root is None:
                self._root = open_root(
                    self._path,
                    where=str(self._url),
                    sync=self._durability == "fsync",
                    lock_timeout=self._lock_timeout,
                )
            root = self._root
            root.users += 1
            return root

    def _leave_root(self, root: Root) -> None:
        with self._root_lock:
            root.users -= 1
            if root.retired and root.users == 0:
                root.close()

    def _retire_root(self) -> None:
        with self._root_lock:
            root, self._root = self._root, None
            if root is not None:
                root.retired = True
                if root.users == 0:
                    root.close()

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        root = self._enter_root()
        try:
            return fn(root, *args)
        finally:
            self._leave_root(root)

    async def _read(self, fn: Callable[..., T], /, *args: Any) -> T:
        """Run ``fn(root, *args)`` in a worker thread, mapping OS errors."""
        self._check_open()
        try:
            return await asyncio.to_thread(self._call, fn, args)
        except OSError as exc:
            raise map_os_error(exc, str(self._url)) from exc

    async def _write(self, key: str, fn: Callable[..., T | Busy], /, *args: Any) -> T:
        """Run a locking operation, retrying while its lock is busy in another process."""
        async with self._mutex.hold(key):
            backoff: Backoff | None = None
            while True:
                result = await self._read(fn, *args)
                if not isinstance(result, Busy):
                    break
                if backoff is None:
                    backoff = Backoff(self._lock_timeout, "a store folder")
                await asyncio.sleep(backoff.next_delay())
        self._writes += 1
        if self._sweep_every and self._writes % self._sweep_every == 0:
            await self.sweep()
        return result

    async def sweep(self) -> int:
        """Remove expired slot files from the next few namespaces (a bounded step).

        Runs on its own every ``sweep_every`` writes; call it to reclaim space
        sooner. Never waits for a lock: busy namespaces are visited later.

        Returns:
            How many files were removed.
        """
        if self._sweep.running:
            return 0
        self._sweep.running = True
        try:
            return await self._read(sweep_step, self._sweep, self._sweep_batch)
        except Exception:
            logger.warning("expiry sweep failed; it will run again later", exc_info=True)
            return 0
        finally:
            self._sweep.running = False

    # -- lifecycle --------------------------------------------------------------

    async def _aclose(self) -> None:
        self._retire_root()

    def _destroy_sync(self) -> None:
        self._retire_root()
        try:
            root_fd = os.open(self._path, DIR_FLAGS & ~os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            return
        try:
            for name in LAYOUT_DIRS:
                try:
                    shutil.rmtree(name, dir_fd=root_fd)
                except FileNotFoundError:
                    pass
                except OSError:
                    # A link or a file where our folder should be: remove the entry itself.
                    remove_quietly(name, root_fd)
            remove_quietly(VERSION_FILE, root_fd)
        finally:
            close_quietly(root_fd)

    async def destroy(self) -> None:
        """Delete everything this store keeps under its root, and the root if left empty.

        Files in the root that the store did not create are left alone. The
        store stays usable: the next operation starts a fresh layout.
        """
        self._check_open()
        try:
            await asyncio.to_thread(self._destroy_sync)
            if await aiofiles.os.path.isdir(self._path) and not await aiofiles.os.listdir(
                self._path
            ):
                await aiofiles.os.rmdir(self._path)
        except OSError as exc:
            raise map_os_error(exc, str(self._url)) from exc
