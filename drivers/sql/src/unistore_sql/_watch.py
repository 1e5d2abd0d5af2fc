"""What a transaction reads at watch time and re-checks at commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from unistore_sql._keys import decode, digest, encode
from unistore_sql._schema import KIND_HASH, KIND_SCALAR
from unistore_sql._slots import SlotStatements, chunks, scalar_bytes


@dataclass(frozen=True)
class Snapshot:
    """A watched slot as it was when the transaction began (``version`` None: absent)."""

    version: int | None
    kind: int | None = None
    value: bytes | None = None
    fields: dict[str, bytes] | None = None
    expires_at: float = 0.0


class WatchStatements:
    """The statements behind watching and committing, for one store."""

    def __init__(self, slots: SlotStatements) -> None:
        s, f = slots.tables.slots, slots.tables.fields
        self.pg = slots.pg
        nk = bindparam("nk", type_=s.c.ns_key.type)
        in_keys = s.c.slot_key.in_(bindparam("sks", expanding=True))
        # One statement: the rows and their fields are one consistent snapshot.
        self.q_watch = (
            select(
                s.c.slot_key,
                s.c.kind,
                s.c.value,
                s.c.num,
                s.c.version,
                s.c.expires_at,
                f.c.field,
                f.c.value.label("field_value"),
            )
            .select_from(slots.hash_join)
            .where(s.c.ns_key == nk, in_keys)
        )
        self.q_versions = select(s.c.slot_key, s.c.version, s.c.expires_at).where(
            s.c.ns_key == nk, in_keys
        )
        lock = postgresql.insert(s)
        # Locks every watched row, creating an expired placeholder for an
        # absent one so that a concurrent creator waits on it as well.
        self.q_lock_versions = lock.on_conflict_do_update(
            index_elements=[s.c.ns_key, s.c.slot_key], set_={"version": s.c.version}
        ).returning(s.c.slot_key, s.c.version, s.c.expires_at)

    async def snapshot(
        self, conn: AsyncConnection, ns: str, slots: Sequence[str], now: float
    ) -> dict[str, Snapshot]:
        by_key = {digest(slot): slot for slot in slots}
        found: dict[str, Snapshot] = {}
        for part in chunks(list(by_key)):
            rows = await conn.execute(self.q_watch, {"nk": digest(ns), "sks": list(part)})
            for r in rows:
                slot = by_key[bytes(r.slot_key)]
                if r.expires_at <= now:
                    continue
                snap = found.get(slot)
                if snap is None:
                    snap = found[slot] = Snapshot(
                        version=int(r.version),
                        kind=int(r.kind),
                        value=scalar_bytes(r.value, r.num) if r.kind == KIND_SCALAR else None,
                        fields={} if r.kind == KIND_HASH else None,
                        expires_at=float(r.expires_at),
                    )
                if snap.fields is not None and r.field is not None:
                    snap.fields[decode(r.field)] = bytes(r.field_value)
        return {slot: found.get(slot, Snapshot(version=None)) for slot in slots}

    async def current_versions(
        self, conn: AsyncConnection, ns: str, slots: Sequence[str], now: float
    ) -> dict[str, int | None]:
        """Return each slot's live version, locked until the transaction ends.

        On SQLite the write transaction (``BEGIN IMMEDIATE``) already excludes
        every other writer; PostgreSQL locks the rows, in key order so that
        concurrent committers never wait on each other in a cycle.
        """
        by_key = {digest(slot): slot for slot in slots}
        nk = digest(ns)
        current: dict[str, int | None] = dict.fromkeys(slots)
        for part in chunks(sorted(by_key)):
            if self.pg:
                rows = await conn.execute(
                    self.q_lock_versions, [_placeholder(ns, key, by_key[key]) for key in part]
                )
            else:
                rows = await conn.execute(self.q_versions, {"nk": nk, "sks": list(part)})
            for r in rows:
                if r.expires_at > now:
                    current[by_key[bytes(r.slot_key)]] = int(r.version)
        return current


def _placeholder(ns: str, sk: bytes, slot: str) -> dict[str, Any]:
    return {
        "ns_key": digest(ns),
        "slot_key": sk,
        "ns": encode(ns),
        "slot": encode(slot),
        "kind": KIND_SCALAR,
        "value": None,
        "num": None,
        "gen": None,
        "version": 0,
        "expires_at": 0.0,
    }
