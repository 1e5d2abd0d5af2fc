"""Slot storage of the memory driver: values, expiry, watches and transactions."""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Mapping, Sequence
from time import monotonic
from types import TracebackType
from typing import Final

from unistore.errors import SlotKindError, TransactionConflictError, ValidationError
from unistore.protocols import SlotKind

__all__ = ["MemoryBackend", "MemoryTransaction"]

_SCALAR: Final = SlotKind.SCALAR
_HASH: Final = SlotKind.HASH

_INTEGER: Final = re.compile(rb"-?[0-9]+")

#: Expired entries reclaimed per write, so that reclaiming never stalls one call.
_SWEEP_BATCH: Final = 16


def _check_ttl(ttl: float) -> float:
    # Also rejects NaN and infinity: a slot without a finite expiry must not exist.
    if not (isinstance(ttl, int | float) and 0 < ttl < math.inf):
        raise ValidationError(f"ttl must be a positive finite number of seconds, got {ttl!r}")
    return float(ttl)


def _as_bytes(value: bytes, what: str = "value") -> bytes:
    # bytes(5) would silently store five zero bytes and bytes("x") raise a
    # bare TypeError; the other drivers reject non-bytes values too.
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ValidationError(f"a slot {what} must be bytes, got {type(value).__name__}")
    return bytes(value)


def _as_fields(mapping: Mapping[str, bytes]) -> dict[str, bytes]:
    for name in mapping:
        if not isinstance(name, str):
            raise ValidationError(f"a hash field name must be a str, got {type(name).__name__}")
    return {name: _as_bytes(value, "hash value") for name, value in mapping.items()}


def _kind_error(ns: str, slot: str, expected: SlotKind, actual: SlotKind) -> SlotKindError:
    return SlotKindError(f"slot {slot[:80]!r} holds a {actual.value}, not a {expected.value}")


class _Slot:
    __slots__ = ("expires_at", "kind", "value")

    def __init__(self, kind: SlotKind, value: bytes | dict[str, bytes], expires_at: float) -> None:
        self.kind = kind
        self.value = value
        self.expires_at = expires_at


class MemoryBackend:
    """Namespaces of slots with expiry, shared by the stores of one name."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, _Slot]] = {}
        # (expires_at, ns, slot) candidates for reclaiming; entries may be stale
        # (the slot was rewritten with a later expiry) and are checked on pop.
        self._expiry: list[tuple[float, str, str]] = []
        self._live = 0
        self._watchers: dict[tuple[str, str], set[MemoryTransaction]] = {}

    # -- internals --------------------------------------------------------------

    def _lookup(self, ns: str, slot: str) -> _Slot | None:
        slots = self._data.get(ns)
        if slots is None:
            return None
        entry = slots.get(slot)
        if entry is not None and entry.expires_at <= monotonic():
            self._remove(ns, slot, slots)
            return None
        return entry

    def _remove(self, ns: str, slot: str, slots: dict[str, _Slot]) -> None:
        del slots[slot]
        self._live -= 1
        if not slots:
            del self._data[ns]
        self.notify(ns, slot)

    def _store(self, ns: str, slot: str, entry: _Slot) -> None:
        slots = self._data.get(ns)
        if slots is None:
            slots = self._data[ns] = {}
        if slot not in slots:
            self._live += 1
        slots[slot] = entry
        self._schedule(entry.expires_at, ns, slot)
        self.notify(ns, slot)

    def _schedule(self, expires_at: float, ns: str, slot: str) -> None:
        heapq.heappush(self._expiry, (expires_at, ns, slot))
        self._sweep()

    def _sweep(self) -> None:
        heap = self._expiry
        now = monotonic()
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
            ]
            heapq.heapify(self._expiry)

    def notify(self, ns: str, slot: str) -> None:
        """Mark the transactions watching ``(ns, slot)`` as conflicted."""
        if self._watchers:
            watchers = self._watchers.get((ns, slot))
            if watchers:
                for tx in watchers:
                    tx.conflicted = True

    def watch(self, tx: MemoryTransaction, ns: str, slots: Sequence[str]) -> None:
        """Register a transaction as watching ``slots``."""
        for slot in slots:
            self._watchers.setdefault((ns, slot), set()).add(tx)

    def unwatch(self, tx: MemoryTransaction, ns: str, slots: Sequence[str]) -> None:
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
        entry = self._lookup(ns, slot)
        if entry is None:
            return None
        if entry.kind is not _SCALAR:
            raise _kind_error(ns, slot, _SCALAR, entry.kind)
        return entry.value  # type: ignore[return-value]

    def set(self, ns: str, slot: str, value: bytes, ttl: float) -> None:
        expires_at = monotonic() + _check_ttl(ttl)
        self._store(ns, slot, _Slot(_SCALAR, _as_bytes(value), expires_at))

    def delete(self, ns: str, slot: str) -> bool:
        if self._lookup(ns, slot) is None:
            return False
        self._remove(ns, slot, self._data[ns])
        return True

    def _hash(self, ns: str, slot: str) -> dict[str, bytes] | None:
        entry = self._lookup(ns, slot)
        if entry is None:
            return None
        if entry.kind is not _HASH:
            raise _kind_error(ns, slot, _HASH, entry.kind)
        return entry.value  # type: ignore[return-value]

    def hget(self, ns: str, slot: str, field: str) -> bytes | None:
        fields = self._hash(ns, slot)
        return None if fields is None else fields.get(field)

    def hgetall(self, ns: str, slot: str) -> dict[str, bytes]:
        fields = self._hash(ns, slot)
        return {} if fields is None else dict(fields)

    def hset(self, ns: str, slot: str, mapping: Mapping[str, bytes], ttl: float) -> int:
        expires_at = monotonic() + _check_ttl(ttl)
        new = _as_fields(mapping)
        fields = self._hash(ns, slot)
        # Copy-on-write keeps transaction snapshots intact.
        fields = {} if fields is None else dict(fields)
        added = sum(1 for name in new if name not in fields)
        fields.update(new)
        if fields:
            self._store(ns, slot, _Slot(_HASH, fields, expires_at))
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

    def incr(self, ns: str, slot: str, amount: int, ttl: float) -> int:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValidationError(f"incr amount must be an int, got {type(amount).__name__}")
        # Checked even when the counter exists (and keeps its expiry), so that
        # a bad ttl fails the same way whatever the state.
        expires_at = monotonic() + _check_ttl(ttl)
        entry = self._lookup(ns, slot)
        if entry is None:
            value = amount
            self._store(ns, slot, _Slot(_SCALAR, str(value).encode(), expires_at))
            return value
        if entry.kind is not _SCALAR:
            raise _kind_error(ns, slot, _SCALAR, entry.kind)
        # Only plain decimal digits count, as in Redis: int() would also accept
        # b" 7" and b"1_000".
        if _INTEGER.fullmatch(entry.value) is None:  # type: ignore[arg-type]
            raise SlotKindError(f"slot {slot[:80]!r} holds a value that is not an integer")
        current = int(entry.value)  # type: ignore[arg-type]
        value = current + amount
        entry.value = str(value).encode()
        self.notify(ns, slot)
        return value

    def get_ttl(self, ns: str, slot: str) -> float | None:
        entry = self._lookup(ns, slot)
        return None if entry is None else max(0.0, entry.expires_at - monotonic())

    def expire(self, ns: str, slot: str, ttl: float) -> bool:
        expires_at = monotonic() + _check_ttl(ttl)
        entry = self._lookup(ns, slot)
        if entry is None:
            return False
        entry.expires_at = expires_at
        self._schedule(expires_at, ns, slot)
        return True

    def _live_slots(self, ns: str) -> dict[str, _Slot]:
        slots = self._data.get(ns)
        if not slots:
            return {}
        now = monotonic()
        for slot in [s for s, entry in slots.items() if entry.expires_at <= now]:
            self._remove(ns, slot, slots)
        return self._data.get(ns, {})

    def slots(self, ns: str) -> list[str]:
        return sorted(self._live_slots(ns))

    def namespaces(self) -> list[str]:
        """Return a snapshot of the namespaces that hold (possibly expired) slots."""
        return list(self._data)

    def slot_kind(self, ns: str, slot: str) -> SlotKind | None:
        entry = self._lookup(ns, slot)
        return None if entry is None else entry.kind

    def touch(self, ns: str, ttl: float) -> int:
        expires_at = monotonic() + _check_ttl(ttl)
        slots = self._live_slots(ns)
        for slot, entry in slots.items():
            entry.expires_at = expires_at
            heapq.heappush(self._expiry, (expires_at, ns, slot))
        return len(slots)

    def purge(self, ns: str) -> int:
        slots = self._live_slots(ns)
        count = len(slots)
        for slot in list(slots):
            self._remove(ns, slot, slots)
        return count


class MemoryTransaction:
    """An optimistic transaction on a :class:`MemoryBackend`."""

    def __init__(self, backend: MemoryBackend, ns: str, watch: Sequence[str]) -> None:
        if isinstance(watch, str) or not watch:
            raise ValidationError("a transaction must watch at least one slot (a list of names)")
        self._backend = backend
        self._ns = ns
        self._watch = tuple(dict.fromkeys(watch))
        self._snapshot: dict[str, _Slot | None] = {}
        self._ops: list[tuple[str, str, object, float]] = []
        self._active = False
        self._done = False
        self.conflicted = False

    async def __aenter__(self) -> MemoryTransaction:
        self._backend.watch(self, self._ns, self._watch)
        self._active = True
        for slot in self._watch:
            entry = self._backend._lookup(self._ns, slot)
            # Slot objects are replaced, never mutated in place, by hset/hdel's
            # copy-on-write, except scalar incr/expire; copy to freeze the state.
            self._snapshot[slot] = (
                None
                if entry is None
                else _Slot(
                    entry.kind,
                    dict(entry.value) if isinstance(entry.value, dict) else entry.value,
                    entry.expires_at,
                )
            )
        self.conflicted = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()

    def _release(self) -> None:
        if self._active:
            self._backend.unwatch(self, self._ns, self._watch)
            self._active = False
        self._ops.clear()

    def _read(self, slot: str) -> _Slot | None:
        if slot in self._snapshot:
            entry = self._snapshot[slot]
            if entry is not None and entry.expires_at <= monotonic():
                return None
            return entry
        return self._backend._lookup(self._ns, slot)

    async def get(self, slot: str) -> bytes | None:
        """Read a scalar slot as of the watch."""
        entry = self._read(slot)
        if entry is None:
            return None
        if entry.kind is not _SCALAR:
            raise _kind_error(self._ns, slot, _SCALAR, entry.kind)
        return entry.value  # type: ignore[return-value]

    async def hget(self, slot: str, field: str) -> bytes | None:
        """Read one hash field as of the watch."""
        return (await self.hgetall(slot)).get(field)

    async def hgetall(self, slot: str) -> dict[str, bytes]:
        """Read a hash as of the watch."""
        entry = self._read(slot)
        if entry is None:
            return {}
        if entry.kind is not _HASH:
            raise _kind_error(self._ns, slot, _HASH, entry.kind)
        return dict(entry.value)  # type: ignore[arg-type]

    def _queue(self, op: str, slot: str, arg: object, ttl: float) -> None:
        if self._done:
            raise ValidationError("the transaction has already been committed")
        self._ops.append((op, slot, arg, ttl))

    def set(self, slot: str, value: bytes, *, ttl: float) -> None:
        """Queue a scalar write."""
        self._queue("set", slot, _as_bytes(value), _check_ttl(ttl))

    def delete(self, slot: str) -> None:
        """Queue a delete."""
        self._queue("delete", slot, None, 0.0)

    def hset(self, slot: str, mapping: Mapping[str, bytes], *, ttl: float) -> None:
        """Queue a hash write."""
        self._queue("hset", slot, _as_fields(mapping), _check_ttl(ttl))

    def hdel(self, slot: str, fields: Sequence[str]) -> None:
        """Queue the deletion of hash fields."""
        self._queue("hdel", slot, list(fields), 0.0)

    async def commit(self) -> None:
        """Apply the queued writes if no watched slot changed."""
        if not self._active or self._done:
            raise ValidationError("commit() needs an open transaction (use 'async with')")
        backend, ns = self._backend, self._ns
        conflicted = self.conflicted or any(
            self._snapshot[slot] is not None and backend._lookup(ns, slot) is None
            for slot in self._watch
        )
        if conflicted:
            self._release()
            self._done = True
            raise TransactionConflictError(
                f"a watched slot changed before commit ({len(self._watch)} watched)",
                namespace=ns,
                slots=self._watch,
            )
        self._check_kinds()
        ops = list(self._ops)
        self._release()
        self._done = True
        for op, slot, arg, ttl in ops:
            if op == "set":
                backend.set(ns, slot, arg, ttl)  # type: ignore[arg-type]
            elif op == "delete":
                backend.delete(ns, slot)
            elif op == "hset":
                backend.hset(ns, slot, arg, ttl)  # type: ignore[arg-type]
            else:
                backend.hdel(ns, slot, arg)  # type: ignore[arg-type]

    def _check_kinds(self) -> None:
        # Validate every queued op against the state it will meet, so that a
        # kind error aborts the commit before anything is applied.
        kinds: dict[str, SlotKind | None] = {}
        for op, slot, _, _ in self._ops:
            if slot not in kinds:
                kinds[slot] = self._backend.slot_kind(self._ns, slot)
            if op == "set":
                kinds[slot] = _SCALAR
            elif op == "delete":
                kinds[slot] = None
            elif kinds[slot] is _SCALAR:
                self._release()
                self._done = True
                raise _kind_error(self._ns, slot, _HASH, _SCALAR)
            elif op == "hset":
                kinds[slot] = _HASH
