"""The built-in memory driver: ``memory://`` (private) and ``memory://NAME`` (shared).

Every capability, on plain dicts. No primitive awaits in its middle, so each
operation is atomic with respect to the event loop. Stores named
``memory://NAME`` share one backend per process; a nameless ``memory://``
store has its own.

It is registered through the ``unistore.drivers`` entry point like any other
driver and doubles as the test double for the products.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from unistore._memory._sessions import MemorySessions
from unistore._memory._slots import MemoryBackend
from unistore._memory._tx import MemoryTransaction
from unistore._registry import hookimpl
from unistore._url import StoreURL
from unistore.errors import InvalidURLError
from unistore.protocols import Driver, SessionPage, SessionRecord, SlotKind, Store
from unistore.sdk import (
    CLOCK_OPTION,
    CREATE_OPTION,
    ForkRequest,
    FullStoreBase,
    MessageWrite,
    NewSession,
    PopRequest,
)

__all__ = ["MemoryStore", "MemoryTransaction", "unistore_driver"]

_SHARED: dict[str, tuple[MemoryBackend, MemorySessions]] = {}
_SHARED_LOCK = threading.Lock()


class MemoryStore(FullStoreBase):
    """A store kept in this process's memory.

    Args:
        url: ``memory://`` or ``memory://NAME``.
        clock: The wall clock expiry is measured on (default: ``time.time``,
            as on every driver); a test passes a manual one to move time
            forward without sleeping. Stores of one name share one backend and
            so one clock: a store opened with a clock sets it for all of them.
        create: The open mode; memory has nothing to create, so it changes nothing.

    Attributes:
        backend: The slot data (shared between stores of the same name).
    """

    NAME = "memory"
    # Not a database the semantic conventions list: a name of unistore's own.
    DB_SYSTEM = "unistore.memory"

    def __init__(
        self, url: StoreURL, *, clock: Callable[[], float] | None = None, create: bool = True
    ) -> None:
        # Nothing to create: process memory holds no file, folder or schema,
        # so create=False opens the same (possibly empty) store.
        super().__init__(url, clock=clock, create=create)
        if url.path not in ("", "/"):
            raise InvalidURLError(f"memory URL {str(url)!r} takes a name, not a path")
        name = url.host
        if name:
            with _SHARED_LOCK:
                pair = _SHARED.get(name)
                if pair is None:
                    backend = MemoryBackend(self.clock)
                    pair = _SHARED[name] = (backend, MemorySessions(lambda: backend.clock()))
                elif clock is not None:
                    pair[0].clock = clock
        else:
            backend = MemoryBackend(self.clock)
            pair = (backend, MemorySessions(lambda: backend.clock()))
        self.backend, self._sessions = pair

    @property
    def db_server(self) -> None:
        """``None``: the URL's host names a store in this process, not a server."""
        return None

    # -- slots ------------------------------------------------------------------

    async def _get(self, ns: str, slot: str) -> bytes | None:
        return self.backend.get(ns, slot)

    async def _set(self, ns: str, slot: str, value: bytes, ttl: float | None) -> None:
        self.backend.set(ns, slot, value, ttl)

    async def _delete(self, ns: str, slot: str) -> bool:
        return self.backend.delete(ns, slot)

    async def _get_many(self, ns: str, slots: list[str]) -> list[bytes | None]:
        return self.backend.get_many(ns, slots)

    async def _set_many(self, ns: str, mapping: dict[str, bytes], ttl: float | None) -> None:
        self.backend.set_many(ns, mapping, ttl)

    async def _delete_many(self, ns: str, slots: list[str]) -> int:
        return self.backend.delete_many(ns, slots)

    async def _hget(self, ns: str, slot: str, field: str) -> bytes | None:
        return self.backend.hget(ns, slot, field)

    async def _hset(self, ns: str, slot: str, mapping: dict[str, bytes], ttl: float | None) -> int:
        return self.backend.hset(ns, slot, mapping, ttl)

    async def _hdel(self, ns: str, slot: str, fields: list[str]) -> int:
        return self.backend.hdel(ns, slot, fields)

    async def _hgetall(self, ns: str, slot: str) -> dict[str, bytes]:
        return self.backend.hgetall(ns, slot)

    async def _incr(self, ns: str, slot: str, amount: int, ttl: float | None) -> int:
        return self.backend.incr(ns, slot, amount, ttl)

    async def _get_ttl(self, ns: str, slot: str) -> float | None:
        return self.backend.get_ttl(ns, slot)

    async def _expire(self, ns: str, slot: str, ttl: float) -> bool:
        return self.backend.expire(ns, slot, ttl)

    async def _slots(self, ns: str, prefix: str) -> list[str]:
        return self.backend.slots(ns, prefix)

    async def _slot_kind(self, ns: str, slot: str) -> SlotKind | None:
        return self.backend.slot_kind(ns, slot)

    async def _touch(self, ns: str, ttl: float) -> int:
        return self.backend.touch(ns, ttl)

    async def _purge(self, ns: str) -> int:
        return self.backend.purge(ns)

    async def _namespaces(self, prefix: str) -> AsyncIterator[str]:
        for ns in self.backend.namespaces():
            if ns.startswith(prefix) and self.backend.slots(ns):
                yield ns

    def _transaction(self, ns: str, watch: tuple[str, ...]) -> MemoryTransaction:
        return MemoryTransaction(self, self.backend, ns, watch)

    # -- sessions ---------------------------------------------------------------

    async def _create_session(self, new: NewSession) -> SessionRecord:
        return self._sessions.create(new)

    async def _fork_session(self, fork: ForkRequest) -> SessionRecord:
        return self._sessions.fork(fork)

    async def _write_messages(self, write: MessageWrite) -> int:
        return self._sessions.write(write)

    async def _pop_messages(self, pop: PopRequest) -> list[str]:
        return self._sessions.pop(pop)

    async def _read_messages(self, session_id: str, last: int | None, scope: str) -> list[str]:
        return self._sessions.read(session_id, last, scope)

    async def _get_session(self, session_id: str, scope: str) -> SessionRecord | None:
        return self._sessions.get(session_id, scope)

    async def _list_sessions(self, limit: int, cursor: str | None, scope: str) -> SessionPage:
        return self._sessions.page(limit, cursor, scope)

    async def _update_session(
        self, session_id: str, label: str | None, metadata: dict[str, Any] | None, scope: str
    ) -> SessionRecord:
        return self._sessions.update(session_id, label, metadata, scope)

    async def _delete_session(self, session_id: str, scope: str) -> bool:
        return self._sessions.delete(session_id, scope)

    async def _scopes(self) -> AsyncIterator[str]:
        # A snapshot: the caller may create or delete sessions between items.
        for scope in self._sessions.scopes():
            yield scope

    # -- administration ---------------------------------------------------------

    async def destroy(self) -> None:
        """Drop every slot and session of this store's backend."""
        self._check_open()
        self.backend.clear()
        self._sessions.clear()


def _open(url: StoreURL, options: Mapping[str, Any]) -> Store:
    return MemoryStore(url, clock=options.get("clock"), create=options.get("create", True))


_DRIVER = Driver(
    name="memory",
    open=_open,
    options=(CLOCK_OPTION, CREATE_OPTION),
    distribution="unistore",
    schemes=("memory",),
)


@hookimpl
def unistore_driver() -> Driver:
    """Provide the memory driver; the registry matches its declared scheme."""
    return _DRIVER
