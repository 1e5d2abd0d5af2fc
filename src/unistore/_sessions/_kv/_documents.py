"""KVSessionDocuments: SessionDocuments for any store with hashes and optimistic transactions.

It implements the whole :class:`~unistore.protocols.SessionDocuments` protocol
with nothing but the Hash and Transactions capabilities of another store, so
that a third-party driver gets sessions without writing them. The slot layout
is in :mod:`._layout`, the listing index in :mod:`._index`, the transactions
in :mod:`._ops`, their retries in :mod:`._retry`.

Every mutation is one transaction in the sessions namespace, watching the
``meta`` slots it relies on, retried a bounded number of times when another
writer wins. A failed ``expected_length`` check is a
:class:`~unistore.errors.SessionConflictError` and is not retried.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Final

from unistore._sessions._kv._index import list_page
from unistore._sessions._kv._layout import DEFAULT_CHUNK_SIZE, DEFAULT_NAMESPACE, DEFAULT_SLOT_TTL
from unistore._sessions._kv._ops import KVSessionStore, Operations
from unistore._sessions._kv._retry import Runner
from unistore._sessions._kv._storage import MessageStorage
from unistore.errors import NotSupportedError, ValidationError
from unistore.protocols import Capability, NamespaceLifecycle, SessionPage, SessionRecord
from unistore.sdk import (
    ForkRequest,
    MessageWrite,
    SessionDocumentsBase,
    check_count,
    check_id,
    check_ttl,
)

__all__ = ["DEFAULT_MAX_ATTEMPTS", "KVSessionDocuments"]

#: Attempts of one operation before it gives up with ContentionError.
DEFAULT_MAX_ATTEMPTS: Final = 10

_REQUIRED = (Capability.HASH, Capability.TRANSACTIONS)
_SID = "a session id"


class KVSessionDocuments(SessionDocumentsBase):
    """The SessionDocuments protocol on top of a store's hashes and transactions.

    A store that has Hash and Transactions (KeyValue, TTL and
    NamespaceLifecycle are optional) gets durable sessions by delegating to
    one of these; an SDK store gets them by inheriting
    :class:`~unistore.KVSessionDocumentsMixin`, which does the delegating.

    It is a :class:`~unistore.sdk.SessionDocumentsBase`: the SDK's public
    methods check the arguments, and its ``_``-prefixed primitives (which the
    mixin delegates to) take checked ones. Closing it closes nothing: the
    store stays the caller's.

    All data lives in one namespace of the store (``namespace``); keep it
    apart from the application's namespaces. Appends write only the new
    messages; forks are O(1); listing reads a small index, never messages.

    Args:
        store: The store to keep sessions in.
        namespace: The namespace reserved for sessions.
        chunk_size: Messages per hash slot.
        max_attempts: Tries of one operation when concurrent writers keep
            winning, before :class:`~unistore.errors.ContentionError`.
        slot_ttl: The expiry given to every slot (the KV contract has no write
            without one). The default, 100 years, means sessions never expire;
            a shorter one would let parts of a session vanish independently.

    Raises:
        NotSupportedError: The store does not declare Hash and Transactions.
        ValidationError: An argument is out of range.
    """

    def __init__(
        self,
        store: KVSessionStore,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        slot_ttl: float = DEFAULT_SLOT_TTL,
    ) -> None:
        missing = [cap.value for cap in _REQUIRED if cap not in store.capabilities]
        if missing:
            raise NotSupportedError(
                f"generic sessions need a store with {', '.join(missing)} "
                f"({type(store).__name__} does not declare them)"
            )
        namespace = check_id(namespace, "namespace")
        if check_count(chunk_size, "chunk_size") < 1:
            raise ValidationError("chunk_size must be at least 1")
        if check_count(max_attempts, "max_attempts") < 1:
            raise ValidationError("max_attempts must be at least 1")
        ttl = check_ttl(slot_ttl)
        super().__init__(store.url)
        self._store = store
        self._ns = namespace
        self._ops = Operations(store, namespace, MessageStorage(chunk_size, ttl), ttl)
        self._runner = Runner(max_attempts)

    @property
    def namespace(self) -> str:
        """The namespace holding the sessions."""
        return self._ns

    def __repr__(self) -> str:
        return f"<{type(self).__name__} on {self._store!r} namespace={self._ns!r}>"

    # -- the SessionDocumentsBase primitives (checked arguments) ---------------------

    async def _create_session(
        self, session_id: str, label: str | None, metadata: dict[str, Any] | None
    ) -> SessionRecord:
        attempt = partial(self._ops.create, session_id, label, metadata or {})
        return await self._runner.run(attempt, session_id)

    async def _fork_session(self, fork: ForkRequest) -> SessionRecord:
        attempt = partial(
            self._ops.fork,
            fork.parent_id,
            fork.session_id,
            fork.at,
            fork.label,
            fork.metadata or {},
        )
        return await self._runner.run(attempt, fork.session_id)

    async def _write_messages(self, write: MessageWrite) -> SessionRecord:
        attempt = partial(self._ops.replace, write)
        edit = write.start is not None and write.start != write.expected_length
        return await self._runner.run(attempt, write.session_id, hinted=edit)

    async def _read_messages(self, session_id: str, last: int | None) -> list[str]:
        attempt = partial(self._ops.read, session_id, last)
        return await self._runner.run(attempt, session_id, hinted=True)

    async def _get_session(self, session_id: str) -> SessionRecord | None:
        return await self._ops.get(session_id)

    async def _list_sessions(self, limit: int, cursor: str | None) -> SessionPage:
        return await list_page(self._store, self._ns, limit, cursor)

    async def _update_session(
        self, session_id: str, label: str | None, metadata: dict[str, Any] | None
    ) -> SessionRecord:
        attempt = partial(self._ops.update, session_id, label, metadata)
        return await self._runner.run(attempt, session_id)

    async def _delete_session(self, session_id: str) -> bool:
        attempt = partial(self._ops.delete, session_id)
        existed = await self._runner.run(attempt, session_id, hinted=True)
        self._runner.forget(session_id)
        return existed

    # -- housekeeping -------------------------------------------------------------

    async def clear(self) -> None:
        """Delete every session at once, without materialising forks.

        Meant for tests and teardown: readers running meanwhile may fail.
        Purges the namespace when the store declares NamespaceLifecycle;
        otherwise walks the listing index.
        """
        store = self._store
        if Capability.NAMESPACE_LIFECYCLE in store.capabilities and isinstance(
            store, NamespaceLifecycle
        ):
            await store.purge(self._ns)
            return
        while True:
            page = await self._list_sessions(100, None)
            if not page.items:
                return
            for record in page.items:
                await self._runner.run(partial(self._ops.drop, record), record.id)
