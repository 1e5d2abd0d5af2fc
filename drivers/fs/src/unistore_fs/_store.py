"""The file store: every capability on plain files in one folder.

The SDK's bases do the closed check, argument validation, TTL normalisation
and error mapping (:data:`~unistore_fs._errors.ERRORS`); each primitive here
is one call into a worker thread running a blocking operation of the layout
modules (``_slot_ops``, ``_ns_ops``, ``_session_ops``, ...).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, Final, Literal, TypeVar

import aiofiles.os

from unistore import StoreURL
from unistore.protocols import SessionPage, SessionRecord, SlotKind
from unistore.sdk import (
    ForkRequest,
    FullStoreBase,
    MessageWrite,
    NewSession,
    PopRequest,
    TransactionBase,
)
from unistore_fs import _batch_ops, _ns_ops, _session_ops, _slot_ops
from unistore_fs._errors import ERRORS
from unistore_fs._locks import Busy, KeyedMutex, lock_deadline
from unistore_fs._root import Root, destroy_layout, open_root
from unistore_fs._scopes import list_scopes
from unistore_fs._session_sweep import SessionSweepState, sweep_sessions
from unistore_fs._sweeper import Sweeper, SweepStep, SweepWalk
from unistore_fs._transaction import FileTransaction

__all__ = ["Durability", "FileStore"]

T = TypeVar("T")
Durability = Literal["fsync", "flush"]

logger = logging.getLogger("unistore.driver.fs")

#: Namespace folders examined per worker-thread call while listing namespaces.
_LISTING_BATCH: Final = 64
#: Directory entries of the slot walk per session folder a sweep step visits:
#: reclaiming a session removes a folder of several files, a slot one file.
_ENTRIES_PER_SESSION: Final = 8
#: Session folders a sweep step visits at least.
_SESSIONS_MIN: Final = 64


def _never() -> bool:
    return False


def _ns_key(ns: str) -> str:
    return f"n:{ns}"


def _session_key(scope: str, session_id: str) -> str:
    # The scope's length makes the key unambiguous whatever either text holds.
    return f"s:{len(scope)}:{scope}:{session_id}"


class FileStore(FullStoreBase):
    """A store kept in a folder: ``file:///var/lib/app/store``.

    Layout (browsable; names are encoded by :mod:`unistore_fs._names`)::

        <root>/VERSION
        <root>/ns/<namespace>/<slot>.json        one file per slot
        <root>/sessions/<id>/meta.json           a session record (default scope)
        <root>/sessions/<id>/messages.jsonl      its messages, one per line
        <root>/session-index/updates.jsonl       the listing index (default scope)
        <root>/scopes/<scope>/SCOPE              another scope, recorded in full
        <root>/scopes/<scope>/sessions/...       its sessions, laid out as above
        <root>/scopes/<scope>/session-index/...  its listing index

    Every write replaces files atomically (temporary file, fsync, rename,
    directory fsync) under a per-namespace or per-session ``flock`` lock, so
    several processes can share one folder. Each operation is one call into a
    worker thread that does all of its file work in one go; a call that finds
    a lock taken by another process changes nothing and is retried after a
    short pause, up to ``lock_timeout``.

    Args:
        url: The parsed ``file://`` URL.
        path: The root folder (made absolute now: a later ``chdir`` does not move it).
        durability: ``"fsync"`` or ``"flush"``.
        lock_timeout: Seconds to wait for a lock held by another process.
        sweep_every: Writes between two wake-ups of the expiry sweeper
            (0: writes never wake it).
        sweep_batch: Directory entries the first step of a sweep run
            examines (the batch then adapts; see :mod:`unistore_fs._sweeper`).
        sweep_interval: Seconds between two sweep runs started by the
            sweeper's timer, writes or not (0: no timer).
        clock: The wall clock for expiry and session stamps (tests inject one).
        create: ``False``: create no folder and no layout file; a missing
            store raises :class:`~unistore.errors.StoreNotFoundError` on
            first use.
    """

    NAME = "file"
    # Not a database the semantic conventions list: a name of unistore's own.
    DB_SYSTEM = "unistore.file"
    ERRORS = ERRORS

    def __init__(
        self,
        url: StoreURL,
        *,
        path: str,
        durability: Durability = "fsync",
        lock_timeout: float = 10.0,
        sweep_every: int = 256,
        sweep_batch: int = 500,
        sweep_interval: float = 60.0,
        clock: Callable[[], float] | None = None,
        create: bool = True,
    ) -> None:
        super().__init__(url, clock=clock, create=create)
        self._path = os.path.abspath(path)
        self._durability: Durability = durability
        self._lock_timeout = lock_timeout
        self._sweep_every = sweep_every
        self._sweep_batch = sweep_batch
        self._sweep_interval = sweep_interval
        self._root: Root | None = None
        self._root_releases: list[Callable[[], None]] = []
        self._root_lock = threading.Lock()
        self._mutex = KeyedMutex()
        self._walk = SweepWalk()
        self._session_sweep = SessionSweepState()
        self._sweeper = Sweeper(
            self, first_batch=sweep_batch, interval=sweep_interval, every=sweep_every
        )

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
            # Checked again here: aclose() may have run while the call was queued.
            self._check_open()
            if self._root is None:
                root = open_root(
                    self._path,
                    where=str(self._url),
                    sync=self._durability == "fsync",
                    lock_timeout=self._lock_timeout,
                    clock=self.clock,
                    create=self.may_create,
                )
                # A store dropped without aclose() must not leak its descriptors
                # (nor the sweep's open listings, which are of this root).
                self._root_releases = [functools.partial(os.close, fd) for fd in root.fds]
                self._root_releases.append(self._walk.close)
                for release in self._root_releases:
                    self._hold(release)
                self._root = root
            self._root.users += 1
            return self._root

    def _leave_root(self, root: Root) -> None:
        with self._root_lock:
            root.users -= 1
            if root.retired and root.users == 0:
                root.close()

    def _retire_root(self) -> None:
        with self._root_lock:
            root, self._root = self._root, None
            for release in self._root_releases:
                self._let_go(release)
            self._root_releases = []
            if root is not None:
                # Operations still running keep the descriptors; the last one closes them.
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
        """Run ``fn(root, *args)`` in a worker thread (and see that the sweeper runs)."""
        self._sweeper.ensure_started()
        return await asyncio.to_thread(self._call, fn, args)

    async def _locked(self, key: str, fn: Callable[..., T | Busy], /, *args: Any) -> T:
        """Run a locking operation, retrying while its lock is busy in another process."""
        async with self._mutex.hold(key):
            deadline = None
            while True:
                result = await self._read(fn, *args)
                if not isinstance(result, Busy):
                    return result
                if deadline is None:
                    deadline = lock_deadline(self._lock_timeout, "a store folder")
                await asyncio.sleep(deadline.next_delay())

    async def _write(self, key: str, fn: Callable[..., T | Busy], /, *args: Any) -> T:
        """Run a locking write (see :meth:`_locked`); every few writes wake the sweeper."""
        result = await self._locked(key, fn, *args)
        self._sweeper.wrote()
        return result

    # -- maintenance ------------------------------------------------------------

    async def sweep(self) -> int:
        """Reclaim expired slots and sessions from the next part of the store (one bounded step).

        Examines ``sweep_batch`` directory entries where the sweep stands
        (and at least 64 session folders). The store's sweeper does this on
        its own, in the background; call it to reclaim space sooner. Never
        waits for a lock: busy namespaces and sessions are visited later.

        Returns:
            How many slot files and expired sessions were removed.
        """
        self._check_open()
        with self._errors():
            step = await self._sweep_once(self._sweep_batch, _never)
        return step.removed

    def _sweep_blocking(
        self, root: Root, batch: int, stop: Callable[[], bool]
    ) -> tuple[SweepStep, int]:
        step = self._walk.step(root, batch, stop)
        sessions = max(_SESSIONS_MIN, batch // _ENTRIES_PER_SESSION)
        return step, sweep_sessions(root, self._session_sweep, sessions)

    async def _sweep_once(self, batch: int, stop: Callable[[], bool]) -> SweepStep:
        """Run one sweep step of ``batch`` directory entries in a worker thread."""
        step, sessions = await asyncio.to_thread(self._call, self._sweep_blocking, (batch, stop))
        step.removed += sessions
        return step

    async def destroy(self) -> None:
        """Delete everything this store keeps under its root, and the root if left empty.

        Files in the root that the store did not create are left alone. The
        store stays usable: the next operation starts a fresh layout.
        """
        self._check_open()
        # The sweeper must not lock (and so recreate .lock files) in folders being removed.
        await self._sweeper.stop()
        try:
            await asyncio.to_thread(self._walk.close)
            self._retire_root()
            with self._errors():
                await asyncio.to_thread(destroy_layout, self._path)
                if await aiofiles.os.path.isdir(self._path) and not await aiofiles.os.listdir(
                    self._path
                ):
                    await aiofiles.os.rmdir(self._path)
        finally:
            self._sweeper.resume()

    async def _aclose(self) -> None:
        await self._sweeper.stop()
        # Waits for a step that sweep() may still be running in a worker thread.
        await asyncio.to_thread(self._walk.close)
        self._retire_root()

    # -- slots ------------------------------------------------------------------

    async def _get(self, ns: str, slot: str) -> bytes | None:
        record = await self._read(_slot_ops.read_live, ns, slot)
        return None if record is None else record.scalar(slot)

    async def _set(self, ns: str, slot: str, value: bytes, ttl: float | None) -> None:
        await self._write(_ns_key(ns), _slot_ops.set_scalar, ns, slot, value, ttl)

    async def _delete(self, ns: str, slot: str) -> bool:
        return await self._write(_ns_key(ns), _slot_ops.delete, ns, slot)

    async def _get_many(self, ns: str, slots: list[str]) -> list[bytes | None]:
        # Under the namespace lock: a lock-free read of several files could straddle a commit.
        return await self._locked(_ns_key(ns), _batch_ops.get_many, ns, slots)

    async def _set_many(self, ns: str, mapping: dict[str, bytes], ttl: float | None) -> None:
        await self._write(_ns_key(ns), _batch_ops.set_many, ns, mapping, ttl)

    async def _delete_many(self, ns: str, slots: list[str]) -> int:
        return await self._write(_ns_key(ns), _batch_ops.delete_many, ns, slots)

    async def _hget(self, ns: str, slot: str, field: str) -> bytes | None:
        return (await self._hgetall(ns, slot)).get(field)

    async def _hset(self, ns: str, slot: str, mapping: dict[str, bytes], ttl: float | None) -> int:
        return await self._write(_ns_key(ns), _slot_ops.hset, ns, slot, mapping, ttl)

    async def _hdel(self, ns: str, slot: str, fields: list[str]) -> int:
        return await self._write(_ns_key(ns), _slot_ops.hdel, ns, slot, fields)

    async def _hgetall(self, ns: str, slot: str) -> dict[str, bytes]:
        record = await self._read(_slot_ops.read_live, ns, slot)
        return {} if record is None else dict(record.hash(slot))

    async def _incr(self, ns: str, slot: str, amount: int, ttl: float | None) -> int:
        return await self._write(_ns_key(ns), _slot_ops.incr, ns, slot, amount, ttl)

    async def _get_ttl(self, ns: str, slot: str) -> float | None:
        return await self._read(_slot_ops.get_ttl, ns, slot)

    async def _expire(self, ns: str, slot: str, ttl: float) -> bool:
        return await self._write(_ns_key(ns), _slot_ops.expire, ns, slot, ttl)

    # -- namespaces -------------------------------------------------------------

    async def _slots(self, ns: str, prefix: str) -> list[str]:
        names, expired = await self._read(_ns_ops.slots, ns, prefix)
        if expired:
            await self._read(_ns_ops.sweep_one, ns)
        return names

    async def _slot_kind(self, ns: str, slot: str) -> SlotKind | None:
        record = await self._read(_slot_ops.read_live, ns, slot)
        return None if record is None else record.kind

    async def _touch(self, ns: str, ttl: float) -> int:
        return await self._write(_ns_key(ns), _ns_ops.touch, ns, ttl)

    async def _purge(self, ns: str) -> int:
        return await self._write(_ns_key(ns), _ns_ops.purge, ns)

    async def _namespaces(self, prefix: str) -> AsyncIterator[str]:
        # Lists every namespace folder (O(namespaces)): for tooling, not a hot path.
        names = await self._read(_ns_ops.namespace_dirs)
        for start in range(0, len(names), _LISTING_BATCH):
            batch = names[start : start + _LISTING_BATCH]
            for ns in await self._read(_ns_ops.live_namespaces, batch, prefix):
                yield ns

    def _transaction(self, ns: str, watch: tuple[str, ...]) -> TransactionBase:
        return FileTransaction(self, self, ns, watch)

    # -- sessions ---------------------------------------------------------------

    async def _create_session(self, new: NewSession) -> SessionRecord:
        key = _session_key(new.scope, new.session_id)
        return await self._write(key, _session_ops.create, new)

    async def _fork_session(self, fork: ForkRequest) -> SessionRecord:
        key = _session_key(fork.scope, fork.parent_id)
        return await self._write(key, _session_ops.fork, fork)

    async def _write_messages(self, write: MessageWrite) -> int:
        key = _session_key(write.scope, write.session_id)
        return await self._write(key, _session_ops.write_messages, write)

    async def _pop_messages(self, pop: PopRequest) -> list[str]:
        key = _session_key(pop.scope, pop.session_id)
        return await self._write(key, _session_ops.pop_messages, pop)

    async def _read_messages(self, session_id: str, last: int | None, scope: str) -> list[str]:
        return await self._read(_session_ops.read_messages, session_id, last, scope)

    async def _get_session(self, session_id: str, scope: str) -> SessionRecord | None:
        return await self._read(_session_ops.get, session_id, scope)

    async def _list_sessions(self, limit: int, cursor: str | None, scope: str) -> SessionPage:
        # Reads the scope's own index and about ``limit`` metadata files; never a message.
        return await self._read(_session_ops.list_sessions, limit, cursor, scope)

    async def _update_session(
        self, session_id: str, label: str | None, metadata: dict[str, Any] | None, scope: str
    ) -> SessionRecord:
        key = _session_key(scope, session_id)
        args = (session_id, label, metadata, scope)
        return await self._write(key, _session_ops.update, *args)

    async def _delete_session(self, session_id: str, scope: str) -> bool:
        key = _session_key(scope, session_id)
        return await self._write(key, _session_ops.delete, session_id, scope)

    async def _scopes(self) -> AsyncIterator[str]:
        # Lists the scope folders (O(scopes)): for tooling, not a hot path.
        for scope in await self._read(list_scopes):
            yield scope
