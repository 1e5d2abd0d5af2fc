"""Batch statements on slots: get_many, set_many and delete_many.

A batch names its slots with ONE bound parameter whatever its size, so that
it stays one statement without meeting SQLite's limit on bound variables:

* PostgreSQL binds a ``bytea[]`` array and matches ``slot_key = ANY(:keys)``;
* SQLite binds the keys concatenated into one blob (every key is a 32-byte
  digest) and splits it with a recursive CTE, ``slot_key IN (SELECT
  substr(:keys, 32 * i + 1, 32) ...)``.

Either way the database looks each key up in the primary key index.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Double,
    Integer,
    LargeBinary,
    any_,
    bindparam,
    delete,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from unistore_sql._keys import as_counter, digest
from unistore_sql._schema import KIND_SCALAR
from unistore_sql._slots import SlotStatements, scalar_bytes

__all__ = ["BatchStatements"]

_KEY_SIZE = 32


class BatchStatements:
    """The prebuilt batch statements of one store."""

    def __init__(self, slots: SlotStatements) -> None:
        self._slots = slots
        self.pg = slots.pg
        s, f = slots.tables.slots, slots.tables.fields
        nk = bindparam("nk", type_=LargeBinary)
        now = bindparam("now", type_=Double)
        self.q_get = select(s.c.slot_key, s.c.kind, s.c.value, s.c.num).where(
            s.c.ns_key == nk, self._among(s.c.slot_key), s.c.expires_at > now
        )
        self.q_delete = (
            delete(s).where(s.c.ns_key == nk, self._among(s.c.slot_key)).returning(s.c.expires_at)
        )
        # A slot set or deleted by a batch is no hash any more: its fields go,
        # whatever their generation.
        self.q_drop_fields = delete(f).where(f.c.ns_key == nk, self._among(f.c.slot_key))
        ins = (postgresql.insert if self.pg else sqlite.insert)(s)
        self.q_set = ins.on_conflict_do_update(
            index_elements=[s.c.ns_key, s.c.slot_key],
            set_={
                "kind": ins.excluded.kind,
                "value": ins.excluded.value,
                "num": ins.excluded.num,
                "gen": ins.excluded.gen,
                "version": ins.excluded.version,
                "expires_at": ins.excluded.expires_at,
            },
        )

    def _among(self, column: Any) -> Any:
        """Return ``column IN (the keys bound as "keys")``, one parameter for any count."""
        if self.pg:
            return column == any_(bindparam("keys", type_=postgresql.ARRAY(LargeBinary)))
        start = select(literal_column("0").label("i")).cte("wanted", recursive=True)
        wanted = start.union_all(
            select(start.c.i + 1).where(start.c.i + 1 < bindparam("n", type_=Integer))
        )
        blob = bindparam("keys", type_=LargeBinary)
        return column.in_(select(func.substr(blob, wanted.c.i * _KEY_SIZE + 1, _KEY_SIZE)))

    def _keys(self, keys: list[bytes]) -> dict[str, Any]:
        if self.pg:
            return {"keys": keys}
        return {"keys": b"".join(keys), "n": len(keys)}

    async def get_many(
        self, conn: AsyncConnection, ns: str, slots: list[str], now: float
    ) -> list[bytes | None]:
        """Read the slots in one statement (one snapshot); hashes read as ``None``."""
        wanted = {slot: digest(slot) for slot in slots}
        params = {"nk": digest(ns), "now": now, **self._keys(list(set(wanted.values())))}
        found: dict[bytes, bytes | None] = {}
        for row in await conn.execute(self.q_get, params):
            found[bytes(row.slot_key)] = (
                scalar_bytes(row.value, row.num) if row.kind == KIND_SCALAR else None
            )
        return [found.get(wanted[slot]) for slot in slots]

    async def set_many(
        self, conn: AsyncConnection, ns: str, mapping: dict[str, bytes], exp: float
    ) -> None:
        """Upsert every slot as a scalar, then drop any hash fields they had.

        The upsert runs first: once it holds the rows' locks, no concurrent
        hset can add fields the second statement would miss. Rows go in key
        order, so two overlapping batches lock in the same order.
        """
        rows = []
        for slot, value in mapping.items():
            row = self._slots.row(ns, slot, KIND_SCALAR, exp)
            number = as_counter(value)
            if number is None:
                row["value"] = value
            else:
                row["num"] = number
            rows.append(row)
        rows.sort(key=lambda row: row["slot_key"])
        await conn.execute(self.q_set, rows)
        keys = [row["slot_key"] for row in rows]
        await conn.execute(self.q_drop_fields, {"nk": digest(ns), **self._keys(keys)})

    async def delete_many(
        self, conn: AsyncConnection, ns: str, slots: list[str], now: float
    ) -> int:
        """Delete distinct slots and their fields; return how many were live."""
        params = {"nk": digest(ns), **self._keys([digest(slot) for slot in slots])}
        deleted = (await conn.execute(self.q_delete, params)).scalars().all()
        await conn.execute(self.q_drop_fields, params)
        return sum(1 for exp in deleted if exp > now)
