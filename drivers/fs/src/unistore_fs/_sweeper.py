"""The expiry sweep: the walk over the store, and when its steps run.

:class:`SweepWalk` is the blocking part: where the sweep stands in the store,
and one step of it, bounded by its batch of directory entries. A store's
:class:`Sweeper` is one background task on a loop and thread of its own,
started by the store's first operation and stopped by ``aclose()``. The steps
themselves are blocking file work that the store runs in a worker thread, like
every other operation, so no loop waits for them.

A *run* is a series of steps. The timer starts one every ``sweep_interval``
seconds, and it walks until the sweep has been once through the whole store.
Every ``sweep_every`` writes, a write wakes the sweeper between runs: that run
goes on while its steps find expired files, and ends at the first that finds
none. Within a run:

* the next step comes after a pause as long as the last one took, so the
  sweep uses at most about half of the time;
* the batch (directory entries per step) starts at ``sweep_batch``, doubles
  up to :data:`SWEEP_BATCH_MAX` while full steps take under half of
  :data:`SWEEP_TARGET`, and halves (down to ``sweep_batch``) when a step
  takes over twice as long;
* a run that ends puts the batch back to ``sweep_batch``.

A step that fails is logged and the run ends: housekeeping never raises into
the application, and the next run tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from unistore.errors import CorruptionError, UnistoreError
from unistore_fs import _ns_ops
from unistore_fs._fsio import TEMP_PREFIX, open_dir, read_file, remove_quietly
from unistore_fs._locks import LOCK_NAME, DirLock, try_lock_dir
from unistore_fs._nsdir import JOURNAL, recover_journal, remove_dir
from unistore_fs._records import SLOT_SUFFIX, decode_record
from unistore_fs._root import Root

if TYPE_CHECKING:
    from os import _ScandirIterator

__all__ = [
    "LOCK_CHUNK",
    "SWEEP_BATCH_MAX",
    "SWEEP_TARGET",
    "SweepStep",
    "SweepWalk",
    "Sweepable",
    "Sweeper",
]

logger = logging.getLogger("unistore.driver.fs")

#: The largest batch a run grows to (directory entries per step).
SWEEP_BATCH_MAX: Final = 20_000
#: Seconds one step should take; the batch adapts to it.
SWEEP_TARGET = 0.05
#: Pause after a step that met a namespace locked half way, when it took less.
_BUSY_PAUSE: Final = 0.01
#: Seconds the idle task waits at most before it looks whether its store is gone.
_ALIVE_CHECK: Final = 1.0


#: Directory entries examined per hold of a namespace lock: a writer of that
#: namespace waits for the sweep at most this long, however big its batch.
LOCK_CHUNK: Final = 128
#: Helper threads that unlink expired files (shared by the process), and the
#: files one task of theirs unlinks.
_PARALLEL: Final = 8
_UNLINKS_PER_TASK: Final = 32
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


@dataclass
class SweepStep:
    """What one step of the walk did."""

    #: Directory entries listed (namespace folders and the entries in them).
    examined: int = 0
    #: Expired slot files and orphaned temporaries removed.
    removed: int = 0
    #: The walk reached the end of the store: the next step starts a new pass.
    passed: bool = False
    #: The step stopped early at a namespace another holder had locked.
    busy: bool = False


def _never() -> bool:
    return False


class SweepWalk:
    """Where the expiry sweep stands in the store, kept between steps.

    Two directory streams stay open from one step to the next: the listing of
    ``ns/`` and the listing of the namespace folder being swept. A step reads
    as many entries from them as its budget allows, so its cost is bounded
    by the budget whether the store holds a million namespaces or one
    namespace holds a million files. Decisions are taken on what a file holds
    when it is read under its namespace lock, never on what a listing showed
    earlier: a file rewritten by another process since it was listed is
    judged by its new content (a live slot stays).

    One step runs at a time (a thread lock); ``close`` ends both streams.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._root: Root | None = None
        self._folders: _ScandirIterator[str] | None = None
        self._entries: _ScandirIterator[str] | None = None
        self._current = ""
        #: Entries of the current namespace that stay (live or not ours).
        self._kept = 0
        #: No chunk of the current namespace was swept yet.
        self._fresh = True

    def close(self) -> None:
        """End both listings; the next step starts a new pass."""
        with self._lock:
            self._close_folders()
            self._end_namespace()
            self._root = None

    def _close_folders(self) -> None:
        if self._folders is not None:
            self._folders.close()
            self._folders = None

    def _end_namespace(self) -> None:
        if self._entries is not None:
            self._entries.close()
            self._entries = None

    def step(self, root: Root, budget: int, stop: Callable[[], bool] = _never) -> SweepStep:
        """Examine up to about ``budget`` directory entries; remove what expired.

        Never waits for a lock. A namespace found locked before its first
        chunk is skipped for this pass (its holder is at work there, maybe
        another sweeper); one found locked half way ends the step, and the
        next step resumes where this one stopped.

        Args:
            root: The open store root.
            budget: Directory entries to examine at most (each namespace
                folder opened counts as one).
            stop: Checked between chunks: a step ends early when it returns true.
        """
        with self._lock:
            if self._root is not root:
                # The root was replaced (destroy()): its listings mean nothing now.
                self._close_folders()
                self._end_namespace()
                self._root = root
            out = SweepStep()
            cutoff = root.clock() - _ns_ops.SWEEP_GRACE  # looked up now: tests change it
            while out.examined < budget and not stop():
                if self._entries is None:
                    if not self._next_namespace(root, budget, out):
                        break
                    continue
                limit = min(LOCK_CHUNK, budget - out.examined)
                try:
                    if not self._sweep_chunk(root, limit, cutoff, out):
                        break
                except (OSError, UnistoreError):
                    # Skipped for this pass (a corrupt journal, say): a namespace
                    # that fails must not hold the walk where it is.
                    logger.warning("expiry sweep skipped a namespace directory", exc_info=True)
                    self._end_namespace()
            if out.removed:
                logger.debug("expiry sweep removed %d file(s)", out.removed)
            return out

    def _next_namespace(self, root: Root, budget: int, out: SweepStep) -> bool:
        """Open the listing of the next namespace folder; false at the end of a pass."""
        if self._folders is None:
            # A descriptor of its own: scandir(ns_fd) would share the offset of
            # ns_fd with every other listing of it, for as long as the pass lasts.
            own_fd = open_dir(".", root.ns_fd)
            try:
                self._folders = os.scandir(own_fd)
            finally:
                os.close(own_fd)
        for entry in self._folders:
            out.examined += 1
            name = entry.name
            if not name.startswith(".") and entry.is_dir(follow_symlinks=False):
                try:
                    dir_fd = open_dir(name, root.ns_fd)
                except (FileNotFoundError, CorruptionError):
                    continue  # gone meanwhile, or not a folder this store made
                try:
                    self._entries = os.scandir(dir_fd)
                finally:
                    os.close(dir_fd)
                self._current, self._kept, self._fresh = name, 0, True
                return True
            if out.examined >= budget:
                return True
        self._close_folders()
        out.passed = True
        return False

    def _sweep_chunk(self, root: Root, limit: int, cutoff: float, out: SweepStep) -> bool:
        """Sweep the next ``limit`` entries of the current namespace under its lock.

        Returns false when the step must end (the namespace is busy half way).
        """
        entries = self._entries
        assert entries is not None
        try:
            lock = try_lock_dir(root.ns_fd, self._current, create=False)
        except (FileNotFoundError, CorruptionError):
            self._end_namespace()  # purged meanwhile: nothing left to sweep
            return True
        if not isinstance(lock, DirLock):
            if self._fresh:
                self._end_namespace()  # visited again on the next pass
                return True
            out.busy = True
            return False
        with lock:
            self._fresh = False
            recover_journal(lock.dir_fd, sync=root.sync)
            chunk = list(itertools.islice(entries, limit))
            out.examined += len(chunk)
            remover = _Remover(lock.dir_fd)
            try:
                for entry in chunk:
                    self._kept += _judge(entry, lock.dir_fd, cutoff, remover)
            finally:
                # Even when judging failed: no unlink may outlive the lock.
                out.removed += remover.wait()
            if len(chunk) < limit:  # the listing ended: the namespace is done
                if not self._kept and _only_lock_left(lock.dir_fd):
                    remove_dir(root.ns_fd, self._current, lock, sync=False)
                self._end_namespace()
        return True


def _pool() -> ThreadPoolExecutor:
    """The sweep's unlinking threads, shared by every store of the process (made once)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(_PARALLEL, thread_name_prefix="unistore-fs-sweep")
        return _POOL


def _remove_names(names: list[str], dir_fd: int) -> int:
    return sum(remove_quietly(name, dir_fd) for name in names)


class _Remover:
    """Unlinks the expired files of one locked chunk, a few at a time in helper threads.

    Unlinking a file whose blocks are on disk waits for the file system (its
    journal, a discard): several unlinks at once overlap those waits, and
    overlap the reading of the next files. The helpers hold the GIL for next
    to nothing.
    """

    def __init__(self, dir_fd: int) -> None:
        self._dir_fd = dir_fd
        self._names: list[str] = []
        self._pending: list[Future[int]] = []

    def add(self, name: str) -> None:
        self._names.append(name)
        if len(self._names) >= _UNLINKS_PER_TASK:
            self._pending.append(_pool().submit(_remove_names, self._names, self._dir_fd))
            self._names = []

    def wait(self) -> int:
        """Unlink what is left, wait for every helper; return how many files went."""
        try:
            removed = _remove_names(self._names, self._dir_fd)
        finally:
            wait(self._pending)
        return removed + sum(future.result() for future in self._pending)


def _judge(entry: os.DirEntry[str], dir_fd: int, cutoff: float, doomed: _Remover) -> bool:
    """Hand an entry of a locked namespace to ``doomed`` if it expired by ``cutoff``.

    Returns whether the entry stays.
    """
    name = entry.name
    if name in (LOCK_NAME, JOURNAL):
        return False
    if name.startswith(TEMP_PREFIX):
        # Writers hold the lock while a temporary exists: this one is orphaned.
        doomed.add(name)
        return False
    if not name.endswith(SLOT_SUFFIX) or not entry.is_file(follow_symlinks=False):
        return True  # not ours: left for a person to look at
    data = read_file(name, dir_fd)
    if data is None:
        return False  # removed meanwhile
    try:
        record = decode_record(data, None, None)[1]
    except CorruptionError:
        return True  # unreadable: left for a person to look at
    if record.expires_at > cutoff:
        return True
    doomed.add(name)
    return False


def _only_lock_left(dir_fd: int) -> bool:
    """Whether a locked namespace folder holds only its lock (stops at the first other entry)."""
    with os.scandir(dir_fd) as entries:
        return all(entry.name == LOCK_NAME for entry in entries)


class Sweepable(Protocol):
    """What the sweeper drives: a store that runs one step in a worker thread."""

    async def _sweep_once(self, batch: int, stop: Callable[[], bool]) -> SweepStep:
        """Run one step of ``batch`` directory entries off the loop."""
        ...


class Sweeper:
    """The background task that paces one store's expiry sweep.

    The task runs on an event loop of its own, in a daemon thread of its own:
    it belongs to no application loop, so it outlives ``asyncio.run`` calls,
    never keeps a loop busy (the blocking API drives its loop until no task
    of the call is left), and a store used from several loops has one sweep.
    It holds its store weakly: a store dropped without ``aclose()`` is still
    collected (and its finaliser runs); the task then ends within a second.

    Args:
        store: The store whose ``_sweep_once`` runs the steps.
        first_batch: The batch a run starts with, and the smallest it shrinks to.
        interval: Seconds between two timer-started runs (0: no timer).
        every: Writes between two wake-ups by writes (0: writes never wake it).
    """

    def __init__(self, store: Sweepable, *, first_batch: int, interval: float, every: int) -> None:
        self._store = weakref.ref(store)
        self.first_batch = first_batch
        self.interval = interval
        self.every = every
        #: The batch of the next step.
        self.batch = first_batch
        #: Measures how long steps take (tests inject one).
        self.timer: Callable[[], float] = time.monotonic
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = threading.Event()
        self._starting = threading.Lock()
        self._in_run = False
        self._writes = 0

    @property
    def enabled(self) -> bool:
        """Whether anything starts runs (a timer, or writes)."""
        return self.interval > 0 or self.every > 0

    @property
    def running(self) -> bool:
        """Whether the background task is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._stopping.is_set()

    def ensure_started(self) -> None:
        """Start the background thread and its task unless they are alive.

        Called on every operation, so it is cheap when the task runs.
        """
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        if not self.enabled or self._stopping.is_set():
            return
        with self._starting:
            if self._thread is not None and self._thread.is_alive():
                return
            ready = threading.Event()
            self._thread = threading.Thread(
                target=self._serve, args=(ready,), name="unistore-fs expiry sweep", daemon=True
            )
            self._thread.start()
            ready.wait()

    def _serve(self, ready: threading.Event) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            self._in_run = False
            self.batch = self.first_batch
            self._task = asyncio.current_task()
            ready.set()
            await self._run()

        try:
            asyncio.run(main())
        except Exception:  # pragma: no cover - _run logs what a step raises
            logger.warning("the expiry sweeper stopped", exc_info=True)
        finally:
            ready.set()

    def _poke(self) -> None:
        """Wake the task from any thread (asyncio objects are not thread-safe)."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(wake.set)

    def wrote(self) -> None:
        """Count a write; every ``every`` writes, wake the sweeper between runs."""
        if not self.every:
            return
        self._writes += 1
        if self._writes % self.every or self._in_run:
            return
        self._poke()

    def stop_requested(self) -> bool:
        """Whether :meth:`stop` was called (a step checks it between chunks)."""
        return self._stopping.is_set()

    async def stop(self) -> None:
        """Stop the task and wait for its thread; a step under way ends at its next chunk."""
        self._stopping.set()
        self._poke()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            await asyncio.to_thread(thread.join)

    def resume(self) -> None:
        """Allow the task to start again after :meth:`stop` (the store stays open)."""
        self._stopping.clear()

    # -- the task ---------------------------------------------------------------

    async def _sleep(self, seconds: float | None) -> bool:
        """Wait ``seconds`` (``None``: until woken); return whether a write woke it.

        Wakes at least every second to see whether the store was dropped.
        """
        wake = self._wake
        assert wake is not None
        wake.clear()
        if seconds is not None and seconds <= 0:
            return False
        # The wall of this thread, not the step timer (tests inject that one).
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            now = time.monotonic()
            left = _ALIVE_CHECK if deadline is None else min(_ALIVE_CHECK, deadline - now)
            try:
                await asyncio.wait_for(wake.wait(), max(0.0, left))
            except TimeoutError:
                if self._store() is None or self._stopping.is_set():
                    return False
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                continue
            return True

    async def _run(self) -> None:
        next_timer = self.timer() + self.interval if self.interval > 0 else None
        while not self._stopping.is_set():
            wait = None if next_timer is None else next_timer - self.timer()
            woken = await self._sleep(wait)
            if self._stopping.is_set() or self._store() is None:
                return
            if not woken:
                assert next_timer is not None
                next_timer = self.timer() + self.interval
            if not await self._one_run(by_timer=not woken):
                return

    async def _one_run(self, *, by_timer: bool) -> bool:
        """Take steps until the run ends; return false when the store is gone."""
        self._in_run = True
        try:
            while True:
                store = self._store()
                if store is None:
                    return False
                started = self.timer()
                batch = self.batch
                try:
                    step = await store._sweep_once(batch, self._stopping.is_set)
                except Exception:
                    if self._stopping.is_set():
                        return True  # the store closed under the step: nothing to report
                    logger.warning("expiry sweep failed; it will run again later", exc_info=True)
                    return True
                finally:
                    del store  # held weakly between steps
                took = self.timer() - started
                if self._stopping.is_set():
                    return True
                # A timer run is one pass over the store. A run that writes
                # woke goes on while it finds expired files, into a new pass
                # if need be: the part of the store it walked before they
                # expired (or while another run had the wake-ups) has them too.
                if by_timer and step.passed:
                    return True
                if not by_timer and not step.removed:
                    return True
                self._adapt(batch, step, took)
                pause = max(took, _BUSY_PAUSE) if step.busy else took
                await self._sleep(pause)
                if self._stopping.is_set():
                    return True
        finally:
            self._in_run = False
            self.batch = self.first_batch

    def _adapt(self, batch: int, step: SweepStep, took: float) -> None:
        if step.examined >= batch and took < SWEEP_TARGET / 2:
            self.batch = min(batch * 2, max(SWEEP_BATCH_MAX, self.first_batch))
        elif took > SWEEP_TARGET * 2:
            self.batch = max(batch // 2, self.first_batch)
