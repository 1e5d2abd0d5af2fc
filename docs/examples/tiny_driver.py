"""tiny:// - a complete unistore driver in one file, on Python dicts.

It implements KeyValue, Hash, Counter, TTL, NamespaceLifecycle and
Transactions with the driver SDK and passes the conformance suite (which
skips the capabilities it does not declare). Register it and use it::

    import unistore
    from tiny_driver import DRIVER

    unistore.register("tiny", DRIVER)
    async with unistore.connect("tiny://demo") as store:
        await store.set("ns", "greeting", b"hello", ttl=60)

``tiny://NAME`` stores of one process share their data; ``tiny://`` is
private to its connection. Nothing awaits inside a primitive, so each one is
atomic on one event loop without a lock; a driver over a network would get
that atomicity from its server instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from unistore import StoreURL
from unistore.errors import SlotKindError
from unistore.protocols import Driver, SlotKind
from unistore.sdk import (
    CLOCK_OPTION,
    CREATE_OPTION,
    CounterBase,
    DeleteOp,
    HashBase,
    HDelOp,
    HSetOp,
    KeyValueBase,
    NamespaceLifecycleBase,
    Op,
    SetOp,
    TransactionBase,
    TransactionsBase,
    TTLBase,
    add_counter,
    parse_counter,
)

__all__ = ["DRIVER", "TinyStore"]


@dataclass
class Entry:
    """One slot: a scalar (``bytes``) or a hash (``dict``), its expiry and version.

    ``expires_at`` is ``math.inf`` for a slot that never expires.
    """

    value: bytes | dict[str, bytes]
    expires_at: float
    version: int


Table = dict[str, Entry]


class Data:
    """The namespaces of one store name; every write takes a new version."""

    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}
        self._last = 0

    def version(self) -> int:
        self._last += 1
        return self._last


#: Named stores of this process (``tiny://NAME``): connections to a name share data.
_NAMED: dict[str, Data] = {}


def _hash_of(entry: Entry | None, slot: str) -> dict[str, bytes]:
    if entry is None:
        return {}
    if not isinstance(entry.value, dict):
        raise SlotKindError(f"slot {slot!r} holds a scalar, not a hash")
    return entry.value


class TinyStore(
    KeyValueBase, HashBase, CounterBase, TTLBase, NamespaceLifecycleBase, TransactionsBase
):
    """The store: primitives over ``Data``; the SDK does checks, closing and errors."""

    NAME = "tiny"

    def __init__(
        self, url: StoreURL, *, clock: Callable[[], float] | None = None, create: bool = True
    ) -> None:
        # Nothing to create in memory, but the open mode is declared and
        # passed on, so read-only tools (`unistore info`) can open the store.
        super().__init__(url, clock=clock, create=create)
        self.data = _NAMED.setdefault(url.host, Data()) if url.host else Data()

    # -- layout: live entries only; an expired entry is dropped when met ----------

    def _table(self, ns: str) -> Table:
        table = self.data.tables.get(ns, {})
        now = self.clock()
        for slot in [s for s, e in table.items() if e.expires_at <= now]:
            del table[slot]
        return table

    def _entry(self, ns: str, slot: str) -> Entry | None:
        return self._table(ns).get(slot)

    def _write(
        self, table: Table, slot: str, value: bytes | dict[str, bytes], ttl: float | None
    ) -> None:
        expires_at = math.inf if ttl is None else self.clock() + ttl
        table[slot] = Entry(value, expires_at, self.data.version())

    def _save(self, ns: str, table: Table) -> None:
        if table:
            self.data.tables[ns] = table
        else:
            self.data.tables.pop(ns, None)

    # The three writes a transaction also queues; they never change an Entry in
    # place, so a commit can apply them to a copy and swap it in.

    def _apply_hset(
        self, table: Table, slot: str, mapping: dict[str, bytes], ttl: float | None
    ) -> int:
        old = _hash_of(table.get(slot), slot)
        if not old and not mapping:
            return 0
        self._write(table, slot, {**old, **mapping}, ttl)
        return len(mapping.keys() - old.keys())

    def _apply_hdel(self, table: Table, slot: str, fields: Sequence[str]) -> int:
        entry = table.get(slot)
        old = _hash_of(entry, slot)
        left = {name: value for name, value in old.items() if name not in fields}
        if len(left) == len(old):
            return 0
        if left:
            assert entry is not None
            table[slot] = Entry(left, entry.expires_at, self.data.version())
        else:
            del table[slot]
        return len(old) - len(left)

    # -- KeyValue -------------------------------------------------------------------

    async def _get(self, ns: str, slot: str) -> bytes | None:
        entry = self._entry(ns, slot)
        if entry is None:
            return None
        if isinstance(entry.value, dict):
            raise SlotKindError(f"slot {slot!r} holds a hash, not a scalar")
        return entry.value

    async def _set(self, ns: str, slot: str, value: bytes, ttl: float | None) -> None:
        table = self._table(ns)
        self._write(table, slot, value, ttl)
        self._save(ns, table)

    async def _delete(self, ns: str, slot: str) -> bool:
        return await self._delete_many(ns, [slot]) == 1

    # The batch forms: no await inside, so each is one atomic step.

    async def _get_many(self, ns: str, slots: list[str]) -> list[bytes | None]:
        table = self._table(ns)
        values = [table[slot].value if slot in table else None for slot in slots]
        return [value if isinstance(value, bytes) else None for value in values]

    async def _set_many(self, ns: str, mapping: dict[str, bytes], ttl: float | None) -> None:
        table = self._table(ns)
        for slot, value in mapping.items():
            self._write(table, slot, value, ttl)
        self._save(ns, table)

    async def _delete_many(self, ns: str, slots: list[str]) -> int:
        table = self._table(ns)
        existed = sum(table.pop(slot, None) is not None for slot in slots)
        self._save(ns, table)
        return existed

    # -- Hash -----------------------------------------------------------------------

    async def _hget(self, ns: str, slot: str, field: str) -> bytes | None:
        return _hash_of(self._entry(ns, slot), slot).get(field)

    async def _hset(self, ns: str, slot: str, mapping: dict[str, bytes], ttl: float | None) -> int:
        table = self._table(ns)
        added = self._apply_hset(table, slot, mapping, ttl)
        self._save(ns, table)
        return added

    async def _hdel(self, ns: str, slot: str, fields: list[str]) -> int:
        table = self._table(ns)
        removed = self._apply_hdel(table, slot, fields)
        self._save(ns, table)
        return removed

    async def _hgetall(self, ns: str, slot: str) -> dict[str, bytes]:
        return dict(_hash_of(self._entry(ns, slot), slot))

    # -- Counter: canonical int64 decimals, as Redis's INCRBY ------------------------

    async def _incr(self, ns: str, slot: str, amount: int, ttl: float | None) -> int:
        table = self._table(ns)
        entry = table.get(slot)
        if entry is None:
            total = add_counter(0, amount, slot)
            self._write(table, slot, str(total).encode(), ttl)
            self._save(ns, table)
            return total
        if isinstance(entry.value, dict):
            raise SlotKindError(f"slot {slot!r} holds a hash, not a counter")
        total = add_counter(parse_counter(entry.value, slot), amount, slot)
        # An existing counter keeps its expiry.
        table[slot] = Entry(str(total).encode(), entry.expires_at, self.data.version())
        return total

    # -- TTL: an expire is a write (a watching transaction conflicts) ---------------

    async def _get_ttl(self, ns: str, slot: str) -> float | None:
        entry = self._entry(ns, slot)
        # math.inf - now is math.inf: the answer for a slot that never expires.
        return None if entry is None else entry.expires_at - self.clock()

    async def _expire(self, ns: str, slot: str, ttl: float) -> bool:
        entry = self._entry(ns, slot)
        if entry is None:
            return False
        entry.expires_at, entry.version = self.clock() + ttl, self.data.version()
        return True

    # -- NamespaceLifecycle -----------------------------------------------------------

    async def _slots(self, ns: str, prefix: str) -> list[str]:
        return [slot for slot in self._table(ns) if slot.startswith(prefix)]

    async def _slot_kind(self, ns: str, slot: str) -> SlotKind | None:
        entry = self._entry(ns, slot)
        if entry is None:
            return None
        return SlotKind.HASH if isinstance(entry.value, dict) else SlotKind.SCALAR

    async def _touch(self, ns: str, ttl: float) -> int:
        table = self._table(ns)
        for entry in table.values():
            entry.expires_at, entry.version = self.clock() + ttl, self.data.version()
        return len(table)

    async def _purge(self, ns: str) -> int:
        count = len(self._table(ns))
        self.data.tables.pop(ns, None)
        return count

    # -- Transactions -----------------------------------------------------------------

    def _transaction(self, ns: str, watch: tuple[str, ...]) -> TinyTransaction:
        return TinyTransaction(self, ns, watch)

    def _version(self, ns: str, slot: str) -> int | None:
        entry = self._entry(ns, slot)
        return None if entry is None else entry.version


class TinyTransaction(TransactionBase):
    """Optimistic: remember the watched versions, compare them at commit."""

    def __init__(self, store: TinyStore, ns: str, watch: tuple[str, ...]) -> None:
        super().__init__(store, ns, watch)
        self.tiny = store
        self.seen: dict[str, int | None] = {}

    async def _begin(self) -> None:
        self.seen = {slot: self.tiny._version(self.ns, slot) for slot in self.watch}

    async def _get(self, slot: str) -> bytes | None:
        return await self.tiny._get(self.ns, slot)

    async def _hgetall(self, slot: str) -> dict[str, bytes]:
        return await self.tiny._hgetall(self.ns, slot)

    async def _commit(self, ops: Sequence[Op]) -> bool:
        store = self.tiny
        if any(store._version(self.ns, slot) != seen for slot, seen in self.seen.items()):
            return False
        # Apply to a copy: an op that raises SlotKindError leaves everything as it was.
        table = dict(store._table(self.ns))
        for op in ops:
            if isinstance(op, SetOp):
                store._write(table, op.slot, op.value, op.ttl)
            elif isinstance(op, DeleteOp):
                table.pop(op.slot, None)
            elif isinstance(op, HSetOp):
                store._apply_hset(table, op.slot, op.mapping, op.ttl)
            elif isinstance(op, HDelOp):
                store._apply_hdel(table, op.slot, op.fields)
        store._save(self.ns, table)
        return True

    async def _end(self) -> None:
        self.seen = {}


def _open(url: StoreURL, options: Mapping[str, Any]) -> TinyStore:
    return TinyStore(url, clock=options["clock"], create=options["create"])


#: Pass to ``unistore.register("tiny", DRIVER)``, or return it from a plugin's hook.
DRIVER = Driver(name="tiny", open=_open, options=(CLOCK_OPTION, CREATE_OPTION), distribution="")
