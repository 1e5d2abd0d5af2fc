"""The slot tables as stored: digests, exact bytes, counters, expiry and the sweep."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
from sqlalchemy import text

import unistore
from unistore.errors import SlotKindError, ValidationError
from unistore.testing import HOSTILE_IDS
from unistore_sql import SQLStore


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


async def rows(store: SQLStore, sql: str, **params: Any) -> list[Any]:
    async with store.engine.connect() as conn:
        result = await conn.execute(text(sql.format(p=store.table_prefix)), params)
        return list(result.all())


async def test_ids_are_keyed_by_digest_and_stored_exactly(store: SQLStore) -> None:
    ns, slot = "ns\x00*?" + "n" * 10_000, "slot\n%" + "s" * 10_000
    await store.set(ns, slot, b"v", ttl=30)
    (row,) = await rows(store, "SELECT ns_key, slot_key, ns, slot FROM {p}slots")
    assert bytes(row.ns_key) == digest(ns)
    assert len(row.ns_key) == 32
    assert bytes(row.slot_key) == digest(slot)
    assert bytes(row.ns) == ns.encode()
    assert bytes(row.slot) == slot.encode()


async def test_hostile_ids_and_values_round_trip(store: SQLStore) -> None:
    values = [b"", b"\x00", b"\xff\xfe", b"'; DROP TABLE x; --", bytes(range(256)), b"x" * 200_000]
    for index, ident in enumerate(HOSTILE_IDS):
        value = values[index % len(values)]
        await store.set(ident, ident, value, ttl=30)
        await store.hset(ident, ident + "h", {ident: value}, ttl=30)
    for index, ident in enumerate(HOSTILE_IDS):
        value = values[index % len(values)]
        assert await store.get(ident, ident) == value
        assert await store.hgetall(ident, ident + "h") == {ident: value}
        assert await store.slots(ident) == sorted([ident, ident + "h"])
    lone = "\ud800"  # a lone surrogate: not UTF-8 encodable, still a str
    await store.set(lone, lone, b"s", ttl=30)
    assert await store.slots(lone) == [lone]


async def test_counters_live_in_the_number_column(store: SQLStore) -> None:
    assert await store.incr("ns", "c", 5, ttl=30) == 5
    await store.set("ns", "n", b"-12", ttl=30)
    await store.set("ns", "t", b"007", ttl=30)
    got = {bytes(r.slot): (r.num, r.value) for r in await rows(store, "SELECT * FROM {p}slots")}
    assert got[b"c"] == (5, None)
    assert got[b"n"] == (-12, None)
    assert got[b"t"][0] is None
    assert bytes(got[b"t"][1]) == b"007"
    assert await store.get("ns", "t") == b"007"  # read back byte for byte
    assert await store.incr("ns", "n", ttl=30) == -11


@pytest.mark.parametrize("value", [b"007", b"-0", b" 5", b"+5", b"1e3", b"9223372036854775808"])
async def test_incr_rejects_what_is_not_a_canonical_int64(store: SQLStore, value: bytes) -> None:
    await store.set("ns", "c", value, ttl=30)
    with pytest.raises(SlotKindError):
        await store.incr("ns", "c", ttl=30)
    assert await store.get("ns", "c") == value


async def test_incr_overflow_is_refused_and_changes_nothing(store: SQLStore) -> None:
    await store.set("ns", "c", b"9223372036854775800", ttl=30)
    with pytest.raises(ValidationError, match="overflow"):
        await store.incr("ns", "c", 10, ttl=30)
    assert await store.incr("ns", "c", 7, ttl=30) == 2**63 - 1
    await store.set("ns", "d", b"-9223372036854775800", ttl=30)
    with pytest.raises(ValidationError):
        await store.incr("ns", "d", -9, ttl=30)
    with pytest.raises(ValidationError):
        await store.incr("ns", "d", 2**63, ttl=30)


async def test_writes_over_an_expired_row_start_afresh(store: SQLStore) -> None:
    await store.set("ns", "c", b"41", ttl=0.05)
    await store.hset("ns", "h", {"old": b"1"}, ttl=0.05)
    await asyncio.sleep(0.1)
    # The rows are still there (no sweep yet), but invisible and replaced.
    assert len(await rows(store, "SELECT slot FROM {p}slots")) == 2
    assert await store.get("ns", "c") is None
    assert await store.incr("ns", "c", ttl=30) == 1
    assert await store.hset("ns", "h", {"new": b"2"}, ttl=30) == 1
    assert await store.hgetall("ns", "h") == {"new": b"2"}
    # The old hash generation's fields were dropped, not just hidden.
    assert len(await rows(store, "SELECT field FROM {p}fields")) == 1


async def test_hash_turned_scalar_hides_and_later_drops_its_fields(store: SQLStore) -> None:
    await store.hset("ns", "h", {"a": b"1", "b": b"2"}, ttl=30)
    await store.set("ns", "h", b"scalar", ttl=30)
    assert await store.get("ns", "h") == b"scalar"
    with pytest.raises(SlotKindError):
        await store.hgetall("ns", "h")
    assert await store.delete("ns", "h")
    assert await rows(store, "SELECT field FROM {p}fields") == []


async def test_sweep_is_bounded_and_reclaims_fields(store: SQLStore) -> None:
    from unistore_sql._slots import SWEEP_BATCH

    await store.migrate()
    async with store.engine.begin() as conn:
        await conn.execute(
            text(
                f"INSERT INTO {store.table_prefix}slots (ns_key, slot_key, ns, slot, kind, "
                "version, expires_at) VALUES (:nk, :sk, :ns, :slot, 0, 1, 1.0)"
            ),
            [
                {"nk": digest("old"), "sk": digest(str(i)), "ns": b"old", "slot": str(i).encode()}
                for i in range(SWEEP_BATCH + 20)
            ],
        )
    await store.hset("ns", "h", {"a": b"1"}, ttl=0.05)
    await store.set("ns", "live", b"1", ttl=30)
    await asyncio.sleep(0.1)
    assert await store.sweep() == SWEEP_BATCH
    assert await store.sweep() == 21
    assert await store.sweep() == 0
    assert await rows(store, "SELECT field FROM {p}fields") == []
    assert [bytes(r.slot) for r in await rows(store, "SELECT slot FROM {p}slots")] == [b"live"]


async def test_sweep_batches_of_tied_hashes_leave_no_field_behind(store: SQLStore) -> None:
    """Batches cut through slots that expire at the same instant: every field goes with its slot."""
    from unistore_sql._slots import SWEEP_BATCH

    await store.migrate()
    count = 2 * SWEEP_BATCH + 7
    prefix = store.table_prefix
    async with store.engine.begin() as conn:
        await conn.execute(
            text(
                f"INSERT INTO {prefix}slots (ns_key, slot_key, ns, slot, kind, gen, "
                "version, expires_at) VALUES (:nk, :sk, :ns, :slot, 1, :gen, 1, 1.0)"
            ),
            [
                {
                    "nk": digest("old"),
                    "sk": digest(str(i)),
                    "ns": b"old",
                    "slot": str(i).encode(),
                    "gen": i,
                }
                for i in range(count)
            ],
        )
        await conn.execute(
            text(
                f"INSERT INTO {prefix}fields (ns_key, slot_key, field_key, gen, field, value) "
                "VALUES (:nk, :sk, :fk, :gen, :field, :value)"
            ),
            [
                {
                    "nk": digest("old"),
                    "sk": digest(str(i)),
                    "fk": digest(name),
                    "gen": i,
                    "field": name.encode(),
                    "value": b"v",
                }
                for i in range(count)
                for name in ("a", "b")
            ],
        )
    await store.hset("ns", "kept", {"f": b"1"}, ttl=30)
    swept = [await store.sweep() for _ in range(4)]
    assert swept == [SWEEP_BATCH, SWEEP_BATCH, 7, 0]
    assert [bytes(r.field) for r in await rows(store, "SELECT field FROM {p}fields")] == [b"f"]
    assert await store.hget("ns", "kept", "f") == b"1"


async def test_writes_sweep_now_and_then(db_url: str, table_prefix: str) -> None:
    store = unistore.connect(db_url, table_prefix=table_prefix, sweep_interval=0.05)
    assert isinstance(store, SQLStore)
    async with store:
        try:
            await store.set("ns", "short", b"1", ttl=0.01)
            await asyncio.sleep(0.1)
            await store.set("ns", "trigger", b"1", ttl=30)
            names = [bytes(r.slot) for r in await rows(store, "SELECT slot FROM {p}slots")]
            assert names == [b"trigger"]
        finally:
            await store.destroy()


async def test_namespace_statements_use_the_primary_key(store: SQLStore) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("query plans are checked on SQLite")
    await store.set("ns", "a", b"1", ttl=30)
    p = store.table_prefix
    for sql in (
        f"SELECT slot FROM {p}slots WHERE ns_key = :k AND expires_at > 0",
        f"UPDATE {p}slots SET expires_at = 1 WHERE ns_key = :k AND expires_at > 0",
        f"DELETE FROM {p}slots WHERE ns_key = :k",
    ):
        plan = " ".join(str(r[-1]) for r in await rows(store, "EXPLAIN QUERY PLAN " + sql, k=b""))
        assert "SEARCH" in plan, plan
        assert "INDEX" in plan, plan


async def test_expired_slots_are_found_through_the_expiry_index(store: SQLStore) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("query plans are checked on SQLite")
    await store.set("ns", "a", b"1", ttl=30)
    plan = await rows(
        store,
        "EXPLAIN QUERY PLAN SELECT ns_key FROM {p}slots WHERE expires_at <= 5 "
        "ORDER BY expires_at LIMIT 10",
    )
    assert f"ix_{store.table_prefix}slots_expires" in " ".join(str(r[-1]) for r in plan)


async def test_iter_namespaces_pages_through_many(store: SQLStore) -> None:
    from unistore_sql._slots import LISTING_BATCH

    await store.migrate()
    names = [f"app:{i}" for i in range(LISTING_BATCH * 2 + 7)]
    async with store.engine.begin() as conn:
        await conn.execute(
            text(
                f"INSERT INTO {store.table_prefix}slots (ns_key, slot_key, ns, slot, kind, "
                "version, expires_at) VALUES (:nk, :sk, :ns, :slot, 0, 1, 9e12)"
            ),
            [
                {"nk": digest(ns), "sk": digest(slot), "ns": ns.encode(), "slot": slot.encode()}
                for ns in names
                for slot in ("a", "b")
            ],
        )
    await store.set("other:x", "a", b"1", ttl=30)
    listed = [ns async for ns in store.iter_namespaces("app:")]
    assert sorted(listed) == sorted(names)


async def test_server_version_names_the_database(store: SQLStore, backend: str) -> None:
    version = await store.server_version()
    assert version.startswith("SQLite 3." if backend.startswith("sqlite") else "PostgreSQL ")
