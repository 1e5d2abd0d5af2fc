"""SessionDocuments for any store with hashes and optimistic transactions.

:class:`KVSessionDocuments` implements the whole
:class:`~unistore.protocols.SessionDocuments` protocol with nothing but the
Hash and Transactions capabilities of another store, so that a third-party
driver gets sessions without writing them. The layout is described in
``_kv_sessions_layout``; the listing index in ``_kv_sessions_index``.

Every mutation is one transaction in the sessions namespace, watching the
``meta`` slots it relies on, retried a bounded number of times when another
writer wins. A failed ``expected_length`` check is a
:class:`~unistore.errors.SessionConflictError` and is not retried.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any, Final, Protocol, TypeVar

from unistore._kv_sessions_index import add_entry, list_page, move_entry, remove_entry
from unistore._kv_sessions_layout import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_NAMESPACE,
    DEFAULT_SLOT_TTL,
    Meta,
    check_id,
    check_int,
    check_label,
    check_messages,
    datetime_to_micros,
    encode_id,
    forks_slot,
    meta_slot,
    now_micros,
    validate_metadata,
)
from unistore._kv_sessions_storage import Hints, Inconsistent, MessageStorage, Restart
from unistore.errors import (
    ContentionError,
    CorruptionError,
    NotSupportedError,
    SessionConflictError,
    SessionExistsError,
    TransactionConflictError,
    ValidationError,
)
from unistore.protocols import (
    Capability,
    Hash,
    NamespaceLifecycle,
    SessionPage,
    SessionRecord,
    Store,
    Transaction,
    Transactions,
)

__all__ = ["KVSessionDocuments", "KVSessionStore"]

_T = TypeVar("_T")

#: Attempts of one operation before it gives up with ContentionError.
DEFAULT_MAX_ATTEMPTS: Final = 10

_REQUIRED = (Capability.HASH, Capability.TRANSACTIONS)

#: Sessions whose watch hints are remembered (the oldest is forgotten first).
_HINTS_KEPT: Final = 1024

_NO_HINTS: Final = Hints()


class KVSessionStore(Store, Hash, Transactions, Protocol):
    """What :class:`KVSessionDocuments` needs of a store: hashes and transactions."""


class KVSessionDocuments:
    """The SessionDocuments protocol on top of a store's hashes and transactions.

    A driver that has Hash and Transactions (KeyValue, TTL and
    NamespaceLifecycle are optional) gets durable sessions by delegating to
    one of these, or by inheriting :class:`KVSessionDocumentsMixin`::

        class MyStore(BaseStore):
            CAPABILITIES = frozenset({..., Capability.SESSION_DOCUMENTS})

            def __init__(self, url):
                super().__init__(url)
                self._sessions = KVSessionDocuments(self)

            async def create_session(self, session_id, **kw):
                return await self._sessions.create_session(session_id, **kw)
            ...

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
        check_id(namespace, "namespace")
        if check_int(chunk_size, "chunk_size") < 1:
            raise ValidationError("chunk_size must be at least 1")
        if check_int(max_attempts, "max_attempts") < 1:
            raise ValidationError("max_attempts must be at least 1")
        if not (isinstance(slot_ttl, int | float) and 0 < slot_ttl < math.inf):
            raise ValidationError("slot_ttl must be a positive finite number of seconds")
        self._store = store
        self._ns = namespace
        self._max_attempts = max_attempts
        self._ttl = float(slot_ttl)
        self._last_stamp = 0
        self._storage = MessageStorage(chunk_size, self._ttl)
        self._hints: dict[str, Hints] = {}

    @property
    def namespace(self) -> str:
        """The namespace holding the sessions."""
        return self._ns

    def __repr__(self) -> str:
        return f"<{type(self).__name__} on {self._store!r} namespace={self._ns!r}>"

    # -- plumbing -----------------------------------------------------------------

    def _stamp(self, after: int = 0) -> int:
        # Increasing per instance and per session, so "most recently updated" is
        # unambiguous here; ties across processes fall back to the id order.
        stamp = max(now_micros(), self._last_stamp + 1, after + 1)
        self._last_stamp = stamp
        return stamp

    def _tx(self, watch: Sequence[str]) -> Transaction:
        return self._store.transaction(self._ns, list(dict.fromkeys(watch)))

    async def _run(
        self,
        attempt: Callable[[Hints], Awaitable[_T]],
        session_id: str,
        *,
        hinted: bool = False,
    ) -> _T:
        """Run ``attempt`` until it commits; ``hinted`` ones start from the last hints.

        Only reads, edits and deletes take hints: what they watch besides the
        session's own record (its forks and bases) is remembered per session,
        which spares the attempt that would only discover it.
        """
        cache = self._hints
        hints = cache.get(session_id, _NO_HINTS) if hinted else _NO_HINTS
        remembered = hints is not _NO_HINTS
        conflict: TransactionConflictError | None = None
        inconsistent = False
        for number in range(1, self._max_attempts + 1):
            try:
                result = await attempt(hints)
            except Restart as restart:
                hints, remembered = restart.hints, False
                inconsistent = isinstance(restart, Inconsistent)
            except TransactionConflictError as exc:
                conflict, inconsistent = exc, False
                if remembered:
                    # They may name sessions no longer involved, whose changes
                    # then conflict for nothing: discover them afresh.
                    hints, remembered = _NO_HINTS, False
                if number < self._max_attempts:
                    await _backoff(number)
            else:
                if hinted:
                    cache.pop(session_id, None)
                    if hints != _NO_HINTS:
                        if len(cache) >= _HINTS_KEPT:
                            del cache[next(iter(cache))]
                        cache[session_id] = hints
                return result
        if inconsistent:
            raise CorruptionError(f"session {session_id[:80]!r} refers to missing data")
        slots = conflict.slots if conflict is not None else (meta_slot(encode_id(session_id)),)
        raise ContentionError(
            f"session {session_id[:80]!r} kept changing; gave up after "
            f"{self._max_attempts} attempts",
            slots=slots,
            attempts=self._max_attempts,
        ) from conflict

    # -- SessionDocuments ---------------------------------------------------------

    async def create_session(
        self,
        session_id: str,
        *,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Create an empty session.

        Raises:
            SessionExistsError: The id is taken.
        """
        check_id(session_id)
        check_label(label)
        data = validate_metadata(metadata) or {}

        async def attempt(hints: Hints) -> SessionRecord:
            slot = meta_slot(encode_id(session_id))
            async with self._tx([slot]) as tx:
                if await tx.hgetall(slot):
                    raise SessionExistsError(
                        f"session {session_id[:80]!r} already exists", session_id=session_id
                    )
                stamp = self._stamp()
                meta = Meta(session_id, label, metadata=data, created=stamp, updated=stamp)
                tx.hset(slot, meta.to_fields(), ttl=self._ttl)
                add_entry(tx, meta, self._ttl)
                await tx.commit()
                return meta.record()

        return await self._run(attempt, session_id)

    async def fork_session(
        self,
        parent_id: str,
        session_id: str,
        *,
        at: int | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Create ``session_id`` sharing the first ``at`` messages of the parent, in O(1).

        Raises:
            SessionNotFoundError: The parent does not exist.
            SessionExistsError: ``session_id`` is taken.
            ValidationError: ``at`` is negative or beyond the parent's length.
        """
        check_id(parent_id, "parent id")
        check_id(session_id)
        check_label(label)
        if at is not None:
            check_int(at, "fork point")
        data = validate_metadata(metadata) or {}
        encoded = encode_id(session_id)

        async def attempt(hints: Hints) -> SessionRecord:
            slot = meta_slot(encoded)
            async with self._tx([slot, meta_slot(encode_id(parent_id))]) as tx:
                parent = await self._storage.load(tx, parent_id)
                if await tx.hgetall(slot):
                    raise SessionExistsError(
                        f"session {session_id[:80]!r} already exists", session_id=session_id
                    )
                point = parent.length if at is None else at
                if not 0 <= point <= parent.length:
                    raise ValidationError(
                        f"fork point must be between 0 and {parent.length}, got {at!r}"
                    )
                base: str | None = None
                if point:
                    # A prefix the parent itself borrows is read from its base
                    # directly, which keeps fork-of-fork chains short.
                    shallow = parent.base is not None and point <= parent.base_point
                    base = parent.base if shallow else parent.id
                stamp = self._stamp()
                child = Meta(
                    session_id,
                    label,
                    parent_id=parent_id,
                    fork_point=point,
                    base=base,
                    base_point=point,
                    metadata=data,
                    created=stamp,
                    updated=stamp,
                    length=point,
                )
                tx.hset(slot, child.to_fields(), ttl=self._ttl)
                if base is not None:
                    tx.hset(forks_slot(encode_id(base)), {encoded: b"%d" % point}, ttl=self._ttl)
                add_entry(tx, child, self._ttl)
                await tx.commit()
                return child.record()

        return await self._run(attempt, session_id)

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[str],
        *,
        expected_length: int,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Append messages if the session has exactly ``expected_length``.

        Writes only the new messages and the record: one transaction whose cost
        does not depend on the session's length.

        Raises:
            SessionNotFoundError: No such session.
            SessionConflictError: The stored length differs; nothing written.
        """
        return await self._replace(session_id, None, messages, expected_length, label, metadata)

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
        """Drop messages from index ``start`` on and append ``messages``.

        Forks that share a dropped message first get their own copy of what
        they share.

        Raises:
            SessionNotFoundError: No such session.
            SessionConflictError: The stored length differs; nothing written.
            ValidationError: ``start`` is negative or beyond the length.
        """
        check_int(start, "start")
        return await self._replace(session_id, start, messages, expected_length, label, metadata)

    async def _replace(
        self,
        session_id: str,
        start: int | None,
        messages: Sequence[str],
        expected_length: int,
        label: str | None,
        metadata: Mapping[str, Any] | None,
    ) -> SessionRecord:
        check_id(session_id)
        texts = check_messages(messages)
        check_int(expected_length, "expected_length")
        check_label(label)
        data = validate_metadata(metadata)
        encoded = encode_id(session_id)

        async def attempt(hints: Hints) -> SessionRecord:
            # An append watches only its own record; an edit also the forks.
            edit = start is not None and start != expected_length
            async with self._tx(self._storage.watch(session_id, hints, forks=edit)) as tx:
                meta = await self._storage.load(tx, session_id)
                if meta.length != expected_length:
                    raise SessionConflictError(
                        f"session {session_id[:80]!r} has {meta.length} messages, "
                        f"expected {expected_length}",
                        session_id=session_id,
                        expected=expected_length,
                        actual=meta.length,
                    )
                cut = meta.length if start is None else start
                if not 0 <= cut <= meta.length:
                    raise ValidationError(
                        f"replace start must be between 0 and {meta.length}, got {start!r}"
                    )
                if cut < meta.length:
                    await self._storage.materialise_forks(tx, meta, cut, hints)
                    self._storage.truncate(tx, meta, cut)
                self._storage.queue_messages(tx, encoded, cut, texts)
                meta.length = cut + len(texts)
                return await self._save(tx, meta, label, data, full=cut != expected_length)

        return await self._run(
            attempt, session_id, hinted=start is not None and start != expected_length
        )

    async def _save(
        self,
        tx: Transaction,
        meta: Meta,
        label: str | None,
        metadata: dict[str, Any] | None,
        *,
        full: bool,
    ) -> SessionRecord:
        """Queue the record's new state and index entry, then commit."""
        changed = {"updated", "length"} | ({"base", "base_point"} if full else set())
        if label is not None:
            meta.label = label
            changed.add("label")
        if metadata is not None:
            meta.metadata = metadata
            changed.add("metadata")
        old_updated = meta.updated
        meta.updated = self._stamp(old_updated)
        fields = {name: value for name, value in meta.to_fields().items() if name in changed}
        tx.hset(meta_slot(meta.encoded), fields, ttl=self._ttl)
        move_entry(tx, meta, old_updated, self._ttl)
        await tx.commit()
        return meta.record()

    async def read_messages(self, session_id: str, *, last: int | None = None) -> list[str]:
        """Return all messages, or only the last ``last`` ones, in order.

        Raises:
            SessionNotFoundError: No such session.
        """
        check_id(session_id)
        if last is not None and check_int(last, "last") < 0:
            raise ValidationError(f"last must be a non-negative int, got {last!r}")

        async def attempt(hints: Hints) -> list[str]:
            async with self._tx(self._storage.watch(session_id, hints, forks=False)) as tx:
                meta = await self._storage.load(tx, session_id)
                lo = 0 if last is None else max(0, meta.length - last)
                if lo >= meta.length:
                    return []
                # Messages the session stores itself need none of its bases.
                own = lo >= meta.base_point
                chain = [meta] if own else await self._storage.chain(tx, meta, hints)
                messages = await self._storage.read_range(tx, chain, lo, meta.length, hints)
                await tx.commit()  # nothing queued: proves the reads were consistent
                return messages

        return await self._run(attempt, session_id, hinted=True)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """Return a session's record, or ``None``."""
        check_id(session_id)
        fields = await self._store.hgetall(self._ns, meta_slot(encode_id(session_id)))
        return Meta.from_fields(fields).record() if fields else None

    async def list_sessions(self, *, limit: int = 50, cursor: str | None = None) -> SessionPage:
        """Return records newest first (by ``updated_at``, then id), paged.

        Reads the listing index only, never a ``meta`` slot or a message.
        """
        return await list_page(self._store, self._ns, limit, cursor)

    async def update_session(
        self,
        session_id: str,
        *,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Replace the label and/or metadata (``None`` keeps the stored one).

        Raises:
            SessionNotFoundError: No such session.
        """
        check_id(session_id)
        check_label(label)
        data = validate_metadata(metadata)

        async def attempt(hints: Hints) -> SessionRecord:
            async with self._tx([meta_slot(encode_id(session_id))]) as tx:
                meta = await self._storage.load(tx, session_id)
                return await self._save(tx, meta, label, data, full=False)

        return await self._run(attempt, session_id)

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session after giving each of its forks its own messages.

        Returns:
            Whether the session existed.
        """
        check_id(session_id)
        encoded = encode_id(session_id)

        async def attempt(hints: Hints) -> bool:
            async with self._tx(self._storage.watch(session_id, hints, forks=True)) as tx:
                fields = await tx.hgetall(meta_slot(encoded))
                if not fields:
                    return False
                meta = Meta.from_fields(fields)
                await self._storage.materialise_forks(tx, meta, 0, hints)
                self._storage.queue_drop(tx, encoded, meta.base_point, meta.length)
                tx.delete(meta_slot(encoded))
                tx.delete(forks_slot(encoded))
                if meta.base is not None:
                    tx.hdel(forks_slot(encode_id(meta.base)), [encoded])
                remove_entry(tx, encoded, meta.updated)
                await tx.commit()
                return True

        existed = await self._run(attempt, session_id, hinted=True)
        self._hints.pop(session_id, None)
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
            page = await self.list_sessions(limit=100)
            if not page.items:
                return
            for record in page.items:
                await self._run(partial(self._drop, record), record.id)

    async def _drop(self, record: SessionRecord, hints: Hints) -> None:
        encoded = encode_id(record.id)
        async with self._tx([meta_slot(encoded)]) as tx:
            fields = await tx.hgetall(meta_slot(encoded))
            if fields:
                meta = Meta.from_fields(fields)
                self._storage.queue_drop(tx, encoded, meta.base_point, meta.length)
                tx.delete(meta_slot(encoded))
                tx.delete(forks_slot(encoded))
            remove_entry(tx, encoded, datetime_to_micros(record.updated_at))
            await tx.commit()


async def _backoff(attempt: int) -> None:
    # Imported here: asyncio and random are only needed once writers collide,
    # and `import unistore` stays cheap.
    import asyncio
    import random

    await asyncio.sleep(random.uniform(0, 0.001 * attempt))
