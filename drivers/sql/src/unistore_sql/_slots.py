"""Statements on slots and hash fields, each a function of one connection.

The store runs them as units of work; a transaction's commit runs several of
them on its own connection. Every statement is prebuilt once with bound
parameters; ``now`` is always a parameter, and every read filters
``expires_at > now`` so an expired row is invisible at once.

A hash slot's fields live in the ``fields`` table under the slot's current
generation (``gen``). A slot that becomes a hash afresh (absent, expired or a
scalar before) gets a new generation and drops the rows of older ones; rows
left behind by a hash that became a scalar are invisible and go with the
slot (delete, purge, sweep).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Double,
    Integer,
    LargeBinary,
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from unistore.errors import SlotKindError
from unistore.protocols import SlotKind
from unistore.sdk import INT64_MAX, INT64_MIN, LATER, Later, add_counter, parse_counter, short
from unistore_sql._expiry import seconds_left
from unistore_sql._inline import AtOnce, OneRow
from unistore_sql._keys import as_counter, decode, digest, encode, new_token, prefix_bounds
from unistore_sql._schema import KIND_HASH, KIND_SCALAR, PREFIX_INDEXED, Tables, slot_head

T = TypeVar("T")

#: Rows per statement where a list of keys becomes parameters.
CHUNK = 500

#: Expired slots removed by one sweep batch: the first batch, and the most
#: an adaptive run grows to while a backlog lasts (see ``Database``).
SWEEP_BATCH = 500
SWEEP_BATCH_MAX = 20_000

#: Namespaces read per statement when listing them.
LISTING_BATCH = 500

_KINDS = {KIND_SCALAR: SlotKind.SCALAR, KIND_HASH: SlotKind.HASH}


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def kind_error(slot: str, expected: int, actual: int) -> SlotKindError:
    return SlotKindError(
        f"slot {short(slot)} holds a {_KINDS[actual].value}, not a {_KINDS[expected].value}"
    )


class SlotStatements:
    """The prebuilt statements of one store, for its dialect and tables."""

    def __init__(self, tables: Tables, dialect: str) -> None:
        self.tables = tables
        self.pg = dialect == "postgresql"
        s, f = tables.slots, tables.fields
        insert = postgresql.insert if self.pg else sqlite.insert
        pk = [s.c.ns_key, s.c.slot_key]
        nk: BindParameter[bytes] = bindparam("nk", type_=LargeBinary)
        sk: BindParameter[bytes] = bindparam("sk", type_=LargeBinary)
        now: BindParameter[float] = bindparam("now", type_=Double)
        here = and_(s.c.ns_key == nk, s.c.slot_key == sk)
        live = s.c.expires_at > now
        expired = s.c.expires_at <= now

        self.q_get = select(s.c.kind, s.c.value, s.c.num).where(here, live)
        self.r_get = OneRow(self.q_get, ("nk", "sk", "now"))
        self.q_kind = select(s.c.kind).where(here, live)
        self.q_expiry = select(s.c.expires_at).where(here, live)
        self.q_names = select(s.c.slot).where(s.c.ns_key == nk, live)
        # A prefix is a range of the (ns_key, slot head) index.
        head = slot_head(s.c.slot)
        self.q_names_from = self.q_names.where(head >= bindparam("lo", type_=LargeBinary))
        self.q_names_range = self.q_names_from.where(head < bindparam("hi", type_=LargeBinary))
        listing = (
            select(s.c.ns_key, s.c.ns)
            .where(live, s.c.ns_key > bindparam("after", type_=LargeBinary))
            .group_by(s.c.ns_key, s.c.ns)
            .order_by(s.c.ns_key)
            .limit(LISTING_BATCH)
        )
        self.q_namespaces = listing
        # A UTF-8 prefix of the bytes is exactly a prefix of the text.
        self.q_namespaces_with = listing.where(
            func.substr(s.c.ns, 1, bindparam("plen", type_=Integer))
            == bindparam("prefix", type_=LargeBinary)
        )

        ins = insert(s)
        self.q_set = ins.on_conflict_do_update(
            index_elements=pk,
            set_={
                "kind": ins.excluded.kind,
                "value": ins.excluded.value,
                "num": ins.excluded.num,
                "version": ins.excluded.version,
                "expires_at": ins.excluded.expires_at,
            },
        )
        self.q_incr = ins.on_conflict_do_update(
            index_elements=pk,
            set_={
                "kind": KIND_SCALAR,
                "value": None,
                "num": case((expired, ins.excluded.num), else_=s.c.num + ins.excluded.num),
                "version": ins.excluded.version,
                "expires_at": case((expired, ins.excluded.expires_at), else_=s.c.expires_at),
            },
            where=or_(
                expired,
                and_(
                    s.c.kind == KIND_SCALAR,
                    s.c.num.is_not(None),
                    s.c.num >= bindparam("lo"),
                    s.c.num <= bindparam("hi"),
                ),
            ),
        ).returning(s.c.num)
        fresh = or_(expired, s.c.kind != KIND_HASH)
        self.q_hash_upsert = ins.on_conflict_do_update(
            index_elements=pk,
            set_={
                "kind": KIND_HASH,
                "value": None,
                "num": None,
                "gen": case((fresh, ins.excluded.gen), else_=s.c.gen),
                "version": ins.excluded.version,
                "expires_at": ins.excluded.expires_at,
            },
            where=or_(expired, s.c.kind == KIND_HASH),
        ).returning(s.c.gen)
        self.q_hash_refresh = (
            update(s)
            .where(here, live, s.c.kind == KIND_HASH)
            .values(version=bindparam("ver"), expires_at=bindparam("exp"))
        )
        # A new expiry is a write: the new version makes a watching transaction conflict.
        self.q_expire = (
            update(s)
            .where(here, live)
            .values(expires_at=bindparam("exp"), version=bindparam("ver"))
        )
        self.q_touch = (
            update(s)
            .where(s.c.ns_key == nk, live)
            .values(expires_at=bindparam("exp"), version=bindparam("ver"))
        )
        self.q_bump = update(s).where(here).values(version=bindparam("ver"))
        self.q_delete = delete(s).where(here).returning(s.c.expires_at, s.c.gen)
        self.q_purge = delete(s).where(s.c.ns_key == nk).returning(s.c.expires_at, s.c.gen)
        self.q_hash_head = select(s.c.kind, s.c.gen).where(here, live)
        if self.pg:
            self.q_hash_head = self.q_hash_head.with_for_update()

        fhere = and_(f.c.ns_key == nk, f.c.slot_key == sk)
        gen: BindParameter[int] = bindparam("gen", type_=BigInteger)
        join = s.outerjoin(
            f,
            and_(
                f.c.ns_key == s.c.ns_key,
                f.c.slot_key == s.c.slot_key,
                f.c.gen == s.c.gen,
                s.c.kind == KIND_HASH,
            ),
        )
        self.q_hget = (
            select(s.c.kind, f.c.value)
            .select_from(
                s.outerjoin(
                    f,
                    and_(
                        f.c.ns_key == s.c.ns_key,
                        f.c.slot_key == s.c.slot_key,
                        f.c.gen == s.c.gen,
                        f.c.field_key == bindparam("fk"),
                    ),
                )
            )
            .where(here, live)
        )
        # The field's key comes first: the join's condition precedes the WHERE.
        self.r_hget = OneRow(self.q_hget, ("fk", "nk", "sk", "now"))
        self.hash_join = join
        self.q_hgetall = select(s.c.kind, f.c.field, f.c.value).select_from(join).where(here, live)

        self.q_fields_count = select(func.count()).where(
            fhere, f.c.gen == gen, f.c.field_key.in_(bindparam("fks", expanding=True))
        )
        self.q_fields_any = select(f.c.field_key).where(fhere, f.c.gen == gen).limit(1)
        self.q_fields_drop_stale = delete(f).where(fhere, f.c.gen != gen)
        self.q_fields_drop_gen = delete(f).where(fhere, f.c.gen == gen)
        self.q_fields_drop_some = delete(f).where(
            fhere, f.c.gen == gen, f.c.field_key.in_(bindparam("fks", expanding=True))
        )
        self.q_fields_drop_gens = delete(f).where(
            f.c.ns_key == nk, f.c.gen.in_(bindparam("gens", expanding=True))
        )
        fins = insert(f)
        self.q_fields_put = fins.on_conflict_do_update(
            index_elements=[f.c.ns_key, f.c.slot_key, f.c.field_key],
            set_={
                "gen": fins.excluded.gen,
                "field": fins.excluded.field,
                "value": fins.excluded.value,
            },
        )

        # A sweep batch: the first ``batch`` expired slots and their hash
        # fields, deleted in the database with no row coming back to Python
        # (a batch is up to 20,000 rows; building them held the GIL, and on
        # SQLite the sweep's thread then held up the loop's reads).
        def due(*columns: Any) -> Any:
            return (
                select(*columns)
                .where(s.c.expires_at <= now)
                .order_by(s.c.expires_at)
                .limit(bindparam("batch", type_=Integer))
            )

        slots_due = tuple_(s.c.ns_key, s.c.slot_key).in_(due(s.c.ns_key, s.c.slot_key))
        fields_of = tuple_(f.c.ns_key, f.c.slot_key, f.c.gen)
        self.q_sweep_slots: Any
        self.q_sweep_fields: Any = None
        if self.pg:
            # One statement: the fields of exactly the slots it deleted.
            gone = (
                delete(s)
                .where(slots_due, s.c.expires_at <= now)
                .returning(s.c.ns_key, s.c.slot_key, s.c.gen)
                .cte("gone")
            )
            fields_gone = (
                delete(f)
                .where(fields_of.in_(select(gone.c.ns_key, gone.c.slot_key, gone.c.gen)))
                .returning(f.c.gen)
                .cte("fields_gone")
            )
            self.q_sweep_slots = select(func.count()).select_from(gone).add_cte(fields_gone)
        else:
            # Two statements in one write transaction: SQLite reads the same
            # batch twice (the expiry index's order is total, ties by rowid),
            # the fields first, while their slots still name them.
            fields_due = fields_of.in_(due(s.c.ns_key, s.c.slot_key, s.c.gen))
            self.q_sweep_fields = delete(f).where(fields_due)
            self.q_sweep_slots = delete(s).where(slots_due, s.c.expires_at <= now)

    # -- helpers ----------------------------------------------------------------

    @staticmethod
    def keys(ns: str, slot: str) -> dict[str, Any]:
        return {"nk": digest(ns), "sk": digest(slot)}

    @staticmethod
    def row(ns: str, slot: str, kind: int, exp: float) -> dict[str, Any]:
        return {
            "ns_key": digest(ns),
            "slot_key": digest(slot),
            "ns": encode(ns),
            "slot": encode(slot),
            "kind": kind,
            "value": None,
            "num": None,
            "gen": None,
            "version": new_token(),
            "expires_at": exp,
        }

    # -- scalars ------------------------------------------------------------------

    @staticmethod
    def scalar_values(ns: str, slot: str, now: float) -> tuple[bytes, bytes, float]:
        """The values of :attr:`r_get`, in its order."""
        return digest(ns), digest(slot), now

    def scalar_now(self, at_once: AtOnce, ns: str, slot: str, now: float) -> bytes | Later | None:
        """Read a scalar through ``at_once``: its value, None, or :data:`~unistore.sdk.LATER`.

        :meth:`scalar_values` and the common case of :meth:`scalar_of`
        written out: on a read at once, each call is a twentieth of the read.
        """
        row = at_once(self.r_get, (digest(ns), digest(slot), now))
        if row is None or row is LATER:
            return row
        if row[0] == KIND_SCALAR and row[1] is not None:
            return row[1]  # type: ignore[no-any-return]  # sqlite3 reads a BLOB as bytes
        return self.scalar_of(row, slot)

    @staticmethod
    def scalar_of(row: Any, slot: str) -> bytes | None:
        """The value in a row of :attr:`q_get` (None: no row)."""
        if row is None:
            return None
        kind, value, num = row
        if kind != KIND_SCALAR:
            raise kind_error(slot, KIND_SCALAR, kind)
        if value is not None:  # scalar_bytes() written out: a get's every call counts
            return bytes(value)
        return str(int(num)).encode()

    async def read_scalar(
        self, conn: AsyncConnection, ns: str, slot: str, now: float
    ) -> bytes | None:
        params = self.r_get.bind(self.scalar_values(ns, slot, now))
        return self.scalar_of((await conn.execute(self.q_get, params)).first(), slot)

    async def write_scalar(
        self, conn: AsyncConnection, ns: str, slot: str, value: bytes, exp: float
    ) -> None:
        params = self.row(ns, slot, KIND_SCALAR, exp)
        number = as_counter(value)
        if number is None:
            params["value"] = value
        else:
            params["num"] = number
        await conn.execute(self.q_set, params)

    async def delete_slot(self, conn: AsyncConnection, ns: str, slot: str, now: float) -> bool:
        keys = self.keys(ns, slot)
        row = (await conn.execute(self.q_delete, keys)).first()
        if row is None:
            return False
        if row.gen is not None:
            await conn.execute(self.q_fields_drop_gen, {**keys, "gen": row.gen})
        return bool(row.expires_at > now)

    async def incr(
        self, conn: AsyncConnection, ns: str, slot: str, amount: int, exp: float, now: float
    ) -> int:
        params = self.row(ns, slot, KIND_SCALAR, exp)
        params.update(
            num=amount,
            now=now,
            lo=INT64_MIN - amount if amount < 0 else INT64_MIN,
            hi=INT64_MAX - amount if amount > 0 else INT64_MAX,
        )
        for _ in range(3):
            value = (await conn.execute(self.q_incr, params)).scalar()
            if value is not None:
                return int(value)
            # The upsert's guard refused: find out why (nothing was changed).
            row = (await conn.execute(self.q_get, {**self.keys(ns, slot), "now": now})).first()
            if row is None:
                continue  # deleted or expired in between: the upsert creates it now
            if row.kind != KIND_SCALAR:
                raise kind_error(slot, KIND_SCALAR, row.kind)
            current = int(row.num) if row.num is not None else parse_counter(bytes(row.value), slot)
            add_counter(current, amount, slot)  # raises the SDK's overflow error
        raise AssertionError("a slot kept changing under incr")  # pragma: no cover

    # -- hashes -------------------------------------------------------------------

    @staticmethod
    def field_values(
        ns: str, slot: str, field: str, now: float
    ) -> tuple[bytes, bytes, bytes, float]:
        """The values of :attr:`r_hget`, in its order."""
        return digest(field), digest(ns), digest(slot), now

    def field_now(
        self, at_once: AtOnce, ns: str, slot: str, field: str, now: float
    ) -> bytes | Later | None:
        """Read a hash field through ``at_once`` (as :meth:`scalar_now`)."""
        row = at_once(self.r_hget, (digest(field), digest(ns), digest(slot), now))
        if row is None or row is LATER:
            return row
        return self.field_of(row, slot)

    @staticmethod
    def field_of(row: Any, slot: str) -> bytes | None:
        """The value in a row of :attr:`q_hget` (None: no row)."""
        if row is None:
            return None
        kind, value = row
        if kind != KIND_HASH:
            raise kind_error(slot, KIND_HASH, kind)
        return None if value is None else bytes(value)

    async def hget(
        self, conn: AsyncConnection, ns: str, slot: str, field: str, now: float
    ) -> bytes | None:
        params = self.r_hget.bind(self.field_values(ns, slot, field, now))
        return self.field_of((await conn.execute(self.q_hget, params)).first(), slot)

    async def hgetall(
        self, conn: AsyncConnection, ns: str, slot: str, now: float
    ) -> dict[str, bytes]:
        rows = (await conn.execute(self.q_hgetall, {**self.keys(ns, slot), "now": now})).all()
        if rows and rows[0].kind != KIND_HASH:
            raise kind_error(slot, KIND_HASH, rows[0].kind)
        return {decode(r.field): bytes(r.value) for r in rows if r.field is not None}

    async def hset(
        self,
        conn: AsyncConnection,
        ns: str,
        slot: str,
        mapping: dict[str, bytes],
        exp: float,
        now: float,
    ) -> int:
        keys = self.keys(ns, slot)
        if not mapping:
            # Nothing to add: an existing hash still gets the new expiry.
            result = await conn.execute(
                self.q_hash_refresh, {**keys, "now": now, "ver": new_token(), "exp": exp}
            )
            if not _rowcount(result):
                kind = (await conn.execute(self.q_kind, {**keys, "now": now})).scalar()
                if kind is not None and kind != KIND_HASH:
                    raise kind_error(slot, KIND_HASH, kind)
            return 0
        params = self.row(ns, slot, KIND_HASH, exp)
        fresh_gen = new_token()
        params.update(gen=fresh_gen, now=now)
        gen = (await conn.execute(self.q_hash_upsert, params)).scalar()
        if gen is None:
            raise kind_error(slot, KIND_HASH, KIND_SCALAR)
        field_keys = {name: digest(name) for name in mapping}
        existing = 0
        if gen == fresh_gen:
            await conn.execute(self.q_fields_drop_stale, {**keys, "gen": gen})
        else:
            for part in chunks(list(field_keys.values())):
                counted = await conn.scalar(
                    self.q_fields_count, {**keys, "gen": gen, "fks": list(part)}
                )
                existing += int(counted or 0)
        rows = [
            {
                "ns_key": keys["nk"],
                "slot_key": keys["sk"],
                "field_key": field_keys[name],
                "gen": gen,
                "field": encode(name),
                "value": value,
            }
            for name, value in mapping.items()
        ]
        for batch in chunks(rows):
            await conn.execute(self.q_fields_put, list(batch))
        return len(mapping) - existing

    async def hdel(
        self, conn: AsyncConnection, ns: str, slot: str, names: list[str], now: float
    ) -> int:
        keys = self.keys(ns, slot)
        head = (await conn.execute(self.q_hash_head, {**keys, "now": now})).first()
        if head is None or not names:
            if head is not None and head.kind != KIND_HASH:
                raise kind_error(slot, KIND_HASH, head.kind)
            return 0
        if head.kind != KIND_HASH:
            raise kind_error(slot, KIND_HASH, head.kind)
        removed = 0
        for part in chunks([digest(name) for name in names]):
            result = await conn.execute(
                self.q_fields_drop_some, {**keys, "gen": head.gen, "fks": list(part)}
            )
            removed += _rowcount(result)
        if removed:
            left = (await conn.execute(self.q_fields_any, {**keys, "gen": head.gen})).first()
            if left is None:
                await conn.execute(self.q_delete, keys)
            else:
                await conn.execute(self.q_bump, {**keys, "ver": new_token()})
        return removed

    # -- namespaces and expiry ----------------------------------------------------

    async def slot_kind(
        self, conn: AsyncConnection, ns: str, slot: str, now: float
    ) -> SlotKind | None:
        kind = (await conn.execute(self.q_kind, {**self.keys(ns, slot), "now": now})).scalar()
        return None if kind is None else _KINDS[kind]

    async def get_ttl(self, conn: AsyncConnection, ns: str, slot: str, now: float) -> float | None:
        exp = (await conn.execute(self.q_expiry, {**self.keys(ns, slot), "now": now})).scalar()
        return None if exp is None else seconds_left(float(exp), now)

    async def expire_slot(
        self, conn: AsyncConnection, ns: str, slot: str, exp: float, now: float
    ) -> bool:
        params = {**self.keys(ns, slot), "now": now, "exp": exp, "ver": new_token()}
        result = await conn.execute(self.q_expire, params)
        return _rowcount(result) > 0

    async def slot_names(
        self, conn: AsyncConnection, ns: str, prefix: str, now: float
    ) -> list[str]:
        """Return the live slots of ``ns``, at least those starting with ``prefix``.

        A prefix longer than the index holds is looked up by its indexed
        part: the caller filters exactly.
        """
        params: dict[str, Any] = {"nk": digest(ns), "now": now}
        stmt = self.q_names
        if prefix:
            low, high = prefix_bounds(encode(prefix)[:PREFIX_INDEXED])
            params["lo"] = low
            stmt = self.q_names_from
            if high is not None:
                params["hi"] = high
                stmt = self.q_names_range
        rows = await conn.execute(stmt, params)
        return [decode(raw) for raw in rows.scalars()]

    async def namespaces(
        self, conn: AsyncConnection, prefix: str, after: bytes, now: float
    ) -> list[tuple[bytes, str]]:
        """Return the next batch of (key, namespace) with live slots, in key order."""
        params: dict[str, Any] = {"after": after, "now": now}
        stmt = self.q_namespaces
        if prefix:
            raw = encode(prefix)
            params.update(prefix=raw, plen=len(raw))
            stmt = self.q_namespaces_with
        rows = await conn.execute(stmt, params)
        return [(bytes(r.ns_key), decode(r.ns)) for r in rows]

    async def touch(self, conn: AsyncConnection, ns: str, exp: float, now: float) -> int:
        params = {"nk": digest(ns), "now": now, "exp": exp, "ver": new_token()}
        result = await conn.execute(self.q_touch, params)
        return _rowcount(result)

    async def purge(self, conn: AsyncConnection, ns: str, now: float) -> int:
        nk = digest(ns)
        rows = (await conn.execute(self.q_purge, {"nk": nk})).all()
        gens = sorted({r.gen for r in rows if r.gen is not None})
        for part in chunks(gens):
            await conn.execute(self.q_fields_drop_gens, {"nk": nk, "gens": list(part)})
        return sum(1 for r in rows if r.expires_at > now)

    async def sweep(self, conn: AsyncConnection, now: float, batch: int = SWEEP_BATCH) -> int:
        """Delete up to ``batch`` expired slots and their fields; return how many slots."""
        params = {"now": now, "batch": batch}
        if self.pg:
            return int((await conn.execute(self.q_sweep_slots, params)).scalar_one())
        await conn.execute(self.q_sweep_fields, params)
        return _rowcount(await conn.execute(self.q_sweep_slots, params))


def scalar_bytes(value: Any, num: Any) -> bytes:
    """A scalar's bytes from its row's ``value`` and ``num`` columns."""
    if value is None:
        return str(int(num)).encode()
    return bytes(value)


def _rowcount(result: Any) -> int:
    count = getattr(result, "rowcount", -1)
    return max(0, int(count))
