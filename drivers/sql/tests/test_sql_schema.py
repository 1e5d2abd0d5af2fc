"""Schema creation, the version record, upgrades and destroy()."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

import unistore
from unistore.errors import ConfigurationError
from unistore_sql import SCHEMA_VERSION, SQLStore

# Version 1 of the schema, written out by hand as that release created it:
# no sessions.own_start column and no index on slots.expires_at.
V1_DDL = """
CREATE TABLE {p}meta (key VARCHAR(64) PRIMARY KEY, value VARCHAR(255) NOT NULL);
CREATE TABLE {p}slots (
    ns_key {blob} NOT NULL, slot_key {blob} NOT NULL, ns {blob} NOT NULL,
    slot {blob} NOT NULL, kind SMALLINT NOT NULL, value {blob}, num BIGINT,
    gen BIGINT, version BIGINT NOT NULL, expires_at {double} NOT NULL,
    PRIMARY KEY (ns_key, slot_key));
CREATE TABLE {p}fields (
    ns_key {blob} NOT NULL, slot_key {blob} NOT NULL, field_key {blob} NOT NULL,
    gen BIGINT NOT NULL, field {blob} NOT NULL, value {blob} NOT NULL,
    PRIMARY KEY (ns_key, slot_key, field_key));
CREATE TABLE {p}sessions (
    sid_key {blob} NOT NULL PRIMARY KEY, sid {blob} NOT NULL, label {blob},
    parent_id {blob}, fork_point INTEGER, base_key {blob}, metadata_json TEXT NOT NULL,
    created_us BIGINT NOT NULL, updated_us BIGINT NOT NULL, message_count INTEGER NOT NULL);
CREATE INDEX ix_{p}sessions_updated ON {p}sessions (updated_us);
CREATE INDEX ix_{p}sessions_base ON {p}sessions (base_key);
CREATE TABLE {p}messages (
    sid_key {blob} NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (sid_key, seq));
INSERT INTO {p}meta (key, value) VALUES ('schema_version', '1');
"""


# Version 2 of the schema, written out by hand as that release created it:
# sessions without scopes or retention, no tokens table, no prefix index.
V2_DDL = """
CREATE TABLE {p}meta (key VARCHAR(64) NOT NULL PRIMARY KEY, value VARCHAR(255) NOT NULL);
CREATE TABLE {p}slots (
    ns_key {blob} NOT NULL, slot_key {blob} NOT NULL, ns {blob} NOT NULL,
    slot {blob} NOT NULL, kind SMALLINT NOT NULL, value {blob}, num BIGINT,
    gen BIGINT, version BIGINT NOT NULL, expires_at {double} NOT NULL,
    PRIMARY KEY (ns_key, slot_key));
CREATE INDEX ix_{p}slots_expires ON {p}slots (expires_at);
CREATE TABLE {p}fields (
    ns_key {blob} NOT NULL, slot_key {blob} NOT NULL, field_key {blob} NOT NULL,
    gen BIGINT NOT NULL, field {blob} NOT NULL, value {blob} NOT NULL,
    PRIMARY KEY (ns_key, slot_key, field_key));
CREATE TABLE {p}sessions (
    sid_key {blob} NOT NULL PRIMARY KEY, sid {blob} NOT NULL, label {blob},
    parent_id {blob}, fork_point INTEGER, base_key {blob},
    own_start INTEGER DEFAULT 0 NOT NULL, metadata_json TEXT NOT NULL,
    created_us BIGINT NOT NULL, updated_us BIGINT NOT NULL, message_count INTEGER NOT NULL);
CREATE INDEX ix_{p}sessions_updated ON {p}sessions (updated_us);
CREATE INDEX ix_{p}sessions_base ON {p}sessions (base_key);
CREATE TABLE {p}messages (
    sid_key {blob} NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (sid_key, seq));
INSERT INTO {p}meta (key, value) VALUES ('schema_version', '2');
"""

#: A far future expiry, as version 2 wrote for a slot given a long ttl.
LATER = 9e12


async def create_v2(conn: AsyncConnection, table_prefix: str) -> None:
    """Create a version 2 database with slots, a hash, sessions and a fork."""
    pg = conn.dialect.name == "postgresql"
    ddl = V2_DDL.format(
        p=table_prefix,
        blob="BYTEA" if pg else "BLOB",
        double="DOUBLE PRECISION" if pg else "DOUBLE",
    )
    for statement in filter(None, (part.strip() for part in ddl.split(";"))):
        await conn.exec_driver_sql(statement)
    slot = text(
        f"INSERT INTO {table_prefix}slots (ns_key, slot_key, ns, slot, kind, value, num, gen, "
        "version, expires_at) VALUES (:nk, :sk, :ns, :slot, :kind, :value, :num, :gen, 1, :exp)"
    )
    base = {"nk": key("ns"), "ns": b"ns", "value": None, "num": None, "gen": None, "exp": LATER}
    await conn.execute(
        slot,
        [
            {**base, "sk": key("a"), "slot": b"a", "kind": 0, "value": b"x"},
            {**base, "sk": key("n"), "slot": b"n", "kind": 0, "num": 5},
            {**base, "sk": key("h"), "slot": b"h", "kind": 1, "gen": 7},
            {**base, "sk": key("old"), "slot": b"old", "kind": 0, "value": b"o", "exp": 1.0},
        ],
    )
    await conn.execute(
        text(
            f"INSERT INTO {table_prefix}fields (ns_key, slot_key, field_key, gen, field, value) "
            "VALUES (:nk, :sk, :fk, 7, :f, :v)"
        ),
        [
            {"nk": key("ns"), "sk": key("h"), "fk": key(f), "f": f.encode(), "v": v}
            for f, v in (("f1", b"1"), ("f2", b"2"))
        ],
    )
    session = text(
        f"INSERT INTO {table_prefix}sessions (sid_key, sid, label, parent_id, fork_point, "
        "base_key, own_start, metadata_json, created_us, updated_us, message_count) "
        "VALUES (:k, :sid, :label, :parent, :point, :base, :own, :meta, 1, :u, :n)"
    )
    none = {"label": None, "parent": None, "point": None, "base": None, "own": 0, "meta": "{}"}
    await conn.execute(
        session,
        [
            {**none, "k": key("p"), "sid": b"p", "label": b"P", "meta": '{"k":1}', "u": 10, "n": 3},
            {
                **none,
                "parent": b"p",
                "point": 2,
                "base": key("p"),
                "own": 2,
                "k": key("c"),
                "sid": b"c",
                "u": 20,
                "n": 3,
            },
            {**none, "k": key("x\x00y"), "sid": b"x\x00y", "u": 30, "n": 0},
        ],
    )
    await conn.execute(
        text(f"INSERT INTO {table_prefix}messages (sid_key, seq, body) VALUES (:k, :s, :b)"),
        [
            {"k": key("p"), "s": 0, "b": '"p0"'},
            {"k": key("p"), "s": 1, "b": '"p1"'},
            {"k": key("p"), "s": 2, "b": '"p2"'},
            {"k": key("c"), "s": 2, "b": '"c2"'},
        ],
    )


def key(text_id: str) -> bytes:
    return hashlib.sha256(text_id.encode()).digest()


async def create_v1(conn: AsyncConnection, table_prefix: str) -> None:
    pg = conn.dialect.name == "postgresql"
    ddl = V1_DDL.format(
        p=table_prefix, blob="BYTEA" if pg else "BLOB", double="DOUBLE PRECISION" if pg else "REAL"
    )
    for statement in filter(None, (part.strip() for part in ddl.split(";"))):
        await conn.exec_driver_sql(statement)
    sessions = f"{table_prefix}sessions"
    insert = text(
        f"INSERT INTO {sessions} (sid_key, sid, label, parent_id, fork_point, base_key, "
        "metadata_json, created_us, updated_us, message_count) "
        "VALUES (:k, :sid, NULL, :parent, :point, :base, '{}', 1, :u, :n)"
    )
    await conn.execute(
        insert,
        {"k": key("p"), "sid": b"p", "parent": None, "point": None, "base": None, "u": 1, "n": 3},
    )
    await conn.execute(
        insert,
        {"k": key("c"), "sid": b"c", "parent": b"p", "point": 2, "base": key("p"), "u": 2, "n": 3},
    )
    rows = [
        (key("p"), 0, '"p0"'),
        (key("p"), 1, '"p1"'),
        (key("p"), 2, '"p2"'),
        (key("c"), 2, '"c2"'),
    ]
    for sid_key, seq, body in rows:
        await conn.execute(
            text(f"INSERT INTO {table_prefix}messages (sid_key, seq, body) VALUES (:k, :s, :b)"),
            {"k": sid_key, "s": seq, "b": body},
        )


async def schema_version(store: SQLStore) -> str | None:
    async with store.engine.connect() as conn:
        value = await conn.scalar(
            text(f"SELECT value FROM {store.table_prefix}meta WHERE key = 'schema_version'")
        )
    return None if value is None else str(value)


async def table_names(store: SQLStore) -> set[str]:
    async with store.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    return {name for name in names if name.startswith(store.table_prefix)}


async def index_names(store: SQLStore, table: str) -> set[str]:
    # Read from the catalogue: SQLAlchemy's reflection skips expression indexes.
    if store.engine.dialect.name == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"
    else:
        sql = "SELECT indexname FROM pg_indexes WHERE tablename = :t"
    async with store.engine.connect() as conn:
        return {str(name) for name in (await conn.execute(text(sql), {"t": table})).scalars()}


def open_store(url: str, **options: Any) -> SQLStore:
    store = unistore.connect(url, **options)
    assert isinstance(store, SQLStore)
    return store


async def test_first_use_creates_the_tables_and_records_the_version(store: SQLStore) -> None:
    assert await store.get("ns", "a") is None
    p = store.table_prefix
    assert await table_names(store) == {
        f"{p}meta",
        f"{p}slots",
        f"{p}fields",
        f"{p}sessions",
        f"{p}messages",
        f"{p}tokens",
    }
    assert await schema_version(store) == str(SCHEMA_VERSION)


async def test_store_created_by_version_1_opens_and_upgrades(
    db_url: str, table_prefix: str
) -> None:
    async with open_store(db_url, table_prefix=table_prefix) as store:
        try:
            async with store.engine.begin() as conn:
                await create_v1(conn, table_prefix)
            # The fork shares p's first two messages and owns the third.
            assert await store.read_messages("c") == ['"p0"', '"p1"', '"c2"']
            assert await schema_version(store) == str(SCHEMA_VERSION)
            async with store.engine.connect() as conn:
                own_start = await conn.scalar(
                    text(f"SELECT own_start FROM {table_prefix}sessions WHERE sid = :sid"),
                    {"sid": b"c"},
                )
            assert own_start == 2
            assert f"ix_{table_prefix}slots_expires" in await index_names(
                store, f"{table_prefix}slots"
            )
            # Upgraded data behaves: deleting the parent keeps the fork intact.
            assert await store.delete_session("p")
            assert await store.read_messages("c") == ['"p0"', '"p1"', '"c2"']
            await store.set("ns", "a", b"1", ttl=30)
            assert await store.get("ns", "a") == b"1"
        finally:
            await store.destroy()


async def test_old_schema_without_create_schema_names_the_fix(
    db_url: str, table_prefix: str
) -> None:
    async with open_store(db_url, table_prefix=table_prefix, create_schema=False) as store:
        try:
            async with store.engine.begin() as conn:
                await create_v1(conn, table_prefix)
            with pytest.raises(ConfigurationError, match=r"version 1.*migrate\(\)"):
                await store.get("ns", "a")
            await store.migrate()
            assert await schema_version(store) == str(SCHEMA_VERSION)
            assert await store.read_messages("c") == ['"p0"', '"p1"', '"c2"']
        finally:
            await store.destroy()


async def test_newer_schema_fails_with_a_clear_error(db_url: str, table_prefix: str) -> None:
    async with open_store(db_url, table_prefix=table_prefix) as store:
        try:
            await store.migrate()
            async with store.engine.begin() as conn:
                await conn.execute(
                    text(f"UPDATE {table_prefix}meta SET value = '99' WHERE key = 'schema_version'")
                )
            async with open_store(db_url, table_prefix=table_prefix, engine=store.engine) as other:
                with pytest.raises(ConfigurationError, match=r"99.*upgrade unistore-sql"):
                    await other.get("ns", "a")
                with pytest.raises(ConfigurationError, match="newer"):
                    await other.migrate()
        finally:
            await store.destroy()


async def test_missing_tables_without_create_schema(db_url: str, table_prefix: str) -> None:
    async with open_store(db_url, table_prefix=table_prefix, create_schema=False) as store:
        with pytest.raises(ConfigurationError, match=r"do not exist.*migrate\(\)") as info:
            await store.set("ns", "a", b"1", ttl=10)
        assert str(store.url) in str(info.value)
        assert await table_names(store) == set()
        await store.migrate()
        await store.set("ns", "a", b"1", ttl=10)
        assert await store.get("ns", "a") == b"1"
        await store.destroy()


async def test_destroy_drops_only_this_prefix(db_url: str, table_prefix: str) -> None:
    other_prefix = "o" + table_prefix
    first = open_store(db_url, table_prefix=table_prefix)
    second = open_store(db_url, table_prefix=other_prefix, engine=first.engine)
    async with first, second:
        try:
            await first.set("ns", "a", b"first", ttl=30)
            await second.set("ns", "a", b"second", ttl=30)
            await first.destroy()
            assert await table_names(first) == set()
            assert await second.get("ns", "a") == b"second"
            # A destroyed store recreates its tables on next use.
            assert await first.get("ns", "a") is None
        finally:
            await second.destroy()
            await first.destroy()


@pytest.mark.parametrize(
    "backend", ["sqlite-file", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_concurrent_first_use_creates_the_schema_once(db_url: str, table_prefix: str) -> None:
    import asyncio

    stores = [open_store(db_url, table_prefix=table_prefix) for _ in range(4)]
    try:
        await asyncio.gather(*(s.set("ns", str(i), b"x", ttl=30) for i, s in enumerate(stores)))
        assert await stores[0].slots("ns") == ["0", "1", "2", "3"]
    finally:
        await stores[0].destroy()
        for s in stores:
            await s.aclose()


async def test_store_created_by_version_2_opens_upgraded_with_its_data(
    db_url: str, table_prefix: str
) -> None:
    async with open_store(db_url, table_prefix=table_prefix) as store:
        try:
            async with store.engine.begin() as conn:
                await create_v2(conn, table_prefix)
            # The first operation upgrades; the default scope reads the old rows.
            assert await store.read_messages("c") == ['"p0"', '"p1"', '"c2"']
            assert await schema_version(store) == "3"
            record = await store.get_session("p")
            assert record is not None
            assert (record.label, record.metadata, record.message_count) == ("P", {"k": 1}, 3)
            assert (record.scope, record.ttl, record.expires_at) == (None, None, None)
            page = await store.list_sessions()
            assert [r.id for r in page.items] == ["x\x00y", "c", "p"]
            assert [s async for s in store.iter_scopes()] == [None]
            assert await store.get_session("p", scope="other") is None
            # Old slots: values, counters, hashes, expiry; the new batch and prefix paths.
            assert await store.get_many("ns", ["a", "n", "h", "old"]) == [b"x", b"5", None, None]
            assert await store.hgetall("ns", "h") == {"f1": b"1", "f2": b"2"}
            assert await store.incr("ns", "n", ttl=None) == 6
            assert await store.slots("ns", "a") == ["a"]
            assert await store.slots("ns") == ["a", "h", "n"]
            # Old sessions take every new write.
            assert await store.append_messages("p", ['"p3"'], token="t") == 4
            assert await store.append_messages("p", ['"p3"'], token="t") == 4
            assert await store.pop_messages("c", 2) == ['"p1"', '"c2"']
            assert await store.delete_session("p")
            assert await store.read_messages("c") == ['"p0"']
            await store.create_session("p", scope="other", ttl=60)
            assert await store.get_session("p") is None
            # The new layout is in place, the index it replaces is gone.
            p = table_prefix
            assert {f"ix_{p}sessions_scope", f"ix_{p}sessions_expires"} <= await index_names(
                store, f"{p}sessions"
            )
            assert f"ix_{p}sessions_updated" not in await index_names(store, f"{p}sessions")
            assert f"ix_{p}slots_prefix" in await index_names(store, f"{p}slots")
            assert f"{p}tokens" in await table_names(store)
        finally:
            await store.destroy()


@pytest.mark.parametrize(
    "backend", ["sqlite-file", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_processes_opening_an_old_database_together_upgrade_it_once(
    db_url: str, table_prefix: str
) -> None:
    import asyncio

    first = open_store(db_url, table_prefix=table_prefix)
    async with first.engine.begin() as conn:
        await create_v2(conn, table_prefix)
    stores = [first, *(open_store(db_url, table_prefix=table_prefix) for _ in range(3))]
    try:
        reads = await asyncio.gather(*(s.read_messages("c") for s in stores))
        assert reads == [['"p0"', '"p1"', '"c2"']] * len(stores)
        assert await schema_version(first) == "3"
        lengths = await asyncio.gather(
            *(s.append_messages("c", [f'"{i}"']) for i, s in enumerate(stores))
        )
        assert sorted(lengths) == [4, 5, 6, 7]
    finally:
        await first.destroy()
        for s in stores:
            await s.aclose()


async def test_a_failed_upgrade_leaves_version_2_as_it_was(
    db_url: str, table_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from unistore_sql import _upgrades

    async def fails(conn: AsyncConnection, tables: Any) -> None:
        await real(conn, tables)
        raise RuntimeError("interrupted")

    real = _upgrades.UPGRADES[2]
    async with open_store(db_url, table_prefix=table_prefix) as store:
        try:
            async with store.engine.begin() as conn:
                await create_v2(conn, table_prefix)
            monkeypatch.setitem(_upgrades.UPGRADES, 2, fails)
            with pytest.raises(RuntimeError, match="interrupted"):
                await store.get("ns", "a")
            assert await schema_version(store) == "2"
            assert f"{table_prefix}tokens" not in await table_names(store)
            monkeypatch.undo()
            assert await store.get("ns", "a") == b"x"
            assert await schema_version(store) == "3"
        finally:
            await store.destroy()
