"""The transactions of generic session documents, one attempt each.

Every method here is one attempt for :class:`~unistore._sessions._kv._retry.Runner`:
it opens a transaction in the sessions namespace watching the ``meta`` slots it
relies on (plus what its :class:`Hints` name), reads, queues its writes and
commits. Arguments are already checked; range checks that need the stored
length (a fork point, a replace start) happen here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from unistore._sessions._kv._index import add_entry, move_entry, remove_entry
from unistore._sessions._kv._layout import (
    encode_id,
    forks_slot,
    meta_slot,
    now_micros,
)
from unistore._sessions._kv._meta import Meta
from unistore._sessions._kv._storage import Hints, MessageStorage
from unistore.protocols import Hash, SessionRecord, Store, Transaction, Transactions
from unistore.sdk import (
    MessageWrite,
    datetime_to_micros,
    length_conflict,
    position_error,
    session_exists,
)

__all__ = ["KVSessionStore", "Operations"]


class KVSessionStore(Store, Hash, Transactions, Protocol):
    """What generic session documents need of a store: hashes and transactions."""


class Operations:
    """The attempts of every session operation, on one store and namespace.

    Args:
        store: The store holding the sessions.
        namespace: The namespace reserved for them.
        storage: Message chunk reads and writes.
        ttl: The expiry written with every slot.
    """

    def __init__(
        self, store: KVSessionStore, namespace: str, storage: MessageStorage, ttl: float
    ) -> None:
        self.store = store
        self.ns = namespace
        self._storage = storage
        self._ttl = ttl
        self._last_stamp = 0

    def _stamp(self, after: int = 0) -> int:
        # Increasing per instance and per session, so "most recently updated" is
        # unambiguous here; ties across processes fall back to the id order.
        stamp = max(now_micros(), self._last_stamp + 1, after + 1)
        self._last_stamp = stamp
        return stamp

    def _tx(self, watch: Sequence[str]) -> Transaction:
        return self.store.transaction(self.ns, list(dict.fromkeys(watch)))

    async def create(
        self, session_id: str, label: str | None, metadata: dict[str, Any], hints: Hints
    ) -> SessionRecord:
        """Create an empty session, refusing a taken id."""
        slot = meta_slot(encode_id(session_id))
        async with self._tx([slot]) as tx:
            if await tx.hgetall(slot):
                raise session_exists(session_id)
            stamp = self._stamp()
            meta = Meta(session_id, label, metadata=metadata, created=stamp, updated=stamp)
            tx.hset(slot, meta.to_fields(), ttl=self._ttl)
            add_entry(tx, meta, self._ttl)
            await tx.commit()
            return meta.record()

    async def fork(
        self,
        parent_id: str,
        session_id: str,
        at: int | None,
        label: str | None,
        metadata: dict[str, Any],
        hints: Hints,
    ) -> SessionRecord:
        """Create a fork pointing at its parent's first ``at`` messages (copies nothing)."""
        encoded = encode_id(session_id)
        slot = meta_slot(encoded)
        async with self._tx([slot, meta_slot(encode_id(parent_id))]) as tx:
            parent = await self._storage.load(tx, parent_id)
            if await tx.hgetall(slot):
                raise session_exists(session_id)
            point = parent.length if at is None else at
            if point > parent.length:
                raise position_error("fork point", parent.length, at)
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
                metadata=metadata,
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

    async def replace(self, write: MessageWrite, hints: Hints) -> SessionRecord:
        """Append (``start is None``) or truncate at ``start`` and append."""
        session_id, start, expected_length = write.session_id, write.start, write.expected_length
        texts = write.messages
        encoded = encode_id(session_id)
        # An append watches only its own record; an edit also the forks.
        edit = start is not None and start != expected_length
        async with self._tx(self._storage.watch(session_id, hints, forks=edit)) as tx:
            meta = await self._storage.load(tx, session_id)
            if meta.length != expected_length:
                raise length_conflict(session_id, expected_length, meta.length)
            cut = meta.length if start is None else start
            if cut > meta.length:
                raise position_error("replace start", meta.length, start)
            if cut < meta.length:
                await self._storage.materialise_forks(tx, meta, cut, hints)
                self._storage.truncate(tx, meta, cut)
            self._storage.queue_messages(tx, encoded, cut, texts)
            meta.length = cut + len(texts)
            return await self._save(
                tx, meta, write.label, write.metadata, full=cut != expected_length
            )

    async def update(
        self,
        session_id: str,
        label: str | None,
        metadata: dict[str, Any] | None,
        hints: Hints,
    ) -> SessionRecord:
        """Replace the label and/or metadata (``None`` keeps the stored one)."""
        async with self._tx([meta_slot(encode_id(session_id))]) as tx:
            meta = await self._storage.load(tx, session_id)
            return await self._save(tx, meta, label, metadata, full=False)

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

    async def get(self, session_id: str) -> SessionRecord | None:
        """Return a session's record, or ``None`` (one read, no transaction)."""
        fields = await self.store.hgetall(self.ns, meta_slot(encode_id(session_id)))
        return Meta.from_fields(fields).record() if fields else None

    async def read(self, session_id: str, last: int | None, hints: Hints) -> list[str]:
        """Return all messages, or the last ``last`` ones, as one consistent snapshot."""
        async with self._tx(self._storage.watch(session_id, hints, forks=False)) as tx:
            meta = await self._storage.load(tx, session_id)
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

    async def delete(self, session_id: str, hints: Hints) -> bool:
        """Delete a session after giving each of its forks its own messages."""
        encoded = encode_id(session_id)
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

    async def drop(self, record: SessionRecord, hints: Hints) -> None:
        """Delete a listed session without materialising its forks (for ``clear``)."""
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
