"""Moving a session to a new id: copy every slot, then purge the old namespace.

Used by ``regenerate()`` (the session-fixation defence at login). The copy goes
through handles that read bytes, so binary values and counters (read as their
digits, written back as a scalar that ``incr`` still accepts) arrive unchanged.
A write made to the old id by a concurrent request between the copy and the
purge is lost; regenerate where nothing else writes the session (at login).
"""

from __future__ import annotations

from typing import Any

from unistore._namespaced._handle import Namespace
from unistore.errors import SlotKindError


async def copy_session(old: Namespace[bytes], new: Namespace[bytes]) -> None:
    """Copy every live slot of ``old`` into ``new`` (with the store's TTL), then purge ``old``."""
    scalars: dict[str, bytes] = {}
    for slot in await old.slots():
        try:
            value = await old.get(slot)
        except SlotKindError:
            fields = await old.hgetall(slot)
            if fields:
                await new.hset(slot, fields)
            continue
        if value is not None:
            scalars[slot] = value
    if scalars:
        await new.set_many(scalars)
    await old.purge()


def copy_session_sync(old: Any, new: Any) -> None:
    """Blocking twin of :func:`copy_session` over ``unistore.sync`` handles."""
    scalars: dict[str, bytes] = {}
    for slot in old.slots():
        try:
            value = old.get(slot)
        except SlotKindError:
            fields = old.hgetall(slot)
            if fields:
                new.hset(slot, fields)
            continue
        if value is not None:
            scalars[slot] = value
    if scalars:
        new.set_many(scalars)
    old.purge()
