"""The built-in memory driver: ``memory://`` (private) and ``memory://NAME`` (shared).

Every capability, implemented on plain dicts. All operations run without an
``await`` in their middle, so each one is atomic with respect to the event
loop. Stores named ``memory://NAME`` share one backend per process; a nameless
``memory://`` store has its own.

It is registered through the ``unistore.drivers`` entry point like any other
driver, and doubles as the test double for the products:
:meth:`MemoryStore.simulate_concurrent_change` makes a pending transaction
conflict without real concurrency.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from unistore._base import BaseStore
from unistore._memory_kv import MemoryBackend, MemoryTransaction
from unistore._memory_sessions import MemorySessions
from unistore._registry import hookimpl
from unistore._url import StoreURL
from unistore.errors import InvalidURLError
from unistore.protocols import (
    Capability,
    Driver,
    SessionPage,
    SessionRecord,
    SlotKind,
    Store,
)

__all__ = ["MemoryStore", "unistore_driver"]

_SHARED: dict[str, tuple[MemoryBackend, MemorySessions]] = {}
_SHARED_LOCK = threading.Lock()


class MemoryStore(BaseStore):
    """A store kept in this process's memory.

    Attributes:
        backend: The slot data (shared between stores of the same name).
    """

    CAPABILITIES = frozenset(Capability)

    def __init__(self, url: StoreURL) -> None:
        super().__init__(url)
        if url.path not in ("", "/"):
            raise InvalidURLError(f"memory URL {str(url)!r} takes a name, not a path")
        name = url.host
        if name:
            with _SHARED_LOCK:
                pair = _SHARED.get(name)
                if pair is None:
                    pair = _SHARED[name] = (MemoryBackend(), MemorySessions())
        else:
            pair = (MemoryBackend(), MemorySessions())
        self.backend, self._sessions = pair

    # -- KeyValue ---------------------------------------------------------------

    async def get(self, ns: str, slot: str) -> bytes | None:
        """Return a scalar value or ``None``."""
        self._check_open()
        return self.backend.get(ns, slot)

    async def set(self, ns: str, slot: str, value: bytes, *, ttl: float) -> None:
        """Store a scalar value with its expiry."""
        self._check_open()
        self.backend.set(ns, slot, value, ttl)

    async def delete(self, ns: str, slot: str) -> bool:
        """Delete a slot; return whether it existed."""
        self._check_open()
        return self.backend.delete(ns, slot)

    # -- Hash -------------------------------------------------------------------

    async def hget(self, ns: str, slot: str, field: str) -> bytes | None:
        """Return one hash field or ``None``."""
        self._check_open()
        return self.backend.hget(ns, slot, field)

    async def hset(self, ns: str, slot: str, mapping: Mapping[str, bytes], *, ttl: float) -> int:
        """Set hash fields and re-apply the expiry."""
        self._check_open()
        return self.backend.hset(ns, slot, mapping, ttl)

    async def hdel(self, ns: str, slot: str, fields: Sequence[str]) -> int:
        """Delete hash fields; return how many existed."""
        self._check_open()
        return self.backend.hdel(ns, slot, fields)

    async def hgetall(self, ns: str, slot: str) -> dict[str, bytes]:
        """Return every field of a hash."""
        self._check_open()
        return self.backend.hgetall(ns, slot)

    async def hkeys(self, ns: str, slot: str) -> list[str]:
        """Return the field names of a hash."""
        self._check_open()
        return list(self.backend.hgetall(ns, slot))

    # -- Counter ----------------------------------------------------------------

    async def incr(self, ns: str, slot: str, amount: int = 1, *, ttl: float) -> int:
        """Add to a counter, creating it at 0 with ``ttl``."""
        self._check_open()
        return self.backend.incr(ns, slot, amount, ttl)

    # -- TTL --------------------------------------------------------------------

    async def get_ttl(self, ns: str, slot: str) -> float | None:
        """Return the seconds left, or ``None`` if the slot is absent."""
        self._check_open()
        return self.backend.get_ttl(ns, slot)

    async def expire(self, ns: str, slot: str, ttl: float) -> bool:
        """Give a slot a new expiry."""
        self._check_open()
        return self.backend.expire(ns, slot, ttl)

    # -- NamespaceLifecycle -----------------------------------------------------

    async def slots(self, ns: str) -> list[str]:
        """Return the live slot names, sorted."""
        self._check_open()
        return self.backend.slots(ns)

    async def slot_kind(self, ns: str, slot: str) -> SlotKind | None:
        """Return the kind of a live slot."""
        self._check_open()
        return self.backend.slot_kind(ns, slot)

    async def touch(self, ns: str, *, ttl: float) -> int:
        """Re-apply ``ttl`` to every live slot."""
        self._check_open()
        return self.backend.touch(ns, ttl)

    async def purge(self, ns: str) -> int:
        """Delete every slot of a namespace."""
        self._check_open()
        return self.backend.purge(ns)

    async def iter_namespaces(self, prefix: str = "") -> AsyncIterator[str]:
        """Yield the namespaces holding live slots whose name starts with ``prefix``."""
        self._check_open()
        for ns in self.backend.namespaces():
            if ns.startswith(prefix) and self.backend.slots(ns):
                yield ns

    # -- Transactions -----------------------------------------------------------

    def transaction(self, ns: str, watch: Sequence[str]) -> MemoryTransaction:
        """Start an optimistic transaction watching ``watch``."""
        self._check_open()
        return MemoryTransaction(self.backend, ns, watch)

    def simulate_concurrent_change(self, ns: str, slot: str) -> None:
        """Make every open transaction watching ``slot`` conflict (test hook).

        Behaves as if another client wrote the slot between watch and commit,
        without changing its value.
        """
        self.backend.notify(ns, slot)

    # -- SessionDocuments -------------------------------------------------------

    async def create_session(
        self,
        session_id: str,
        *,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Create an empty session."""
        self._check_open()
        return self._sessions.create(session_id, label, metadata)

    async def fork_session(
        self,
        parent_id: str,
        session_id: str,
        *,
        at: int | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Fork a session in O(1)."""
        self._check_open()
        return self._sessions.fork(parent_id, session_id, at, label, metadata)

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[str],
        *,
        expected_length: int,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Append messages if the length is as expected."""
        self._check_open()
        return self._sessions.replace(session_id, None, messages, expected_length, label, metadata)

    async def replace_messages(
        self,
        session_id: str,
        start: int,
        messages: Sequence[str],
        *,
        expected_length: int,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Truncate at ``start`` and append."""
        self._check_open()
        return self._sessions.replace(session_id, start, messages, expected_length, label, metadata)

    async def read_messages(self, session_id: str, *, last: int | None = None) -> list[str]:
        """Return the messages of a session (or the last ``last``)."""
        self._check_open()
        return self._sessions.read(session_id, last)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """Return a session record or ``None``."""
        self._check_open()
        return self._sessions.get(session_id)

    async def list_sessions(self, *, limit: int = 50, cursor: str | None = None) -> SessionPage:
        """List session records newest first."""
        self._check_open()
        return self._sessions.list(limit, cursor)

    async def update_session(
        self,
        session_id: str,
        *,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Replace label and/or metadata."""
        self._check_open()
        return self._sessions.update(session_id, label, metadata)

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session; its forks keep their messages."""
        self._check_open()
        return self._sessions.delete(session_id)

    async def destroy(self) -> None:
        """Drop every slot and session of this store's backend."""
        self._check_open()
        self.backend.clear()
        self._sessions.clear()


def _open(url: StoreURL, options: Mapping[str, Any]) -> Store:
    return MemoryStore(url)


_DRIVER = Driver(name="memory", open=_open, options=(), distribution="unistore")


@hookimpl
def unistore_driver(scheme: str) -> Driver | None:
    """Provide the memory driver for ``memory://`` URLs."""
    return _DRIVER if scheme == "memory" else None
