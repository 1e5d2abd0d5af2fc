"""Slot storage of the memory driver: values, expiry and watches.

Arguments arrive checked by the SDK's public methods; nothing here validates.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final

from unistore.errors import SlotKindError
from unistore.protocols import SlotKind
from unistore.sdk import add_counter, parse_counter, short

if TYPE_CHECKING:
    from unistore.sdk import TransactionBase

__all__ = ["NEVER", "MemoryBackend", "Slot", "kind_error"]

_SCALAR: Final = SlotKind.SCALAR
_HASH: Final = SlotKind.HASH

#: Expired entries reclaimed per write, so that reclaiming never stalls one call.
_SWEEP_BATCH: Final = 16

#: The expiry of a slot that never expires: later than any clock reading, so
#: the one ``expires_at <= now`` test serves both kinds of slot.
NEVER: Final = math.inf


def _expires_at(now: float, ttl: float | None) -> float:
    return NEVER if ttl is None else now + ttl


def kind_error(slot: str, expected: SlotKind, actual: SlotKind) -> SlotKindError:
    """Return the error for an operation meeting a slot of the other kind."""
    return SlotKindError(f"slot {short(slot)} holds a {actual.value}, not a {expected.value}")


class Slot:
    """One stored slot: its kind, value and expiry (on the backend's clock; :data:`NEVER`)."""

    __slots__ = ("expires_at", "kind", "value")

    def __init__(self, kind: SlotKind, value: bytes | dict[str, bytes], expires_at: float) -> None:
        self.kind = kind
        self.value = value
        self.expires_at = expires_at


class MemoryBackend:
    """Namespaces of slots with expiry, shared by the stores of one name."""

    def __init__(self, clock: Callable[[], float]) -> None:
        #: Expiry times are on this wall clock (a test may inject a manual one).
        self.clock = clock
        self._data: dict[str, dict[str, Slot]] = {}
        # (expires_at, ns, slot) candidates for reclaiming; entries may be stale
        # (the slot was rewritten with a later expiry) and are checked on pop.
        self._expiry: list[tuple[float, str, str]] = []
        self._live = 0
        self._watchers: dict[tuple[str, str], set[TransactionBase]] = {}

    # -- internals --------------------------------------------------------------

    def lookup(self, ns: str, slot: str) -> Slot | None:
        """Return the live slot, reclaiming it if expired."""
        slots = self._data.get(ns)
        if slots is None:
            return None
        entry = slots.get(slot)
        if entry is not None and entry.expires_at <= self.clock():
            self._remove(ns, slot, slots)
            return None
        return entry

    def _remove(self, ns: str, slot: str, slots: dict[str, Slot]) -> None:
        del slots[slot]
        self._live -= 1
        if not slots:
            del self._data[ns]
        self.notify(ns, slot)

    def _store(self, ns: str, slot: str, entry: Slot) -> None:
        slots = self._data.get(ns)
        if slots is None:
            slots = self._data[ns] = {}
        if slot not in slots:
            self._live += 1
        slots[slot] = entry
        self._schedule(entry.expires_at, ns, slot)
        self.notify(ns, slot)

    def _schedule(self, expires_at: float, ns: str, slot: str) -> None:
        # A slot that never expires needs no entry: the sweep would never pop it.
        if expires_at != NEVER:
            heapq.heappush(self._expiry, (expires_at, ns, slot))
        self._sweep()

    def _sweep(self) -> None:
        heap = self._expiry
        now = self.clock()
        for _ in range(_SWEEP_BATCH):
            if not heap or heap[0][0] > now:
                break
            _, ns, slot = heapq.heappop(heap)
            slots = self._data.get(ns)
            entry = slots.get(slot) if slots else None
            if slots is not None and entry is not None and entry.expires_at <= now:
                self._remove(ns, slot, slots)
        if len(heap) > 2 * self._live + 1024:
            # Rewrites leave stale entries behind; rebuild from the live slots.
            self._expiry = [
                (entry.expires_at, ns, slot)
                for ns, slots in self._data.items()
                for slot, entry in slots.items()
                if entry.expires_at != NEVER
            ]
            heapq.heapify(self._expiry)

    def notify(self, ns: str, slot: str) -> None:
        """Mark the transactions watching ``(ns, slot)`` as conflicted."""
        if self._watchers:
            watchers = self._watchers.get((ns, slot))
            if watchers:
                for tx in watchers:
                    tx.conflicted = True

    def watch(self, tx: TransactionBase, ns: str, slots: Sequence[str]) -> None:
        """Register a transaction as watching ``slots``."""
        for slot in slots:
            self._watchers.setdefault((ns, slot), set()).add(tx)

    def unwatch(self, tx: TransactionBase, ns: str, slots: Sequence[str]) -> None:
        """Forget a transaction's watches."""
        for slot in slots:
            watchers = self._watchers.get((ns, slot))
            if watchers is not None:
                watchers.discard(tx)
                if not watchers:
                    del self._watchers[(ns, slot)]

    def clear(self) -> None:
        """Drop everything, conflicting every watcher."""
        for ns, slots in list(self._data.items()):
            for slot in list(slots):
                self.notify(ns, slot)
        self._data.clear()
        self._expiry.clear()
        self._live = 0

    # -- operations -------------------------------------------------------------

    def get(self, ns: str, slot: str) -> bytes | None:
        entry = self.lookup(ns, slot)
        if entry is None:
            return None
        if entry.kind is not _SCALAR:
            raise kind_error(slot, _SCALAR, entry.kind)
        return entry.value  # type: ignore[return-value]

    def set(self, ns: str, slot: str, value: bytes, ttl: float | None) -> None:
        expires_at = NEVER if ttl is None else self.clock() + ttl
        self._store(ns, slot, Slot(_SCALAR, value, expires_at))

    def get_many(self, ns: str, names: Sequence[str]) -> list[bytes | None]:
        slots = self._data.get(ns)
        if slots is None:
            return [None] * len(names)
        now = self.clock()
        out: list[bytes | None] = []
        for slot in names:
            entry = slots.get(slot)
            if entry is None or entry.kind is not _SCALAR or entry.expires_at <= now:
                # Expired entries are left to the sweep: reclaiming one here
                # could empty (and drop) ``slots`` under the loop.
                out.append(None)
            else:
                out.append(entry.value)  # type: ignore[arg-type]
        return out

    def set_many(self, ns: str, mapping: dict[str, bytes], ttl: float | None) -> None:
        # Replacing any kind cannot fail, so writing one by one is all or none.
        expires_at = _expires_at(self.clock(), ttl)
        for slot, value in mapping.items():
            self._store(ns, slot, Slot(_SCALAR, value, expires_at))

    def delete_many(self, ns: str, names: Sequence[str]) -> int:
        return sum(1 for slot in names if self.delete(ns, slot))

    def delete(self, ns: str, slot: str) -> bool:
        if self.lookup(ns, slot) is None:
            return False
        self._remove(ns, slot, self._data[ns])
        return True

    def _hash(self, ns: str, slot: str) -> dict[str, bytes] | None:
        entry = self.lookup(ns, slot)
        if entry is None:
            return None
        if entry.kind is not _HASH:
            raise kind_error(slot, _HASH, entry.kind)
        return entry.value  # type: ignore[return-value]

    def hget(self, ns: str, slot: str, field: str) -> bytes | None:
        fields = self._hash(ns, slot)
        return None if fields is None else fields.get(field)

    def hgetall(self, ns: str, slot: str) -> dict[str, bytes]:
        fields = self._hash(ns, slot)
        return {} if fields is None else dict(fields)

    def hset(self, ns: str, slot: str, mapping: dict[str, bytes], ttl: float | None) -> int:
        expires_at = NEVER if ttl is None else self.clock() + ttl
        new = mapping
        fields = self._hash(ns, slot)
        # Copy-on-write keeps transaction snapshots intact.
        fields = {} if fields is None else dict(fields)
        added = sum(1 for name in new if name not in fields)
        fields.update(new)
        if fields:
            self._store(ns, slot, Slot(_HASH, fields, expires_at))
        return added

    def hdel(self, ns: str, slot: str, names: Sequence[str]) -> int:
        fields = self._hash(ns, slot)
        if fields is None:
            return 0
        kept = dict(fields)
        removed = sum(1 for name in set(names) if kept.pop(name, None) is not None)
        if not removed:
            return 0
        entry = self._data[ns][slot]
        if kept:
            entry.value = kept
            self.notify(ns, slot)
        else:
            self._remove(ns, slot, self._data[ns])
        return removed

    def incr(self, ns: str, slot: str, amount: int, ttl: float | None) -> int:
        entry = self.lookup(ns, slot)
        if entry is None:
            value = add_counter(0, amount, slot)
            self._store(
                ns, slot, Slot(_SCALAR, str(value).encode(), _expires_at(self.clock(), ttl))
            )
            return value
        if entry.kind is not _SCALAR:
            raise kind_error(slot, _SCALAR, entry.kind)
        assert isinstance(entry.value, bytes)
        value = add_counter(parse_counter(entry.value, slot), amount, slot)
        entry.value = str(value).encode()
        self.notify(ns, slot)
        return value

    def get_ttl(self, ns: str, slot: str) -> float | None:
        entry = self.lookup(ns, slot)
        # ``NEVER`` minus any time is still ``math.inf``, the contract's answer.
        return None if entry is None else max(0.0, entry.expires_at - self.clock())

    def expire(self, ns: str, slot: str, ttl: float) -> bool:
        expires_at = self.clock() + ttl
        entry = self.lookup(ns, slot)
        if entry is None:
            return False
        entry.expires_at = expires_at
        self._schedule(expires_at, ns, slot)
        self.notify(ns, slot)  # a new expiry is a change to watchers, as in Redis
        return True

    def _live_slots(self, ns: str) -> dict[str, Slot]:
        slots = self._data.get(ns)
        if not slots:
            return {}
        now = self.clock()
        for slot in [s for s, entry in slots.items() if entry.expires_at <= now]:
            self._remove(ns, slot, slots)
        return self._data.get(ns, {})

    def slots(self, ns: str, prefix: str = "") -> list[str]:
        live = self._live_slots(ns)
        if not prefix:
            return list(live)
        return [slot for slot in live if slot.startswith(prefix)]

    def namespaces(self) -> list[str]:
        """Return a snapshot of the namespaces that hold (possibly expired) slots."""
        return list(self._data)

    def slot_kind(self, ns: str, slot: str) -> SlotKind | None:
        entry = self.lookup(ns, slot)
        return None if entry is None else entry.kind

    def touch(self, ns: str, ttl: float) -> int:
        expires_at = self.clock() + ttl
        slots = self._live_slots(ns)
        for slot, entry in slots.items():
            entry.expires_at = expires_at
            heapq.heappush(self._expiry, (expires_at, ns, slot))
            self.notify(ns, slot)  # a new expiry is a change to watchers, as in Redis
        return len(slots)

    def purge(self, ns: str) -> int:
        slots = self._live_slots(ns)
        count = len(slots)
        for slot in list(slots):
            self._remove(ns, slot, slots)
        return count
