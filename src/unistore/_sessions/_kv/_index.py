"""The listing index of generic session documents: records ordered by update time.

Entries sit in leaves of about 18 minutes of ``updated`` time; a directory per
period of about 12.7 days names its non-empty leaves, and the top directory
names the non-empty periods. A write moves one entry (and, when it lands in
another leaf or period, marks that one present), inside the transaction of the
write itself. Listing walks periods and leaves newest first and stops once the
page is full, so it reads the directories it passes and the leaves it needs,
never a session's messages nor every record.

Invariant: a non-empty leaf is named by its period, and a non-empty period by
the top directory. Directories are never emptied by writers (that would need a
watch on a shared slot and so serialise every write); a listing that walks past
an empty leaf or period removes its name in a small transaction watching it,
which conflicts with (and so never undoes) a concurrent writer filling it.
"""

from __future__ import annotations

from typing import Protocol

from unistore._sessions._kv._layout import (
    INDEX_SLOT,
    LEAF_SHIFT,
    TOP_SHIFT,
    entry_field,
    leaf_slot,
    mid_slot,
    parse_entry_field,
)
from unistore._sessions._kv._meta import Meta, record_from_entry
from unistore.errors import TransactionConflictError
from unistore.protocols import Hash, SessionPage, SessionRecord, Transaction, Transactions
from unistore.sdk import decode_cursor, encode_cursor

__all__ = ["add_entry", "list_page", "move_entry", "remove_entry"]

_PRESENT = b"1"


class _IndexStore(Hash, Transactions, Protocol):
    """What listing needs of the store (structural)."""


def _where(updated: int) -> tuple[int, int]:
    return updated >> TOP_SHIFT, updated >> LEAF_SHIFT


def add_entry(tx: Transaction, meta: Meta, ttl: float, *, old_updated: int | None = None) -> None:
    """Queue the entry of ``meta`` (and the names of its leaf and period if new).

    ``old_updated`` is when the entry being replaced was written: its leaf and
    period are known to be named already (they hold that entry), so they are not
    rewritten.
    """
    top, leaf = _where(meta.updated)
    tx.hset(
        leaf_slot(top, leaf), {entry_field(meta.updated, meta.encoded): meta.entry_value()}, ttl=ttl
    )
    old_top, old_leaf = _where(old_updated) if old_updated is not None else (None, None)
    if leaf != old_leaf:
        tx.hset(mid_slot(top), {str(leaf): _PRESENT}, ttl=ttl)
    if top != old_top:
        tx.hset(INDEX_SLOT, {str(top): _PRESENT}, ttl=ttl)


def remove_entry(tx: Transaction, encoded: str, updated: int) -> None:
    """Queue the removal of the entry of session ``encoded`` written at ``updated``."""
    top, leaf = _where(updated)
    tx.hdel(leaf_slot(top, leaf), [entry_field(updated, encoded)])


def move_entry(tx: Transaction, meta: Meta, old_updated: int, ttl: float) -> None:
    """Queue moving a session's entry from ``old_updated`` to ``meta.updated``."""
    remove_entry(tx, meta.encoded, old_updated)
    add_entry(tx, meta, ttl, old_updated=old_updated)


def _names(fields: list[str], below: int | None) -> list[int]:
    numbers = sorted((int(name) for name in fields if name.isdigit()), reverse=True)
    return numbers if below is None else [n for n in numbers if n <= below]


async def _forget_if_empty(store: _IndexStore, ns: str, slot: str, parent: str, name: str) -> None:
    # Watching the emptied slot makes this conflict with a writer filling it
    # again (that writer also re-marks it present, so losing the race is fine).
    try:
        async with store.transaction(ns, [slot]) as tx:
            if not await tx.hgetall(slot):
                tx.hdel(parent, [name])
                await tx.commit()
    except TransactionConflictError:
        pass


async def list_page(store: _IndexStore, ns: str, limit: int, cursor: str | None) -> SessionPage:
    """Return one page of records newest first, walking the index from ``cursor``.

    ``limit`` and ``cursor`` are checked already (``check_limit``, ``check_cursor``).

    Raises:
        ValidationError: The cursor text was not made by this listing.
    """
    after: tuple[int, str] | None = None
    if cursor is not None:
        micros, sid = decode_cursor(cursor, int, str)
        after = (int(micros), str(sid))
    top_bound, leaf_bound = _where(after[0]) if after is not None else (None, None)
    found: list[tuple[tuple[int, str], bytes]] = []
    empty: list[tuple[str, str, str]] = []
    for top in _names(await store.hkeys(ns, INDEX_SLOT), top_bound):
        names = await store.hkeys(ns, mid_slot(top))
        leaves = _names(names, leaf_bound)
        # Forget the period too once every leaf it names turned out empty
        # (cleanups run leaves first, so its own check then sees it empty).
        all_empty = len(leaves) == len(names)
        for leaf in leaves:
            entries = await store.hgetall(ns, leaf_slot(top, leaf))
            if not entries:
                empty.append((leaf_slot(top, leaf), mid_slot(top), str(leaf)))
                continue
            all_empty = False
            keyed = [(parse_entry_field(name), value) for name, value in entries.items()]
            if after is not None:
                keyed = [item for item in keyed if item[0] < after]
            keyed.sort(key=lambda item: item[0], reverse=True)
            found.extend(keyed)
            if len(found) > limit:
                break
        if all_empty:
            empty.append((mid_slot(top), INDEX_SLOT, str(top)))
        if len(found) > limit:
            break
    for slot, parent, name in empty:
        await _forget_if_empty(store, ns, slot, parent, name)
    items: list[SessionRecord] = [record_from_entry(value) for _, value in found[:limit]]
    next_cursor = None
    if len(found) > limit:
        last_updated, last_id = found[limit - 1][0]
        next_cursor = encode_cursor(last_updated, last_id)
    return SessionPage(items=items, next_cursor=next_cursor)
