"""The transactions of generic session documents, one attempt each, in one scope.

Every method here is one attempt for :class:`~unistore._sessions._kv._retry.Runner`:
it opens a transaction in the sessions namespace watching the ``meta`` slots it
relies on (plus what its :class:`Hints` name), reads, queues its writes and
commits. Arguments are already checked; range checks that need the stored
length (a fork point, a replace start) happen here.

An attempt that meets a session past its expiry raises
:class:`~._storage.Expired` instead of acting on it; the caller reclaims the
session (:meth:`Operations.delete` with ``expired_only``) and runs it again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

from unistore._sessions._kv._index import add_entry, move_entry, remove_entry
from unistore._sessions._kv._layout import Names, encode_id
from unistore._sessions._kv._meta import Meta
from unistore._sessions._kv._storage import Expired, Hints, MessageStorage
from unistore.protocols import Hash, SessionRecord, Store, Transaction, Transactions
from unistore.sdk import (
    ForkRequest,
    MessageWrite,
    NewSession,
    PopRequest,
    datetime_to_micros,
    expiry_micros,
    length_conflict,
    position_error,
    recall_token,
    remember_token,
    session_exists,
)

__all__ = ["Clock", "KVSessionStore", "Operations"]


class KVSessionStore(Store, Hash, Transactions, Protocol):
    """What generic session documents need of a store: hashes and transactions."""


class Clock:
    """The time of one store's sessions: stamps and expiry, in microseconds.

    It reads the store's ``clock`` (the wall clock an SDK store measures expiry
    on, which a test may replace with a manual one) at every call, and the
    system time for a store without one.
    """

    def __init__(self, store: object) -> None:
        self._store = store
        self._last_stamp = 0

    def now(self) -> int:
        """Return the current time in microseconds since the epoch."""
        clock = getattr(self._store, "clock", None)
        seconds = clock() if callable(clock) else time.time()
        return round(seconds * 1_000_000)

    def stamp(self, now: int, after: int = 0) -> int:
        """Return an ``updated`` stamp for a write at ``now`` of a record stamped ``after``."""
        # Increasing per instance and per session, so "most recently updated" is
        # unambiguous here; ties across processes fall back to the id order.
        stamp = max(now, self._last_stamp + 1, after + 1)
        self._last_stamp = stamp
        return stamp


class Operations:
    """The attempts of every session operation, on one store, namespace and scope.

    Args:
        store: The store holding the sessions.
        namespace: The namespace reserved for them.
        storage: Message chunk reads and writes of the scope.
        ttl: The expiry written with every slot (``None``: never).
        clock: The stamps and time shared by every scope.
    """

    def __init__(
        self,
        store: KVSessionStore,
        namespace: str,
        storage: MessageStorage,
        ttl: float | None,
        clock: Clock,
    ) -> None:
        self.store = store
        self.ns = namespace
        self.names: Names = storage.names
        self._storage = storage
        self._ttl = ttl
        self._clock = clock

    def _tx(self, watch: Sequence[str]) -> Transaction:
        return self.store.transaction(self.ns, list(dict.fromkeys(watch)))

    def now(self) -> int:
        """Return the current time in microseconds (the store's clock)."""
        return self._clock.now()

    async def create(self, new: NewSession, hints: Hints) -> SessionRecord:
        """Create a session with its first messages, refusing a taken id."""
        session_id = new.session_id
        encoded = encode_id(session_id)
        slot = self.names.meta(encoded)
        async with self._tx([slot]) as tx:
            now = self.now()
            existing = await self._storage.find(tx, session_id)
            if existing is not None:
                raise Expired(session_id) if existing.expired(now) else session_exists(session_id)
            stamp = self._clock.stamp(now)
            meta = Meta(
                session_id,
                new.label,
                metadata=new.metadata or {},
                created=stamp,
                updated=stamp,
                ttl=new.ttl,
                expires=expiry_micros(now, new.ttl),
                scope=self.names.scope,
                length=len(new.messages),
            )
            # The messages commit with the record: a session never exists without them.
            self._storage.queue_messages(tx, encoded, 0, new.messages)
            tx.hset(slot, meta.to_fields(), ttl=self._ttl)
            add_entry(tx, self.names, meta, self._ttl)
            await tx.commit()
            return meta.record()

    async def fork(self, fork: ForkRequest, hints: Hints) -> SessionRecord:
        """Create a fork pointing at its parent's first ``at`` messages (copies nothing)."""
        names, parent_id, session_id = self.names, fork.parent_id, fork.session_id
        encoded = encode_id(session_id)
        slot = names.meta(encoded)
        async with self._tx([slot, names.meta(encode_id(parent_id))]) as tx:
            now = self.now()
            parent = await self._storage.load(tx, parent_id, now)
            existing = await self._storage.find(tx, session_id)
            if existing is not None:
                raise Expired(session_id) if existing.expired(now) else session_exists(session_id)
            point = parent.length if fork.at is None else fork.at
            if point > parent.length:
                raise position_error("fork point", parent.length, fork.at)
            base: str | None = None
            if point:
                # A prefix the parent itself borrows is read from its base
                # directly, which keeps fork-of-fork chains short.
                shallow = parent.base is not None and point <= parent.base_point
                base = parent.base if shallow else parent.id
            stamp = self._clock.stamp(now)
            child = Meta(
                session_id,
                fork.label,
                parent_id=parent_id,
                fork_point=point,
                base=base,
                base_point=point,
                metadata=fork.metadata or {},
                created=stamp,
                updated=stamp,
                length=point,
                ttl=fork.ttl,
                expires=expiry_micros(now, fork.ttl),
                scope=names.scope,
            )
            tx.hset(slot, child.to_fields(), ttl=self._ttl)
            if base is not None:
                tx.hset(names.forks(encode_id(base)), {encoded: b"%d" % point}, ttl=self._ttl)
            add_entry(tx, names, child, self._ttl)
            await tx.commit()
            return child.record()

    async def replace(self, write: MessageWrite, hints: Hints) -> int:
        """Append (``start is None``) or truncate at ``start`` and append; return the length.

        A write whose token the session remembers returns the length it
        produced then, before any length check, and changes nothing.
        """
        session_id, start, expected_length = write.session_id, write.start, write.expected_length
        encoded = encode_id(session_id)
        # An append watches only its own record; an edit also the forks.
        edit = start is not None and start != expected_length
        async with self._tx(self._storage.watch(session_id, hints, forks=edit)) as tx:
            now = self.now()
            meta = await self._storage.load(tx, session_id, now)
            done = recall_token(meta.tokens, write.token)
            if done is not None:
                return done
            length = meta.length
            if expected_length is not None and length != expected_length:
                raise length_conflict(session_id, expected_length, length)
            cut = length if start is None else start
            if cut > length:
                raise position_error("replace start", length, start)
            if cut < length:
                await self._storage.materialise_forks(tx, meta, cut, hints)
                self._storage.truncate(tx, meta, cut)
            self._storage.queue_messages(tx, encoded, cut, write.messages)
            meta.length = cut + len(write.messages)
            remember_token(meta.tokens, write.token, meta.length)
            changed = {"tokens"} if write.token is not None else set()
            if cut != length:
                changed |= {"base", "base_point"}
            await self._save(tx, meta, write.label, write.metadata, now, changed)
            return meta.length

    async def pop(self, pop: PopRequest, hints: Hints) -> list[str]:
        """Remove the last ``pop.n`` messages and return them in order."""
        session_id = pop.session_id
        async with self._tx(self._storage.watch(session_id, hints, forks=True)) as tx:
            now = self.now()
            meta = await self._storage.load(tx, session_id, now)
            length = meta.length
            if pop.expected_length is not None and length != pop.expected_length:
                raise length_conflict(session_id, pop.expected_length, length)
            cut = max(0, length - pop.n)
            popped: list[str] = []
            if cut < length:
                own = cut >= meta.base_point
                chain = [meta] if own else await self._storage.chain(tx, meta, hints)
                popped = await self._storage.read_range(tx, chain, cut, length, hints)
                await self._storage.materialise_forks(tx, meta, cut, hints)
                self._storage.truncate(tx, meta, cut)
            changed = {"base", "base_point"} if cut < length else set()
            await self._save(tx, meta, None, None, now, changed)
            return popped

    async def update(
        self,
        session_id: str,
        label: str | None,
        metadata: dict[str, Any] | None,
        hints: Hints,
    ) -> SessionRecord:
        """Replace the label and/or metadata (``None`` keeps the stored one)."""
        async with self._tx([self.names.meta(encode_id(session_id))]) as tx:
            now = self.now()
            meta = await self._storage.load(tx, session_id, now)
            await self._save(tx, meta, label, metadata, now, set())
            return meta.record()

    async def _save(
        self,
        tx: Transaction,
        meta: Meta,
        label: str | None,
        metadata: dict[str, Any] | None,
        now: int,
        changed: set[str],
    ) -> None:
        """Queue the record's new state and index entry, then commit.

        ``changed`` names the fields the caller changed besides those every
        write changes (the stamp, the length, the expiry) and label/metadata.
        """
        changed |= {"updated", "length"}
        if label is not None:
            meta.label = label
            changed.add("label")
        if metadata is not None:
            meta.metadata = metadata
            changed.add("metadata")
        if meta.ttl is not None:
            # Every write restarts the retention period.
            meta.expires = expiry_micros(now, meta.ttl)
            changed.add("expires")
        old_updated = meta.updated
        meta.updated = self._clock.stamp(now, old_updated)
        fields = {name: value for name, value in meta.to_fields().items() if name in changed}
        tx.hset(self.names.meta(meta.encoded), fields, ttl=self._ttl)
        move_entry(tx, self.names, meta, old_updated, self._ttl)
        await tx.commit()

    async def get(self, session_id: str) -> Meta | None:
        """Return a session's stored record, expired or not (one read, no transaction)."""
        fields = await self.store.hgetall(self.ns, self.names.meta(encode_id(session_id)))
        return Meta.from_fields(fields, self.names.scope) if fields else None

    async def read(self, session_id: str, last: int | None, hints: Hints) -> list[str]:
        """Return all messages, or the last ``last`` ones, as one consistent snapshot."""
        async with self._tx(self._storage.watch(session_id, hints, forks=False)) as tx:
            meta = await self._storage.load(tx, session_id, self.now())
            # The tail starts ``last`` messages before the end, or at 0 when the
            # session is shorter than that.
            lo = 0 if last is None else max(0, meta.length - last)
            if lo >= meta.length:
                return []
            # Messages the session stores itself need none of its bases.
            own = lo >= meta.base_point
            chain = [meta] if own else await self._storage.chain(tx, meta, hints)
            messages = await self._storage.read_range(tx, chain, lo, meta.length, hints)
            await tx.commit()  # nothing queued: proves the reads were consistent
            return messages

    async def delete(self, session_id: str, hints: Hints, *, expired_only: bool = False) -> bool:
        """Delete a session after giving each of its forks its own messages.

        With ``expired_only`` (reclaiming), a session that is not past its
        expiry is left alone: it may be a new one made under the same id.

        Returns:
            Whether a live session was deleted (reclaiming an expired one is not).
        """
        names = self.names
        encoded = encode_id(session_id)
        async with self._tx(self._storage.watch(session_id, hints, forks=True)) as tx:
            meta = await self._storage.find(tx, session_id)
            if meta is None:
                return False
            expired = meta.expired(self.now())
            if expired_only and not expired:
                return False
            await self._storage.materialise_forks(tx, meta, 0, hints)
            self._storage.queue_drop(tx, encoded, meta.base_point, meta.length)
            tx.delete(names.meta(encoded))
            tx.delete(names.forks(encoded))
            if meta.base is not None:
                tx.hdel(names.forks(encode_id(meta.base)), [encoded])
            remove_entry(tx, names, encoded, meta.updated)
            await tx.commit()
            return not expired

    async def drop(self, record: SessionRecord, hints: Hints) -> None:
        """Delete a listed session without materialising its forks (for ``clear``)."""
        names = self.names
        encoded = encode_id(record.id)
        async with self._tx([names.meta(encoded)]) as tx:
            meta = await self._storage.find(tx, record.id)
            if meta is not None:
                self._storage.queue_drop(tx, encoded, meta.base_point, meta.length)
                tx.delete(names.meta(encoded))
                tx.delete(names.forks(encoded))
            remove_entry(tx, names, encoded, datetime_to_micros(record.updated_at))
            await tx.commit()
