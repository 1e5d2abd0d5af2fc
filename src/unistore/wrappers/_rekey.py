"""Re-encrypt a store under the current key of an :class:`~unistore.wrappers.Encrypted`.

Every write is conditional, so a concurrent writer is never clobbered: a slot
is rewritten in a transaction watching it (its TTL read after the watch), a
session with ``replace_messages(expected_length=...)``. A value already under
the current key, or stored plain, is left alone, so a rerun after an
interruption only finishes the job.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Final

from unistore.errors import ConflictError, SessionNotFoundError, SlotKindError
from unistore.protocols import Capability, SlotKind
from unistore.wrappers._enc_codec import (
    FIELD,
    MESSAGE,
    METADATA,
    VALUE,
    context,
    from_text,
    key_id_of,
    to_text,
)
from unistore.wrappers._encrypted import Encrypted

__all__ = ["RekeyProgress", "RekeyReport", "rekey"]

#: Attempts per slot or session that keeps changing under the rewrite.
_ATTEMPTS: Final = 10


@dataclass(frozen=True, slots=True)
class RekeyProgress:
    """Where a rekey stands: ``done`` of ``total`` in ``phase`` ("namespaces", "sessions")."""

    phase: str
    done: int
    total: int


@dataclass(slots=True)
class RekeyReport:
    """What a rekey rewrote and left.

    Attributes:
        namespaces: Namespaces visited.
        slots: Slots rewritten (a hash counts once).
        values: Slot values and hash fields re-encrypted.
        sessions: Sessions rewritten.
        messages: Session messages re-encrypted.
        metadata: Session metadata values re-encrypted.
        current: Values found already under the current key.
        plain: Values found unencrypted (counters among them), left as they are.
        gave_up: Slots or sessions that kept changing; rerun to finish them.
    """

    namespaces: int = 0
    slots: int = 0
    values: int = 0
    sessions: int = 0
    messages: int = 0
    metadata: int = 0
    current: int = 0
    plain: int = 0
    gave_up: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts as a dict (for ``--json``)."""
        return asdict(self)


class _Rekeyer:
    def __init__(self, store: Encrypted, report: RekeyReport) -> None:
        self.store = store
        self.inner = store.inner
        self.codec = store.codec
        self.current = store.current_key
        self.report = report

    def _fresh(self, blob: bytes, where: bytes, describe: Callable[[], str]) -> bytes | None:
        """``blob`` under the current key, or ``None`` when it needs no rewrite."""
        key_id = key_id_of(blob)
        if key_id is None:
            self.report.plain += 1
            return None
        if key_id == self.current:
            self.report.current += 1
            return None
        plain = self.codec.open(blob, where, describe)
        assert plain is not None
        return self.codec.seal(plain, where)

    async def slot(self, ns: str, slot: str) -> None:
        for _ in range(_ATTEMPTS):
            try:
                await self._slot_once(ns, slot)
                return
            except ConflictError:
                continue
        self.report.gave_up += 1

    async def _slot_once(self, ns: str, slot: str) -> None:
        kind = await self.inner.slot_kind(ns, slot)
        if kind is None:
            return
        async with self.inner.transaction(ns, [slot]) as tx:
            rewrite: Callable[[float | None], None]
            if kind is SlotKind.HASH:
                try:
                    fields = await tx.hgetall(slot)
                except SlotKindError:
                    raise ConflictError("changed kind") from None
                changed: dict[str, bytes] = {}
                for name, stored in fields.items():
                    new = self._fresh(
                        stored,
                        context(FIELD, ns, slot, name),
                        _describe(f"a field of slot {slot!r}"),
                    )
                    if new is not None:
                        changed[name] = new
                if not changed:
                    return

                def rewrite(ttl: float | None) -> None:
                    tx.hset(slot, changed, ttl=ttl)

                count = len(changed)
            else:
                try:
                    value = await tx.get(slot)
                except SlotKindError:
                    raise ConflictError("changed kind") from None
                if value is None:
                    return
                new_value = self._fresh(
                    value, context(VALUE, ns, slot), lambda: f"slot {slot!r} in {ns!r}"
                )
                if new_value is None:
                    return

                def rewrite(ttl: float | None) -> None:
                    tx.set(slot, new_value, ttl=ttl)

                count = 1
            # Read after the watch: an expiry or write before the commit conflicts.
            left = await self.inner.get_ttl(ns, slot)
            if left is None:
                return
            rewrite(None if math.isinf(left) else left)
            await tx.commit()
        self.report.slots += 1
        self.report.values += count

    async def session(self, session_id: str, scope: str | None) -> None:
        for _ in range(_ATTEMPTS):
            try:
                await self._session_once(session_id, scope)
                return
            except SessionNotFoundError:
                return  # deleted or expired meanwhile: nothing left to rekey
            except ConflictError:
                continue
        self.report.gave_up += 1

    async def _session_once(self, session_id: str, scope: str | None) -> None:
        record = await self.inner.get_session(session_id, scope=scope)
        if record is None:
            return
        texts = await self.inner.read_messages(session_id, scope=scope)
        where = context(MESSAGE, scope)
        first: int | None = None
        fresh: list[str] = []
        for index, text in enumerate(texts):
            blob = from_text(text[1:-1]) if text.startswith('"') and text.endswith('"') else None
            new = None if blob is None else self._fresh(blob, where, lambda: "a session message")
            if blob is None:
                self.report.plain += 1
            if new is not None and first is None:
                first = index
            if first is not None:
                fresh.append(text if new is None else f'"{to_text(new)}"')
        metadata: dict[str, Any] = dict(record.metadata)
        meta_changed = 0
        for key, value in record.metadata.items():
            blob = from_text(value) if isinstance(value, str) else None
            if blob is None:
                self.report.plain += 1
                continue
            new = self._fresh(blob, context(METADATA, scope, key), lambda: "session metadata")
            if new is not None:
                metadata[key] = to_text(new)
                meta_changed += 1
        if first is None and not meta_changed:
            return
        length = len(texts)
        start = length if first is None else first
        # Conditional on the length read: a concurrent append makes it conflict,
        # and the session is read again. A fork keeps what it loads: a driver
        # gives it its own copy of messages its parent rewrites.
        await self.inner.replace_messages(
            session_id,
            start,
            fresh,
            expected_length=length,
            scope=scope,
            metadata=metadata if meta_changed else None,
        )
        self.report.sessions += 1
        self.report.messages += len(fresh) if first is not None else 0
        self.report.metadata += meta_changed


def _describe(text: str) -> Callable[[], str]:
    return lambda: text


async def rekey(
    store: Encrypted,
    *,
    namespaces: bool = True,
    sessions: bool = True,
    prefix: str = "",
    progress: Callable[[RekeyProgress], None] | None = None,
) -> RekeyReport:
    """Re-encrypt every value of ``store`` that is not under its current key.

    Visits each namespace (``iter_namespaces``, those starting with
    ``prefix``), its slots and hash fields, and each session of each scope
    (messages and metadata). Values already under the current key, plain
    values and counters are left alone; TTLs are kept. Safe to run while the
    store is in use and to run again after an interruption.

    Args:
        store: The encrypted store; its ``keys`` must hold every key in use.
        namespaces: Rekey namespaces (needs namespace listing).
        sessions: Rekey sessions.
        prefix: Only namespaces starting with this.
        progress: Called at the start of each phase and after each item.

    Returns:
        The counts of what was rewritten and left.

    Raises:
        ConfigurationError: A value is under a key id ``store`` does not hold.
        CorruptionError: A value fails authentication.
    """
    report = RekeyReport()
    worker = _Rekeyer(store, report)
    inner = store.inner
    caps = inner.capabilities

    def tell(phase: str, done: int, total: int) -> None:
        if progress is not None:
            progress(RekeyProgress(phase, done, total))

    if namespaces and Capability.NAMESPACE_LISTING in caps:
        names = [ns async for ns in inner.iter_namespaces(prefix)]
        tell("namespaces", 0, len(names))
        for done, ns in enumerate(names, start=1):
            for slot in await inner.slots(ns):
                await worker.slot(ns, slot)
            report.namespaces += 1
            tell("namespaces", done, len(names))
    if sessions and Capability.SESSION_DOCUMENTS in caps:
        found: list[tuple[str, str | None]] = []
        async for scope in inner.iter_scopes():
            cursor: str | None = None
            while True:
                page = await inner.list_sessions(scope=scope, limit=200, cursor=cursor)
                found.extend((record.id, scope) for record in page.items)
                cursor = page.next_cursor
                if cursor is None:
                    break
        tell("sessions", 0, len(found))
        for done, (session_id, scope) in enumerate(found, start=1):
            await worker.session(session_id, scope)
            tell("sessions", done, len(found))
    return report
