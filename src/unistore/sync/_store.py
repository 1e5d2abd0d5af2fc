"""The blocking store: every store method, run on the store's own event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

from unistore._url import StoreURL
from unistore.protocols import Capability, FullStore, SessionPage, SessionRecord, SlotKind
from unistore.protocols import Transaction as AsyncTransaction
from unistore.sync._runner import Runner

T = TypeVar("T")

__all__ = ["Store", "Transaction", "connect"]


def connect(url: str | StoreURL, **options: Any) -> Store:
    """Open a blocking store for ``url``: :func:`unistore.connect`, for code without a loop.

    The store connects lazily, on its own event loop; close it with
    :meth:`Store.close` or a ``with`` block (it is also closed at interpreter
    exit).

    Args:
        url: A store URL such as ``sqlite:///app.db`` or ``redis://localhost:6379/0``.
        **options: Driver options; they override options of the URL query.

    Raises:
        InvalidURLError: The URL is malformed.
        UnknownSchemeError: No driver for the scheme is installed.
        InvalidOptionError: An option is unknown or badly typed.
    """
    from unistore._registry import connect as connect_async

    return Store(connect_async(url, **options))


class Store:
    """A store with blocking methods, safe to share between threads.

    Each method is the blocking twin of the async store method of the same
    name (see :class:`unistore.protocols.FullStore`): same arguments, same
    results, same errors. The async store lives on a private event loop that
    this object owns: a call runs it on the calling thread when it is idle,
    and is handed to the thread running it otherwise; calls from any number
    of threads run concurrently and each waits for its own result.

    Called inside a running event loop, every method raises
    :class:`~unistore.EventLoopError`: use the async API there.

    Args:
        store: The async store to serve; it must not have been used on
            another event loop yet. Prefer :func:`connect`.
    """

    def __init__(self, store: FullStore) -> None:
        self._store = store
        self._runner = Runner("store", store.aclose)

    @property
    def async_store(self) -> FullStore:
        """The async store, for code running on this store's event loop."""
        return self._store

    @property
    def runner(self) -> Runner:
        """The runner of this store's loop (shared by the objects built on it)."""
        return self._runner

    @property
    def url(self) -> StoreURL:
        """The store's URL (its string form is redacted)."""
        return self._store.url

    @property
    def capabilities(self) -> frozenset[Capability]:
        """The capabilities the store declares."""
        return self._store.capabilities

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._runner.closed

    def __repr__(self) -> str:
        return f"<unistore.sync.Store {self._store.url}>"

    def close(self) -> None:
        """Close the store and its loop; calling it again does nothing."""
        self._runner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- key-value, hashes, counters ----------------------------------------------

    def get(self, ns: str, slot: str) -> bytes | None:
        """Blocking :meth:`~unistore.protocols.KeyValue.get`."""
        return self._runner.run(self._store.get(ns, slot), "await store.get(...)")

    def get_text(self, ns: str, slot: str) -> str | None:
        """Blocking :meth:`~unistore.protocols.KeyValue.get_text`."""
        return self._runner.run(self._store.get_text(ns, slot), "await store.get_text(...)")

    def set(self, ns: str, slot: str, value: bytes, *, ttl: float | None) -> None:
        """Blocking :meth:`~unistore.protocols.KeyValue.set`."""
        self._runner.run(self._store.set(ns, slot, value, ttl=ttl), "await store.set(...)")

    def delete(self, ns: str, slot: str) -> bool:
        """Blocking :meth:`~unistore.protocols.KeyValue.delete`."""
        return self._runner.run(self._store.delete(ns, slot), "await store.delete(...)")

    def get_many(self, ns: str, slots: Sequence[str]) -> list[bytes | None]:
        """Blocking :meth:`~unistore.protocols.KeyValue.get_many`."""
        return self._runner.run(self._store.get_many(ns, slots), "await store.get_many(...)")

    def set_many(self, ns: str, mapping: Mapping[str, bytes], *, ttl: float | None) -> None:
        """Blocking :meth:`~unistore.protocols.KeyValue.set_many`."""
        call = self._store.set_many(ns, mapping, ttl=ttl)
        self._runner.run(call, "await store.set_many(...)")

    def delete_many(self, ns: str, slots: Sequence[str]) -> int:
        """Blocking :meth:`~unistore.protocols.KeyValue.delete_many`."""
        call = self._store.delete_many(ns, slots)
        return self._runner.run(call, "await store.delete_many(...)")

    def hget(self, ns: str, slot: str, field: str) -> bytes | None:
        """Blocking :meth:`~unistore.protocols.Hash.hget`."""
        return self._runner.run(self._store.hget(ns, slot, field), "await store.hget(...)")

    def hget_text(self, ns: str, slot: str, field: str) -> str | None:
        """Blocking :meth:`~unistore.protocols.Hash.hget_text`."""
        call = self._store.hget_text(ns, slot, field)
        return self._runner.run(call, "await store.hget_text(...)")

    def hset(self, ns: str, slot: str, mapping: Mapping[str, bytes], *, ttl: float | None) -> int:
        """Blocking :meth:`~unistore.protocols.Hash.hset`."""
        call = self._store.hset(ns, slot, mapping, ttl=ttl)
        return self._runner.run(call, "await store.hset(...)")

    def hdel(self, ns: str, slot: str, fields: Sequence[str]) -> int:
        """Blocking :meth:`~unistore.protocols.Hash.hdel`."""
        return self._runner.run(self._store.hdel(ns, slot, fields), "await store.hdel(...)")

    def hgetall(self, ns: str, slot: str) -> dict[str, bytes]:
        """Blocking :meth:`~unistore.protocols.Hash.hgetall`."""
        return self._runner.run(self._store.hgetall(ns, slot), "await store.hgetall(...)")

    def hkeys(self, ns: str, slot: str) -> list[str]:
        """Blocking :meth:`~unistore.protocols.Hash.hkeys`."""
        return self._runner.run(self._store.hkeys(ns, slot), "await store.hkeys(...)")

    def incr(self, ns: str, slot: str, amount: int = 1, *, ttl: float | None) -> int:
        """Blocking :meth:`~unistore.protocols.Counter.incr`."""
        call = self._store.incr(ns, slot, amount, ttl=ttl)
        return self._runner.run(call, "await store.incr(...)")

    # -- expiry and namespaces ------------------------------------------------------

    def get_ttl(self, ns: str, slot: str) -> float | None:
        """Blocking :meth:`~unistore.protocols.TTL.get_ttl`."""
        return self._runner.run(self._store.get_ttl(ns, slot), "await store.get_ttl(...)")

    def expire(self, ns: str, slot: str, ttl: float) -> bool:
        """Blocking :meth:`~unistore.protocols.TTL.expire`."""
        return self._runner.run(self._store.expire(ns, slot, ttl), "await store.expire(...)")

    def slots(self, ns: str, prefix: str = "") -> list[str]:
        """Blocking :meth:`~unistore.protocols.NamespaceLifecycle.slots`."""
        return self._runner.run(self._store.slots(ns, prefix), "await store.slots(...)")

    def slot_kind(self, ns: str, slot: str) -> SlotKind | None:
        """Blocking :meth:`~unistore.protocols.NamespaceLifecycle.slot_kind`."""
        call = self._store.slot_kind(ns, slot)
        return self._runner.run(call, "await store.slot_kind(...)")

    def touch(self, ns: str, *, ttl: float) -> int:
        """Blocking :meth:`~unistore.protocols.NamespaceLifecycle.touch`."""
        return self._runner.run(self._store.touch(ns, ttl=ttl), "await store.touch(...)")

    def purge(self, ns: str) -> int:
        """Blocking :meth:`~unistore.protocols.NamespaceLifecycle.purge`."""
        return self._runner.run(self._store.purge(ns), "await store.purge(...)")

    def iter_namespaces(self, prefix: str = "") -> Iterator[str]:
        """Blocking :meth:`~unistore.protocols.NamespaceListing.iter_namespaces`."""
        return self._iterate(self._store.iter_namespaces(prefix), "store.iter_namespaces()")

    def transaction(self, ns: str, watch: Sequence[str]) -> Transaction:
        """Blocking :meth:`~unistore.protocols.Transactions.transaction`."""
        return Transaction(self._store.transaction(ns, watch), self._runner)

    # -- session documents ------------------------------------------------------------

    def create_session(
        self,
        session_id: str,
        *,
        scope: str | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        ttl: float | None = None,
        messages: Sequence[str] = (),
    ) -> SessionRecord:
        """Blocking :meth:`~unistore.protocols.SessionDocuments.create_session`."""
        call = self._store.create_session(
            session_id, scope=scope, label=label, metadata=metadata, ttl=ttl, messages=messages
        )
        return self._runner.run(call, "await store.create_session(...)")

    def fork_session(
        self,
        parent_id: str,
        session_id: str,
        *,
        at: int | None = None,
        scope: str | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        ttl: float | None = None,
    ) -> SessionRecord:
        """Blocking :meth:`~unistore.protocols.SessionDocuments.fork_session`."""
        call = self._store.fork_session(
            parent_id, session_id, at=at, scope=scope, label=label, metadata=metadata, ttl=ttl
        )
        return self._runner.run(call, "await store.fork_session(...)")

    def append_messages(
        self,
        session_id: str,
        messages: Sequence[str],
        *,
        expected_length: int | None = None,
        token: str | None = None,
        scope: str | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        """Blocking :meth:`~unistore.protocols.SessionDocuments.append_messages`."""
        call = self._store.append_messages(
            session_id,
            messages,
            expected_length=expected_length,
            token=token,
            scope=scope,
            label=label,
            metadata=metadata,
        )
        return self._runner.run(call, "await store.append_messages(...)")

    def replace_messages(
        self,
        session_id: str,
        start: int,
        messages: Sequence[str],
        *,
        expected_length: int,
        token: str | None = None,
        scope: str | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        """Blocking :meth:`~unistore.protocols.SessionDocuments.replace_messages`."""
        call = self._store.replace_messages(
            session_id,
            start,
            messages,
            expected_length=expected_length,
            token=token,
            scope=scope,
            label=label,
            metadata=metadata,
        )
        return self._runner.run(call, "await store.replace_messages(...)")

    def pop_messages(
        self,
        session_id: str,
        n: int = 1,
        *,
        expected_length: int | None = None,
        scope: str | None = None,
    ) -> list[str]:
        """Blocking :meth:`~unistore.protocols.SessionDocuments.pop_messages`."""
        call = self._store.pop_messages(session_id, n, expected_length=expected_length, scope=scope)
        return self._runner.run(call, "await store.pop_messages(...)")

    def read_messages(
        self, session_id: str, *, last: int | None = None, scope: str | None = None
    ) -> list[str]:
        """Blocking :meth:`~unistore.protocols.SessionDocuments.read_messages`."""
        call = self._store.read_messages(session_id, last=last, scope=scope)
        return self._runner.run(call, "await store.read_messages(...)")

    def get_session(self, session_id: str, *, scope: str | None = None) -> SessionRecord | None:
        """Blocking :meth:`~unistore.protocols.SessionDocuments.get_session`."""
        call = self._store.get_session(session_id, scope=scope)
        return self._runner.run(call, "await store.get_session(...)")

    def list_sessions(
        self, *, scope: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> SessionPage:
        """Blocking :meth:`~unistore.protocols.SessionDocuments.list_sessions`."""
        call = self._store.list_sessions(scope=scope, limit=limit, cursor=cursor)
        return self._runner.run(call, "await store.list_sessions(...)")

    def update_session(
        self,
        session_id: str,
        *,
        scope: str | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Blocking :meth:`~unistore.protocols.SessionDocuments.update_session`."""
        call = self._store.update_session(session_id, scope=scope, label=label, metadata=metadata)
        return self._runner.run(call, "await store.update_session(...)")

    def delete_session(self, session_id: str, *, scope: str | None = None) -> bool:
        """Blocking :meth:`~unistore.protocols.SessionDocuments.delete_session`."""
        call = self._store.delete_session(session_id, scope=scope)
        return self._runner.run(call, "await store.delete_session(...)")

    def iter_scopes(self) -> Iterator[str | None]:
        """Blocking :meth:`~unistore.protocols.SessionDocuments.iter_scopes`."""
        return self._iterate(self._store.iter_scopes(), "store.iter_scopes()")

    # -- helpers ------------------------------------------------------------------------

    def _iterate(self, source: AsyncIterator[T], api: str) -> Iterator[T]:
        """Pull an async iterator one item per hand-over; close it if left early."""
        runner = self._runner
        try:
            while True:
                try:
                    yield runner.run(_next(source), f"async for ... in {api}")
                except StopAsyncIteration:
                    return
        finally:
            closer = getattr(source, "aclose", None)
            if closer is not None and not runner.closed:
                runner.run(closer(), f"async for ... in {api}")


async def _next(source: AsyncIterator[T]) -> T:
    return await anext(source)


class Transaction:
    """Blocking twin of :class:`unistore.protocols.Transaction`.

    Use it as a ``with`` block, which watches the slots on entry. Reads block
    and see the state at watch time; writes are queued and applied by
    :meth:`commit` in one atomic step, or not at all. Leaving the block
    without committing discards the queue.
    """

    def __init__(self, tx: AsyncTransaction, runner: Runner) -> None:
        self._tx = tx
        self._runner = runner

    def get(self, slot: str) -> bytes | None:
        """Read a watched slot (its value when the watch began)."""
        return self._runner.run(self._tx.get(slot), "await tx.get(...)")

    def hget(self, slot: str, field: str) -> bytes | None:
        """Read one field of a watched hash."""
        return self._runner.run(self._tx.hget(slot, field), "await tx.hget(...)")

    def hgetall(self, slot: str) -> dict[str, bytes]:
        """Read a watched hash."""
        return self._runner.run(self._tx.hgetall(slot), "await tx.hgetall(...)")

    def set(self, slot: str, value: bytes, *, ttl: float | None) -> None:
        """Queue a write."""
        self._tx.set(slot, value, ttl=ttl)

    def delete(self, slot: str) -> None:
        """Queue a delete."""
        self._tx.delete(slot)

    def hset(self, slot: str, mapping: Mapping[str, bytes], *, ttl: float | None) -> None:
        """Queue a hash write."""
        self._tx.hset(slot, mapping, ttl=ttl)

    def hdel(self, slot: str, fields: Sequence[str]) -> None:
        """Queue the removal of hash fields."""
        self._tx.hdel(slot, fields)

    def commit(self) -> None:
        """Apply the queued writes atomically.

        Raises:
            TransactionConflictError: A watched slot changed; nothing was written.
        """
        self._runner.run(self._tx.commit(), "await tx.commit()")

    def __enter__(self) -> Self:
        self._runner.run(self._tx.__aenter__(), "async with store.transaction(...)")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        call = self._tx.__aexit__(exc_type, exc, tb)
        self._runner.run(call, "async with store.transaction(...)")
