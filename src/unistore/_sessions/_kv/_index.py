"""The listing index of generic session documents: one scope's records by update time.

Each scope has an index of its own (see :class:`~._layout.Names`), so listing
a scope never reads another's entries.

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

Entries of expired sessions stay until the session is reclaimed: a listing
skips them and reports a bounded number of them for reclaiming.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Protocol

from unistore._sessions._kv._layout import (
    LEAF_SHIFT,
    SCOPES_SLOT,
    TOP_SHIFT,
    Names,
    entry_field,
    parse_entry_field,
)
from unistore._sessions._kv._meta import Entry, Meta, parse_entry
from unistore.errors import TransactionConflictError
from unistore.protocols import Hash, SessionPage, SessionRecord, Transaction, Transactions
from unistore.sdk import decode_cursor, encode_cursor

__all__ = [
    "RECLAIM_BATCH",
    "Listing",
    "add_entry",
    "forget_if_empty",
    "list_page",
    "move_entry",
    "remove_entry",
]

_PRESENT = b"1"

#: Expired sessions one listing reports for reclaiming, so that no listing
#: pays for a whole backlog.
RECLAIM_BATCH: Final = 16


@dataclass(slots=True)
class Listing:
    """A page, and the expired sessions met on the way (at most :data:`RECLAIM_BATCH`).

    Attributes:
        page: The page of live records.
        expired: The expired sessions' records, to reclaim.
    """

    page: SessionPage
    expired: list[SessionRecord] = field(default_factory=list)


class _IndexStore(Hash, Transactions, Protocol):
    """What listing needs of the store (structural)."""


def _where(updated: int) -> tuple[int, int]:
    return updated >> TOP_SHIFT, updated >> LEAF_SHIFT


def add_entry(
    tx: Transaction,
    names: Names,
    meta: Meta,
    ttl: float | None,
    *,
    old_updated: int | None = None,
) -> None:
    """Queue the entry of ``meta`` (and the names of its leaf and period if new).

    ``old_updated`` is when the entry being replaced was written: its leaf and
    period are known to be named already (they hold that entry), so they are not
    rewritten. Naming a period in a non-default scope also names the scope in
    :data:`SCOPES_SLOT`.
    """
    top, leaf = _where(meta.updated)
    entry = {entry_field(meta.updated, meta.encoded): meta.entry_value()}
    tx.hset(names.leaf(top, leaf), entry, ttl=ttl)
    old_top, old_leaf = _where(old_updated) if old_updated is not None else (None, None)
    if leaf != old_leaf:
        tx.hset(names.mid(top), {str(leaf): _PRESENT}, ttl=ttl)
    if top != old_top:
        tx.hset(names.index, {str(top): _PRESENT}, ttl=ttl)
        if names.field:
            tx.hset(SCOPES_SLOT, {names.field: _PRESENT}, ttl=ttl)


def remove_entry(tx: Transaction, names: Names, encoded: str, updated: int) -> None:
    """Queue the removal of the entry of session ``encoded`` written at ``updated``."""
    top, leaf = _where(updated)
    tx.hdel(names.leaf(top, leaf), [entry_field(updated, encoded)])


def move_entry(
    tx: Transaction, names: Names, meta: Meta, old_updated: int, ttl: float | None
) -> None:
    """Queue moving a session's entry from ``old_updated`` to ``meta.updated``."""
    remove_entry(tx, names, meta.encoded, old_updated)
    add_entry(tx, names, meta, ttl, old_updated=old_updated)


def _names(fields: list[str], below: int | None) -> list[int]:
    numbers = sorted((int(name) for name in fields if name.isdigit()), reverse=True)
    return numbers if below is None else [n for n in numbers if n <= below]


async def forget_if_empty(store: _IndexStore, ns: str, slot: str, parent: str, name: str) -> None:
    """Remove ``name`` from the directory ``parent`` if the hash ``slot`` it names is empty."""
    # Watching the emptied slot makes this conflict with a writer filling it
    # again (that writer also re-marks it present, so losing the race is fine).
    try:
        async with store.transaction(ns, [slot]) as tx:
            if not await tx.hgetall(slot):
                tx.hdel(parent, [name])
                await tx.commit()
    except TransactionConflictError:
        pass


async def list_page(
    store: _IndexStore,
    ns: str,
    names: Names,
    limit: int,
    cursor: str | None,
    now: int | None,
) -> Listing:
    """Return one page of a scope's records newest first, walking its index from ``cursor``.

    ``limit`` and ``cursor`` are checked already (``check_limit``, ``check_cursor``).
    Sessions expired at stamp ``now`` are skipped and reported (``now=None``
    keeps them, for tearing everything down).

    Raises:
        ValidationError: The cursor text was not made by this listing.
    """
    after: tuple[int, str] | None = None
    if cursor is not None:
        micros, sid = decode_cursor(cursor, int, str)
        after = (int(micros), str(sid))
    top_bound, leaf_bound = _where(after[0]) if after is not None else (None, None)
    found: list[tuple[tuple[int, str], SessionRecord]] = []
    expired: list[SessionRecord] = []
    empty: list[tuple[str, str, str]] = []
    for top in _names(await store.hkeys(ns, names.index), top_bound):
        listed = await store.hkeys(ns, names.mid(top))
        leaves = _names(listed, leaf_bound)
        # Forget the period too once every leaf it names turned out empty
        # (cleanups run leaves first, so its own check then sees it empty).
        all_empty = len(leaves) == len(listed)
        for leaf in leaves:
            entries = await store.hgetall(ns, names.leaf(top, leaf))
            if not entries:
                empty.append((names.leaf(top, leaf), names.mid(top), str(leaf)))
                continue
            all_empty = False
            keyed = [(parse_entry_field(name), value) for name, value in entries.items()]
            if after is not None:
                keyed = [item for item in keyed if item[0] < after]
            keyed.sort(key=lambda item: item[0], reverse=True)
            for key, value in keyed:
                entry: Entry = parse_entry(value, names.scope)
                if now is not None and entry.expired(now):
                    if len(expired) < RECLAIM_BATCH:
                        expired.append(entry.record)
                else:
                    found.append((key, entry.record))
            if len(found) > limit:
                break
        if all_empty:
            empty.append((names.mid(top), names.index, str(top)))
        if len(found) > limit:
            break
    for slot, parent, name in empty:
        await forget_if_empty(store, ns, slot, parent, name)
    next_cursor = None
    if len(found) > limit:
        last_updated, last_id = found[limit - 1][0]
        next_cursor = encode_cursor(last_updated, last_id)
    items = [record for _, record in found[:limit]]
    return Listing(SessionPage(items=items, next_cursor=next_cursor), expired)
