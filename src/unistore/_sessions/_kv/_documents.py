"""KVSessionDocuments: SessionDocuments for any store with hashes and optimistic transactions.

It implements the whole :class:`~unistore.protocols.SessionDocuments` protocol
with nothing but the Hash and Transactions capabilities of another store, so
that a third-party driver gets sessions without writing them. The slot layout
is in :mod:`._layout`, the listing index in :mod:`._index`, the transactions
in :mod:`._ops`, their retries in :mod:`._retry`.

Every mutation is one transaction in the sessions namespace, watching the
``meta`` slots it relies on, retried a bounded number of times when another
writer wins. A failed ``expected_length`` check is a
:class:`~unistore.errors.SessionConflictError` and is not retried; an append
without one is retried like any other conflict, so concurrent appends all
land.

Retention: a session's expiry stamp is in its record (on the store's clock).
An expired session is absent for every call; the first call that meets it,
or a listing that walks past it, reclaims it with a delete (its forks get
their own copy of what they share first). Slots themselves never expire, so
nothing a fork shares can vanish on its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any, Final, TypeVar

from unistore._sessions._kv._index import forget_if_empty, list_page
from unistore._sessions._kv._layout import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_NAMESPACE,
    SCOPES_SLOT,
    Names,
)
from unistore._sessions._kv._ops import Clock, KVSessionStore, Operations
from unistore._sessions._kv._retry import Runner
from unistore._sessions._kv._storage import Expired, Hints, MessageStorage
from unistore.errors import ContentionError, NotSupportedError, ValidationError
from unistore.protocols import Capability, NamespaceLifecycle, SessionPage, SessionRecord
from unistore.sdk import (
    ForkRequest,
    MessageWrite,
    NewSession,
    PopRequest,
    SessionDocumentsBase,
    check_count,
    check_id,
    check_ttl,
    session_not_found,
)

__all__ = ["DEFAULT_MAX_ATTEMPTS", "KVSessionDocuments"]

#: Attempts of one operation before it gives up with ContentionError.
DEFAULT_MAX_ATTEMPTS: Final = 10

_REQUIRED = (Capability.HASH, Capability.TRANSACTIONS)

#: Scopes whose operations objects are kept (the oldest is dropped first).
_SCOPES_KEPT: Final = 256

#: Reclaims of expired sessions one call may run before it gives up on the
#: session (each reclaim removes one, so a second is already a rare race).
_RECLAIMS: Final = 3

_T = TypeVar("_T")

Step = Callable[[Operations, Hints], Awaitable[_T]]


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
    messages; forks are O(1); listing reads a small per-scope index, never
    messages. Session retention (``ttl=``) is measured on the store's
    ``clock`` attribute when it has one (every SDK store does), else on the
    system clock.

    Args:
        store: The store to keep sessions in.
        namespace: The namespace reserved for sessions.
        chunk_size: Messages per hash slot.
        max_attempts: Tries of one operation when concurrent writers keep
            winning, before :class:`~unistore.errors.ContentionError`.
        slot_ttl: The expiry given to every slot, or ``None`` (the default):
            slots never expire. Sessions expire through their own ``ttl``, not
            through this; a finite one only bounds how long abandoned data can
            outlive a store nobody writes to, and parts of a session written
            at different times then vanish independently.

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
        slot_ttl: float | None = None,
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
        self._slot_ttl = None if slot_ttl is None else check_ttl(slot_ttl)
        super().__init__(store.url)
        self._store = store
        self._ns = namespace
        self._chunk = chunk_size
        self._time = Clock(store)
        self._scoped: dict[str, Operations] = {}
        self._runner = Runner(max_attempts)

    @property
    def namespace(self) -> str:
        """The namespace holding the sessions."""
        return self._ns

    def __repr__(self) -> str:
        return f"<{type(self).__name__} on {self._store!r} namespace={self._ns!r}>"

    def _ops(self, scope: str) -> Operations:
        ops = self._scoped.get(scope)
        if ops is None:
            if len(self._scoped) >= _SCOPES_KEPT:
                del self._scoped[next(iter(self._scoped))]
            names = Names.of(scope)
            storage = MessageStorage(names, self._chunk, self._slot_ttl)
            ops = Operations(self._store, self._ns, storage, self._slot_ttl, self._time)
            self._scoped[scope] = ops
        return ops

    async def _run(
        self, scope: str, session_id: str, step: Step[_T], *, hinted: bool = False
    ) -> _T:
        """Run one operation, reclaiming the expired sessions it meets, then again."""
        ops = self._ops(scope)
        for _ in range(_RECLAIMS):
            try:
                return await self._runner.run(
                    partial(step, ops), session_id, ops.names, hinted=hinted
                )
            except Expired as gone:
                await self._reclaim(ops, gone.session_id)
        # Each reclaim deleted the session it met; meeting one every time means
        # it keeps being recreated and expiring, so for this call it is gone.
        raise session_not_found(session_id)

    async def _reclaim(self, ops: Operations, session_id: str) -> None:
        """Delete an expired session the way a delete does (forks keep their messages)."""
        step = partial(ops.delete, session_id, expired_only=True)
        await self._runner.run(step, session_id, ops.names, hinted=True)
        self._runner.forget(ops.names, session_id)

    # -- the SessionDocumentsBase primitives (checked arguments) ---------------------

    async def _create_session(self, new: NewSession) -> SessionRecord:
        return await self._run(new.scope, new.session_id, lambda ops, hints: ops.create(new, hints))

    async def _fork_session(self, fork: ForkRequest) -> SessionRecord:
        return await self._run(
            fork.scope, fork.session_id, lambda ops, hints: ops.fork(fork, hints)
        )

    async def _write_messages(self, write: MessageWrite) -> int:
        edit = write.start is not None and write.start != write.expected_length
        return await self._run(
            write.scope,
            write.session_id,
            lambda ops, hints: ops.replace(write, hints),
            hinted=edit,
        )

    async def _pop_messages(self, pop: PopRequest) -> list[str]:
        return await self._run(
            pop.scope, pop.session_id, lambda ops, hints: ops.pop(pop, hints), hinted=True
        )

    async def _read_messages(self, session_id: str, last: int | None, scope: str) -> list[str]:
        return await self._run(
            scope, session_id, lambda ops, hints: ops.read(session_id, last, hints), hinted=True
        )

    async def _get_session(self, session_id: str, scope: str) -> SessionRecord | None:
        ops = self._ops(scope)
        meta = await ops.get(session_id)
        if meta is None:
            return None
        if meta.expired(ops.now()):
            # Gone either way; a busy reclaim is left to the next call.
            with contextlib.suppress(ContentionError):
                await self._reclaim(ops, session_id)
            return None
        return meta.record()

    async def _list_sessions(self, limit: int, cursor: str | None, scope: str) -> SessionPage:
        ops = self._ops(scope)
        listing = await list_page(self._store, self._ns, ops.names, limit, cursor, ops.now())
        for record in listing.expired:
            # Busy: the next call that meets it reclaims it.
            with contextlib.suppress(ContentionError):
                await self._reclaim(ops, record.id)
        return listing.page

    async def _update_session(
        self, session_id: str, label: str | None, metadata: dict[str, Any] | None, scope: str
    ) -> SessionRecord:
        return await self._run(
            scope, session_id, lambda ops, hints: ops.update(session_id, label, metadata, hints)
        )

    async def _delete_session(self, session_id: str, scope: str) -> bool:
        existed = await self._run(
            scope, session_id, lambda ops, hints: ops.delete(session_id, hints), hinted=True
        )
        self._runner.forget(self._ops(scope).names, session_id)
        return existed

    async def _scopes(self) -> AsyncIterator[str]:
        store, ns = self._store, self._ns
        if await store.hkeys(ns, Names.of("").index):
            yield ""
        for field in await store.hkeys(ns, SCOPES_SLOT):
            names = Names.of(Names.scope_of(field))
            if await store.hkeys(ns, names.index):
                yield names.scope
            else:
                # No period left in its index: no session either. A writer
                # naming the scope again conflicts with (or follows) this.
                await forget_if_empty(store, ns, names.index, SCOPES_SLOT, field)

    # -- housekeeping -------------------------------------------------------------

    async def clear(self) -> None:
        """Delete every session of every scope at once, without materialising forks.

        Meant for tests and teardown: readers running meanwhile may fail.
        Purges the namespace when the store declares NamespaceLifecycle;
        otherwise walks the listing index of each scope.
        """
        store = self._store
        if Capability.NAMESPACE_LIFECYCLE in store.capabilities and isinstance(
            store, NamespaceLifecycle
        ):
            await store.purge(self._ns)
            return
        fields = await store.hkeys(self._ns, SCOPES_SLOT)
        for scope in ["", *(Names.scope_of(field) for field in fields)]:
            ops = self._ops(scope)
            while True:
                listing = await list_page(store, self._ns, ops.names, 100, None, None)
                if not listing.page.items:
                    break
                for record in listing.page.items:
                    await self._runner.run(partial(ops.drop, record), record.id, ops.names)
        if fields:
            await store.hdel(self._ns, SCOPES_SLOT, fields)
