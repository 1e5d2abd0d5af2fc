"""copy_store: copy namespaces and sessions from one store to another, any driver to any.

Only the capability protocols are used, so the copy works between any two
drivers. Sessions of every scope are copied into the same scope, with their
retention (``ttl``); slots without expiry stay without expiry. What the
protocols cannot express is not copied: session timestamps
(``created_at``/``updated_at`` are set by the destination when it writes) and
the lineage of a fork whose parent no longer exists (it is copied as a
standalone session with the same messages).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, cast

from unistore._url import StoreURL
from unistore.errors import NotSupportedError, SessionNotFoundError, ValidationError
from unistore.protocols import (
    TTL,
    Capability,
    Hash,
    KeyValue,
    NamespaceLifecycle,
    NamespaceListing,
    SessionDocuments,
    SessionRecord,
    SlotKind,
    Store,
)

__all__ = ["CopyProgress", "CopyReport", "copy_store"]

#: Messages written per append call: keeps each call (and SQL statement) bounded.
_BATCH = 500
#: Records read per listing page.
_PAGE = 200


class _SlotSource(Store, KeyValue, Hash, TTL, NamespaceLifecycle, NamespaceListing, Protocol):
    """What the source needs for namespaces."""


class _SlotTarget(Store, KeyValue, Hash, Protocol):
    """What the destination needs for namespaces."""


class _SessionStore(Store, SessionDocuments, Protocol):
    """What both sides need for sessions."""


@dataclass(frozen=True, slots=True)
class CopyProgress:
    """A step of :func:`copy_store`, passed to its ``progress`` callback.

    Attributes:
        phase: ``"namespaces"`` or ``"sessions"``.
        done: Items of this phase finished so far (namespaces or sessions).
        total: Items of this phase in all.
        item: The namespace or session id just finished (``None`` for the
            event announcing the phase).
    """

    phase: Literal["namespaces", "sessions"]
    done: int
    total: int
    item: str | None = None


@dataclass(slots=True)
class CopyReport:
    """What :func:`copy_store` did.

    Attributes:
        namespaces: Namespaces whose slots were copied.
        slots: Slots written to the destination.
        slots_skipped: Slots that expired between listing and reading.
        sessions: Sessions created in the destination.
        sessions_updated: Sessions that existed in the destination with
            another message count and got the source's messages, label and
            metadata (a session's retention is set when it is created, and
            stays as it was).
        sessions_skipped: Sessions already in the destination with the same
            message count (left alone).
        sessions_vanished: Sessions that expired or were deleted in the
            source between the listing and their copy (not copied).
        forks: How many of the created sessions were created as forks.
        messages: Messages written to the destination.
    """

    namespaces: int = 0
    slots: int = 0
    slots_skipped: int = 0
    sessions: int = 0
    sessions_updated: int = 0
    sessions_skipped: int = 0
    sessions_vanished: int = 0
    forks: int = 0
    messages: int = 0

    def as_dict(self) -> dict[str, int]:
        """Return the counts as a plain dict (for JSON output)."""
        return {name: getattr(self, name) for name in self.__slots__}


ProgressCallback = Callable[[CopyProgress], None]


def _require(store: Store, role: str, what: str, *needed: Capability) -> None:
    missing = [cap.value for cap in needed if cap not in store.capabilities]
    if missing:
        other = "sessions" if what == "namespaces" else "namespaces"
        raise NotSupportedError(
            f"cannot copy {what}: the {role} store {store.url} does not declare "
            f"{', '.join(missing)} (copy {other} only)"
        )


def _can_list(store: Store) -> bool:
    # Declared *and* implemented: a driver may declare the flag before it has the method.
    return Capability.NAMESPACE_LISTING in store.capabilities and isinstance(
        store, NamespaceListing
    )


async def copy_store(
    src: Store | str | StoreURL,
    dst: Store | str | StoreURL,
    *,
    namespaces: bool = True,
    sessions: bool = True,
    prefix: str = "",
    progress: ProgressCallback | None = None,
) -> CopyReport:
    """Copy namespaces and sessions from ``src`` to ``dst``.

    Namespaces: every live slot with its kind, value (or fields) and remaining
    TTL; a slot that exists in the destination is overwritten. Sessions: oldest
    first, so that the destination lists them in the same relative order;
    parents before their forks, and forks are made as forks (sharing the
    parent's messages) with their labels and metadata. A session that already
    exists in the destination with the same message count is skipped, one with
    another count is brought in line with the source (messages, label and
    metadata; its retention stays as it was), so re-running the copy is safe
    and finishes an interrupted one. A session that expires or is deleted in
    the source while the copy runs is left out (``sessions_vanished``).

    Timestamps are not copied (the destination sets them), and a fork whose
    parent was deleted becomes a standalone session.

    Args:
        src: The source store, or its URL (opened and closed here).
        dst: The destination store, or its URL (opened and closed here).
        namespaces: Copy namespaces (needs namespace listing on ``src``).
        sessions: Copy sessions (needs session documents on both).
        prefix: Copy only the namespaces starting with this string (sessions
            are not filtered).
        progress: Called after each namespace and session, and once at the
            start of each phase.

    Returns:
        The counts of what was copied and skipped.

    Raises:
        NotSupportedError: A store lacks a capability the requested copy needs.
        ValidationError: ``src`` and ``dst`` are the same store object.
    """
    if src is dst:
        raise ValidationError("cannot copy a store onto itself")
    from unistore._registry import connect

    owned: list[Store] = []
    # The source is only read: a URL naming no store is an error, not a new store.
    source = src if isinstance(src, Store) else _track(connect(src, create=False), owned)
    try:
        target = dst if isinstance(dst, Store) else _track(connect(dst), owned)
        if namespaces:
            if not _can_list(source):
                raise NotSupportedError(
                    f"cannot copy namespaces: the {source.url} store cannot list its "
                    f"namespaces (copy sessions only)"
                )
            _require(
                source,
                "source",
                "namespaces",
                Capability.KEY_VALUE,
                Capability.HASH,
                Capability.TTL,
                Capability.NAMESPACE_LIFECYCLE,
            )
            _require(target, "destination", "namespaces", Capability.KEY_VALUE, Capability.HASH)
        if sessions:
            _require(source, "source", "sessions", Capability.SESSION_DOCUMENTS)
            _require(target, "destination", "sessions", Capability.SESSION_DOCUMENTS)
        report = CopyReport()
        if namespaces:
            await _copy_namespaces(
                cast(_SlotSource, source), cast(_SlotTarget, target), prefix, report, progress
            )
        if sessions:
            await _SessionCopier(
                cast(_SessionStore, source), cast(_SessionStore, target), report, progress
            ).run()
        return report
    finally:
        for store in reversed(owned):
            await store.aclose()


def _track(store: Store, owned: list[Store]) -> Store:
    owned.append(store)
    return store


# -- namespaces ---------------------------------------------------------------------


async def _copy_namespaces(
    src: _SlotSource,
    dst: _SlotTarget,
    prefix: str,
    report: CopyReport,
    progress: ProgressCallback | None,
) -> None:
    names = sorted({ns async for ns in src.iter_namespaces(prefix)})
    if progress is not None:
        progress(CopyProgress("namespaces", 0, len(names)))
    for done, ns in enumerate(names, 1):
        copied = 0
        for slot in await src.slots(ns):
            if await _copy_slot(src, dst, ns, slot):
                copied += 1
            else:
                report.slots_skipped += 1
        report.slots += copied
        if copied:
            report.namespaces += 1
        if progress is not None:
            progress(CopyProgress("namespaces", done, len(names), ns))


async def _copy_slot(src: _SlotSource, dst: _SlotTarget, ns: str, slot: str) -> bool:
    """Copy one slot; return ``False`` if it vanished (expired) meanwhile."""
    kind = await src.slot_kind(ns, slot)
    if kind is None:
        return False
    # Read the TTL first: the value read afterwards cannot be older than it.
    left = await src.get_ttl(ns, slot)
    if left is None or not left > 0:
        return False
    # A slot without expiry (``math.inf``) stays without expiry.
    ttl = None if left == math.inf else left
    if kind is SlotKind.HASH:
        fields = await src.hgetall(ns, slot)
        if not fields:
            return False
        # hset merges into an existing hash: start from nothing to copy exactly.
        await dst.delete(ns, slot)
        await dst.hset(ns, slot, fields, ttl=ttl)
        return True
    value = await src.get(ns, slot)
    if value is None:
        return False
    await dst.set(ns, slot, value, ttl=ttl)
    return True


# -- sessions -----------------------------------------------------------------------


def _first_difference(a: Sequence[str], b: Sequence[str], limit: int) -> int:
    """Return the first index below ``limit`` where ``a`` and ``b`` differ, else ``limit``."""
    for index in range(limit):
        if index >= len(a) or index >= len(b) or a[index] != b[index]:
            return index
    return limit


class _SessionCopier:
    def __init__(
        self,
        src: _SessionStore,
        dst: _SessionStore,
        report: CopyReport,
        progress: ProgressCallback | None,
    ) -> None:
        self.src = src
        self.dst = dst
        self.report = report
        self.progress = progress

    async def _records(self) -> list[SessionRecord]:
        """Every session of every scope, each scope's oldest first."""
        records: list[SessionRecord] = []
        async for scope in self.src.iter_scopes():
            listed: list[SessionRecord] = []
            cursor: str | None = None
            while True:
                page = await self.src.list_sessions(scope=scope, limit=_PAGE, cursor=cursor)
                listed.extend(page.items)
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            listed.reverse()  # oldest first
            records.extend(listed)
        return records

    async def run(self) -> None:
        records = await self._records()
        by_id = {(record.scope, record.id): record for record in records}
        order: list[SessionRecord] = []
        placed: set[tuple[str | None, str]] = set()
        for record in records:
            # Parents first: a chain is walked up to the first placed (or missing) ancestor.
            chain: list[SessionRecord] = []
            current: SessionRecord | None = record
            while current is not None and (current.scope, current.id) not in placed:
                chain.append(current)
                placed.add((current.scope, current.id))
                parent = current.parent_id
                current = by_id.get((current.scope, parent)) if parent else None
            order.extend(reversed(chain))
        total = len(order)
        if self.progress is not None:
            self.progress(CopyProgress("sessions", 0, total))
        written: list[tuple[str | None, str]] = []
        for done, record in enumerate(order, 1):
            try:
                copied = await self._copy(record)
            except SessionNotFoundError:
                # It expired or was deleted in the source after the listing.
                self.report.sessions_vanished += 1
                copied = False
            if copied:
                written.append((record.scope, record.id))
            if self.progress is not None:
                self.progress(CopyProgress("sessions", done, total, record.id))
        await self._restore_order(records, order, set(written))

    async def _restore_order(
        self,
        records: list[SessionRecord],
        order: list[SessionRecord],
        written: set[tuple[str | None, str]],
    ) -> None:
        """Re-stamp sessions written out of age order (a fork older than its parent)."""
        first = next(
            (i for i, (a, b) in enumerate(zip(records, order, strict=True)) if a.id != b.id),
            None,
        )
        if first is None:
            return
        for record in records[first:]:
            if (record.scope, record.id) in written:
                # A metadata write bumps updated_at: the last one written lists first.
                await self.dst.update_session(
                    record.id, scope=record.scope, metadata=dict(record.metadata)
                )

    async def _copy(self, record: SessionRecord) -> bool:
        """Copy one session; return whether the destination was written."""
        scope = record.scope
        existing = await self.dst.get_session(record.id, scope=scope)
        if existing is not None and existing.message_count == record.message_count:
            self.report.sessions_skipped += 1
            return False
        messages = await self.src.read_messages(record.id, scope=scope)
        if existing is not None:
            await self._sync(record, messages)
            self.report.sessions_updated += 1
            return True
        parent_id = record.parent_id
        parent = (
            await self.dst.get_session(parent_id, scope=scope) if parent_id is not None else None
        )
        if parent is None or record.fork_point is None:
            await self.dst.create_session(
                record.id,
                scope=scope,
                label=record.label,
                metadata=dict(record.metadata),
                ttl=record.ttl,
            )
            await self._append(record, messages, 0)
        else:
            point = min(record.fork_point, parent.message_count)
            shared = await self.dst.read_messages(parent.id, scope=scope) if point else []
            await self.dst.fork_session(
                parent.id,
                record.id,
                at=point,
                scope=scope,
                label=record.label,
                metadata=dict(record.metadata),
                ttl=record.ttl,
            )
            self.report.forks += 1
            differ = _first_difference(messages, shared, point)
            if differ < point:
                # The parent was edited after the fork: keep what still matches shared.
                await self._replace(record, differ, messages[differ:], point)
            else:
                await self._append(record, messages[point:], point)
        self.report.sessions += 1
        return True

    async def _sync(self, record: SessionRecord, src: list[str]) -> None:
        have = await self.dst.read_messages(record.id, scope=record.scope)
        differ = _first_difference(src, have, min(len(src), len(have)))
        if differ < len(have):
            await self._replace(record, differ, src[differ:], len(have))
        else:
            await self._append(record, src[differ:], len(have))
        await self.dst.update_session(
            record.id, scope=record.scope, label=record.label, metadata=dict(record.metadata)
        )

    async def _replace(
        self, record: SessionRecord, start: int, messages: list[str], length: int
    ) -> None:
        head = messages[:_BATCH]
        await self.dst.replace_messages(
            record.id, start, head, expected_length=length, scope=record.scope
        )
        self.report.messages += len(head)
        await self._append(record, messages[_BATCH:], start + len(head))

    async def _append(self, record: SessionRecord, messages: list[str], length: int) -> None:
        for offset in range(0, len(messages), _BATCH):
            batch = messages[offset : offset + _BATCH]
            await self.dst.append_messages(
                record.id, batch, expected_length=length, scope=record.scope
            )
            length += len(batch)
            self.report.messages += len(batch)
