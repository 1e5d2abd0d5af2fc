"""The blocking namespaced store: the async one, run on its store's event loop."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar, overload

from unistore._namespaced._cas import CasOps
from unistore._namespaced._cas import CasSnapshot as AsyncCasSnapshot
from unistore._namespaced._checks import TTLArg
from unistore._namespaced._handle import Namespace as AsyncNamespace
from unistore._namespaced._store import NamespacedStore as AsyncNamespacedStore
from unistore._url import StoreURL
from unistore.errors import ValidationError
from unistore.sync._runner import Runner
from unistore.sync._store import Store, connect

__all__ = ["CasSnapshot", "Namespace", "NamespacedStore"]

V = TypeVar("V", str, bytes)
T = TypeVar("T")


def open_sync_store(store: object, owner: str) -> tuple[Store, bool]:
    """Return the blocking store for a URL (opened, owned) or a blocking store (borrowed)."""
    if isinstance(store, str | StoreURL):
        return connect(store), True
    if isinstance(store, Store):
        return store, False
    raise ValidationError(
        f"{owner} takes a URL or a unistore.sync.Store (from unistore.sync.connect), "
        f"got {type(store).__name__}; an async store belongs to its event loop"
    )


class NamespacedStore(Generic[V]):
    """Blocking twin of :class:`unistore.NamespacedStore`: same arguments and errors.

    Safe to share between threads (a threaded WSGI server's workers, say).
    Called inside a running event loop, its methods raise
    :class:`~unistore.EventLoopError`.

    Args:
        store: A store URL (opened here and closed by :meth:`close`) or a
            :class:`unistore.sync.Store` (borrowed: never closed here).
        prefix: Scopes the whole application: 1 to 64 ASCII letters, digits
            or dashes.
        default_ttl: Expiry of every write that does not pass its own
            ``ttl``: seconds or a ``timedelta``.
        logger: Where audit events go.
        decode: Return ``str`` values (the default) or, with ``False``, ``bytes``.

    Raises:
        ValidationError: A bad prefix, TTL, logger or store argument.
        NotSupportedError: The store lacks a capability every operation needs.
    """

    @overload
    def __init__(
        self: NamespacedStore[str],
        store: Store | str | StoreURL,
        *,
        prefix: str,
        default_ttl: float | timedelta,
        logger: logging.Logger | None = None,
        decode: Literal[True] = True,
    ) -> None: ...

    @overload
    def __init__(
        self: NamespacedStore[bytes],
        store: Store | str | StoreURL,
        *,
        prefix: str,
        default_ttl: float | timedelta,
        logger: logging.Logger | None = None,
        decode: Literal[False],
    ) -> None: ...

    def __init__(
        self,
        store: Store | str | StoreURL,
        *,
        prefix: str,
        default_ttl: float | timedelta,
        logger: logging.Logger | None = None,
        decode: bool = True,
    ) -> None:
        sync_store, owns = open_sync_store(store, "unistore.sync.NamespacedStore")
        # The async class picks its value type from a literal ``decode``;
        # this one was already picked by the overloads above.
        make: Any = AsyncNamespacedStore
        try:
            self._async: AsyncNamespacedStore[Any] = make(
                sync_store.async_store,
                prefix=prefix,
                default_ttl=default_ttl,
                logger=logger,
                decode=decode,
            )
        except BaseException:
            if owns:
                sync_store.close()
            raise
        self._store = sync_store
        self._owns = owns

    @property
    def store(self) -> Store:
        """The blocking store underneath."""
        return self._store

    @property
    def prefix(self) -> str:
        """The application prefix."""
        return self._async.prefix

    @property
    def default_ttl(self) -> float:
        """The default TTL, in seconds."""
        return self._async.default_ttl

    @property
    def decode(self) -> bool:
        """Whether values are returned as ``str``."""
        return self._async.decode

    def namespace(self, namespace_id: str) -> Namespace[V]:
        """Return the handle of one namespace (no I/O).

        Raises:
            ValidationError: The id is not a non-empty ``str`` within bounds.
        """
        return Namespace(self._async.namespace(namespace_id), self._store.runner)

    def close(self) -> None:
        """Close the store if this object opened it from a URL."""
        if self._owns:
            self._store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<unistore.sync.NamespacedStore prefix={self.prefix!r} store={self._store!r}>"


class Namespace(Generic[V]):
    """Blocking twin of :class:`unistore.Namespace`: same methods, arguments and errors.

    Arguments are checked in the calling thread before anything is sent, so
    a bad one raises :class:`~unistore.ValidationError` with nothing written.
    """

    __slots__ = ("_ns", "_runner")

    def __init__(self, namespace: AsyncNamespace[V], runner: Runner) -> None:
        self._ns: AsyncNamespace[V] = namespace
        self._runner = runner

    @property
    def id(self) -> str:
        """The namespace id."""
        return self._ns.id

    @property
    def store_namespace(self) -> str:
        """The namespace as the driver sees it (``"<prefix>:<id>"``)."""
        return self._ns.store_namespace

    def __repr__(self) -> str:
        return repr(self._ns).replace("<Namespace", "<unistore.sync.Namespace", 1)

    def get(self, slot: str) -> V | None:
        """Blocking :meth:`unistore.Namespace.get`."""
        return self._runner.run(self._ns.get(slot), "await ns.get(...)")

    def set(self, slot: str, value: str | bytes, *, ttl: TTLArg = None) -> None:
        """Blocking :meth:`unistore.Namespace.set`."""
        self._runner.run(self._ns.set(slot, value, ttl=ttl), "await ns.set(...)")

    def delete(self, slot: str) -> bool:
        """Blocking :meth:`unistore.Namespace.delete`."""
        return self._runner.run(self._ns.delete(slot), "await ns.delete(...)")

    def get_many(self, slots: Sequence[str]) -> list[V | None]:
        """Blocking :meth:`unistore.Namespace.get_many`."""
        return self._runner.run(self._ns.get_many(slots), "await ns.get_many(...)")

    def set_many(self, mapping: Mapping[str, str | bytes], *, ttl: TTLArg = None) -> None:
        """Blocking :meth:`unistore.Namespace.set_many`."""
        self._runner.run(self._ns.set_many(mapping, ttl=ttl), "await ns.set_many(...)")

    def delete_many(self, slots: Sequence[str]) -> int:
        """Blocking :meth:`unistore.Namespace.delete_many`."""
        return self._runner.run(self._ns.delete_many(slots), "await ns.delete_many(...)")

    def hget(self, slot: str, field: str) -> V | None:
        """Blocking :meth:`unistore.Namespace.hget`."""
        return self._runner.run(self._ns.hget(slot, field), "await ns.hget(...)")

    def hgetall(self, slot: str) -> dict[str, V]:
        """Blocking :meth:`unistore.Namespace.hgetall`."""
        return self._runner.run(self._ns.hgetall(slot), "await ns.hgetall(...)")

    @overload
    def hset(self, slot: str, field: str, value: str | bytes, /, *, ttl: TTLArg = None) -> int: ...

    @overload
    def hset(
        self, slot: str, mapping: Mapping[str, str | bytes], /, *, ttl: TTLArg = None
    ) -> int: ...

    def hset(self, slot: str, field: Any, *value: Any, ttl: TTLArg = None) -> int:
        """Blocking :meth:`unistore.Namespace.hset`: ``(slot, field, value)`` or ``(slot, map)``."""
        call = self._ns.hset(slot, field, *value, ttl=ttl)
        return self._runner.run(call, "await ns.hset(...)")

    def hdel(self, slot: str, *fields: str) -> int:
        """Blocking :meth:`unistore.Namespace.hdel`."""
        return self._runner.run(self._ns.hdel(slot, *fields), "await ns.hdel(...)")

    def hkeys(self, slot: str) -> list[str]:
        """Blocking :meth:`unistore.Namespace.hkeys`."""
        return self._runner.run(self._ns.hkeys(slot), "await ns.hkeys(...)")

    def incr(self, slot: str, amount: int = 1, *, ttl: TTLArg = None) -> int:
        """Blocking :meth:`unistore.Namespace.incr`."""
        return self._runner.run(self._ns.incr(slot, amount, ttl=ttl), "await ns.incr(...)")

    def ttl(self, slot: str) -> float | None:
        """Blocking :meth:`unistore.Namespace.ttl`."""
        return self._runner.run(self._ns.ttl(slot), "await ns.ttl(...)")

    def slots(self, prefix: str = "") -> list[str]:
        """Blocking :meth:`unistore.Namespace.slots`."""
        return self._runner.run(self._ns.slots(prefix), "await ns.slots(...)")

    def touch(self, *, ttl: TTLArg = None) -> int:
        """Blocking :meth:`unistore.Namespace.touch`."""
        return self._runner.run(self._ns.touch(ttl=ttl), "await ns.touch(...)")

    def purge(self) -> int:
        """Blocking :meth:`unistore.Namespace.purge`."""
        return self._runner.run(self._ns.purge(), "await ns.purge()")

    def with_cas(
        self,
        slots: str | Sequence[str],
        fn: Callable[[CasSnapshot[V], CasOps], T],
        *,
        max_retries: int = 3,
    ) -> T:
        """Blocking :meth:`unistore.Namespace.with_cas`; ``fn`` is a plain function.

        ``fn(snapshot, ops)`` runs in a worker thread (never on the store's
        loop, so its blocking reads can be served); it may run several
        times, as in the async version: keep its side effects idempotent.

        Raises:
            ContentionError: Every run met a conflict.
            ValidationError: ``fn`` is not callable, or is a coroutine function.
        """
        if not callable(fn):
            raise ValidationError(f"with_cas needs a callable, got {type(fn).__name__}")
        if inspect.iscoroutinefunction(fn):
            raise ValidationError(
                "unistore.sync with_cas takes a plain function; "
                "for a coroutine function use the async Namespace.with_cas"
            )
        runner = self._runner

        async def run_in_thread(snapshot: AsyncCasSnapshot[V], ops: CasOps) -> T:
            # fn's blocking calls come back to this loop while it waits for them.
            runner.loop.mark_inside()
            return await asyncio.to_thread(fn, CasSnapshot(snapshot, runner), ops)

        call = self._ns.with_cas(slots, run_in_thread, max_retries=max_retries)
        return runner.run(call, "await ns.with_cas(...)")


class CasSnapshot(Generic[V]):
    """Blocking twin of :class:`unistore.CasSnapshot`: the watched slots as of the watch."""

    __slots__ = ("_runner", "_snapshot")

    def __init__(self, snapshot: AsyncCasSnapshot[V], runner: Runner) -> None:
        self._snapshot: AsyncCasSnapshot[V] = snapshot
        self._runner = runner

    def get(self, slot: str) -> V | None:
        """Read a watched scalar slot."""
        return self._runner.run(self._snapshot.get(slot), "await snapshot.get(...)")

    def hget(self, slot: str, field: str) -> V | None:
        """Read one field of a watched hash."""
        return self._runner.run(self._snapshot.hget(slot, field), "await snapshot.hget(...)")

    def hgetall(self, slot: str) -> dict[str, V]:
        """Read a watched hash."""
        return self._runner.run(self._snapshot.hgetall(slot), "await snapshot.hgetall(...)")
