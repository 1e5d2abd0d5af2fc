"""Batches, prefix listings and slots without expiry, as the database runs them."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import pytest
from sqlalchemy import text

from unistore_sql import SQLStore
from unistore_sql._expiry import NEVER
from unistore_sql._keys import prefix_bounds
from unistore_sql._schema import PREFIX_INDEXED


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


async def rows(store: SQLStore, sql: str, **params: Any) -> list[Any]:
    async with store.engine.connect() as conn:
        result = await conn.execute(text(sql.format(p=store.table_prefix)), params)
        return list(result.all())


# -- batches ------------------------------------------------------------------------------


async def test_get_many_of_a_hundred_is_one_statement(store: SQLStore, statements: Any) -> None:
    await store.set_many("ns", {f"k{i}": str(i).encode() for i in range(0, 100, 2)}, ttl=60)
    await store.hset("ns", "k1", {"f": b"1"}, ttl=60)
    # Enough neighbours that reading the whole namespace would cost more.
    await store.set_many("ns", {f"filler-{i}": b"x" for i in range(20_000)}, ttl=60)
    names = [f"k{i}" for i in range(100)]
    if store.engine.dialect.name == "postgresql":
        async with store.engine.begin() as conn:
            await conn.exec_driver_sql(f"ANALYZE {store.table_prefix}slots")
    statements.start()
    values = await store.get_many("ns", names)
    statements.stop()
    assert values == [str(i).encode() if i % 2 == 0 else None for i in range(100)]
    (executed,) = statements.data()
    assert not executed.many
    plan = await statements.plan(executed)
    # Each key is looked up in the primary key index, never by scanning the table.
    if store.engine.dialect.name == "sqlite":
        assert "(ns_key=? AND slot_key=?)" in plan, plan
    else:
        assert "Index Cond: ((ns_key = " in plan, plan
        assert "AND (slot_key = ANY (" in plan, plan


@pytest.mark.parametrize("size", [1000, pytest.param(40_000, marks=pytest.mark.slow)])
async def test_huge_batches_stay_one_statement(store: SQLStore, statements: Any, size: int) -> None:
    # Past SQLite's limit on bound variables (32766), and PostgreSQL's (65535).
    mapping = {f"slot-{i}": f"value-{i}".encode() for i in range(size)}
    await store.set_many("ns", mapping, ttl=None)
    names = [f"slot-{i}" for i in range(size)] + ["slot-0", "absent"]
    statements.start()
    values = await store.get_many("ns", names)
    statements.stop()
    assert len(statements.data()) == 1
    assert values[:size] == list(mapping.values())
    assert values[size:] == [b"value-0", None]
    assert await store.delete_many("ns", names) == size
    assert await store.get_many("ns", ["slot-1"]) == [None]


async def test_get_many_reads_repeats_hashes_and_expired_slots(store: SQLStore) -> None:
    await store.set("ns", "a", b"1", ttl=60)
    await store.set("ns", "n", b"42", ttl=None)
    await store.set("ns", "gone", b"x", ttl=60)
    await store.hset("ns", "h", {"f": b"v"}, ttl=60)
    async with store.engine.begin() as conn:
        await conn.execute(
            text(f"UPDATE {store.table_prefix}slots SET expires_at = 1 WHERE slot = :s"),
            {"s": b"gone"},
        )
    assert await store.get_many("ns", ["a", "h", "gone", "a", "n", "nope"]) == [
        b"1",
        None,
        None,
        b"1",
        b"42",
        None,
    ]


async def test_set_many_replaces_hashes_and_drops_their_fields(store: SQLStore) -> None:
    await store.hset("ns", "h", {"a": b"1", "b": b"2"}, ttl=60)
    await store.hset("ns", "other", {"a": b"1"}, ttl=60)
    await store.set_many("ns", {"h": b"scalar", "new": b"7"}, ttl=30)
    assert await store.get_many("ns", ["h", "new"]) == [b"scalar", b"7"]
    fields = await rows(store, "SELECT slot_key FROM {p}fields")
    assert [bytes(r.slot_key) for r in fields] == [digest("other")]
    assert await store.incr("ns", "new", ttl=None) == 8
    ttl = await store.get_ttl("ns", "h")
    assert ttl is not None
    assert 29 < ttl <= 30


async def test_delete_many_counts_live_slots_and_drops_fields(store: SQLStore) -> None:
    await store.set("ns", "a", b"1", ttl=60)
    await store.hset("ns", "h", {"a": b"1"}, ttl=None)
    await store.set("ns", "stale", b"x", ttl=60)
    async with store.engine.begin() as conn:
        await conn.execute(
            text(f"UPDATE {store.table_prefix}slots SET expires_at = 1 WHERE slot = :s"),
            {"s": b"stale"},
        )
    assert await store.delete_many("ns", ["a", "h", "stale", "absent"]) == 2
    assert await rows(store, "SELECT slot FROM {p}slots") == []
    assert await rows(store, "SELECT field FROM {p}fields") == []


# -- ttl=None -----------------------------------------------------------------------------


async def test_slots_without_expiry_are_stored_as_never_and_never_swept(store: SQLStore) -> None:
    await store.set("ns", "s", b"v", ttl=None)
    await store.hset("ns", "h", {"f": b"1"}, ttl=None)
    assert await store.incr("ns", "c", ttl=None) == 1
    await store.set_many("ns", {"m": b"1"}, ttl=None)
    async with store.transaction("ns", watch=["t"]) as tx:
        tx.set("t", b"1", ttl=None)
        tx.hset("th", {"f": b"1"}, ttl=None)
        await tx.commit()
    stored = await rows(store, "SELECT slot, expires_at FROM {p}slots ORDER BY slot")
    assert {bytes(r.slot): r.expires_at for r in stored} == dict.fromkeys(
        [b"c", b"h", b"m", b"s", b"t", b"th"], NEVER
    )
    for slot in ("s", "h", "c", "m", "t", "th"):
        assert await store.get_ttl("ns", slot) == math.inf
    assert await store.sweep() == 0
    assert await store.slots("ns") == ["c", "h", "m", "s", "t", "th"]
    # A later write with a ttl gives the slot an expiry again, and None removes it.
    await store.set("ns", "s", b"v", ttl=5)
    ttl = await store.get_ttl("ns", "s")
    assert ttl is not None
    assert ttl <= 5
    await store.hset("ns", "h", {}, ttl=5)
    await store.hset("ns", "h", {}, ttl=None)
    assert await store.get_ttl("ns", "h") == math.inf


# -- prefixes -----------------------------------------------------------------------------


def test_prefix_bounds_are_exact_byte_ranges() -> None:
    assert prefix_bounds(b"ab") == (b"ab", b"ac")
    top = "\U0010ffff".encode()
    assert prefix_bounds(top) == (top, b"\xf4\x8f\xbf\xc0")
    assert prefix_bounds(b"a\xff\xff") == (b"a\xff\xff", b"b")
    assert prefix_bounds(b"\xff") == (b"\xff", None)


async def test_prefix_listing_is_a_range_of_the_prefix_index(
    store: SQLStore, statements: Any
) -> None:
    await store.set_many("ns", {f"user:{i:04d}": b"1" for i in range(300)}, ttl=60)
    await store.set_many("ns", {f"item:{i:04d}": b"1" for i in range(300)}, ttl=None)
    await store.set_many("other", {f"user:{i:04d}": b"1" for i in range(50)}, ttl=60)
    if store.engine.dialect.name == "postgresql":
        async with store.engine.begin() as conn:
            await conn.exec_driver_sql(f"ANALYZE {store.table_prefix}slots")
    statements.start()
    found = await store.slots("ns", "user:01")
    statements.stop()
    assert found == [f"user:{i:04d}" for i in range(100, 200)]
    (executed,) = statements.data()
    plan = await statements.plan(executed)
    assert f"ix_{store.table_prefix}slots_prefix" in plan, plan


@pytest.mark.parametrize(
    "start",
    [
        "\U0010ffff",
        "a\U0010ffff",
        "é",
        "%",
        "_",
        "A",
        "x" * (PREFIX_INDEXED + 10),
        "\ud800",
        "\x00",
    ],
)
async def test_prefix_listing_is_exact_for_awkward_prefixes(store: SQLStore, start: str) -> None:
    names = [
        start,
        start + "\x00",
        start + "z",
        start + "\U0010ffff",
        start[:-1] + chr(ord(start[-1]) - 1) if ord(start[-1]) > 0 else "",
        start + "\U0010ffff" * 3,
        "a",
        "b",
        "Z",
        "\U0010ffff\U0010ffff",
        "x" * (PREFIX_INDEXED + 20),
        "x" * PREFIX_INDEXED + "y",
    ]
    await store.set_many("ns", {name: b"1" for name in names if name}, ttl=60)
    expected = sorted({name for name in names if name and name.startswith(start)})
    assert await store.slots("ns", start) == expected
