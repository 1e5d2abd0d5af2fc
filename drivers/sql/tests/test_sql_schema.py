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


def key(text_id: str) -> bytes:
    return hashlib.sha256(text_id.encode()).digest()


async def create_v1(conn: AsyncConnection, prefix: str) -> None:
    pg = conn.dialect.name == "postgresql"
    ddl = V1_DDL.format(
        p=prefix, blob="BYTEA" if pg else "BLOB", double="DOUBLE PRECISION" if pg else "REAL"
    )
    for statement in filter(None, (part.strip() for part in ddl.split(";"))):
        await conn.exec_driver_sql(statement)
    sessions = f"{prefix}sessions"
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
            text(f"INSERT INTO {prefix}messages (sid_key, seq, body) VALUES (:k, :s, :b)"),
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
    }
    assert await schema_version(store) == str(SCHEMA_VERSION)


async def test_store_created_by_version_1_opens_and_upgrades(db_url: str, prefix: str) -> None:
    async with open_store(db_url, table_prefix=prefix) as store:
        try:
            async with store.engine.begin() as conn:
                await create_v1(conn, prefix)
            # The fork shares p's first two messages and owns the third.
            assert await store.read_messages("c") == ['"p0"', '"p1"', '"c2"']
            assert await schema_version(store) == str(SCHEMA_VERSION)
            async with store.engine.connect() as conn:
                own_start = await conn.scalar(
                    text(f"SELECT own_start FROM {prefix}sessions WHERE sid = :sid"),
                    {"sid": b"c"},
                )
                indexes = await conn.run_sync(
                    lambda sync: inspect(sync).get_indexes(f"{prefix}slots")
                )
            assert own_start == 2
            assert f"ix_{prefix}slots_expires" in {ix["name"] for ix in indexes}
            # Upgraded data behaves: deleting the parent keeps the fork intact.
            assert await store.delete_session("p")
            assert await store.read_messages("c") == ['"p0"', '"p1"', '"c2"']
            await store.set("ns", "a", b"1", ttl=30)
            assert await store.get("ns", "a") == b"1"
        finally:
            await store.destroy()


async def test_old_schema_without_create_schema_names_the_fix(db_url: str, prefix: str) -> None:
    async with open_store(db_url, table_prefix=prefix, create_schema=False) as store:
        try:
            async with store.engine.begin() as conn:
                await create_v1(conn, prefix)
            with pytest.raises(ConfigurationError, match=r"version 1.*migrate\(\)"):
                await store.get("ns", "a")
            await store.migrate()
            assert await schema_version(store) == str(SCHEMA_VERSION)
            assert await store.read_messages("c") == ['"p0"', '"p1"', '"c2"']
        finally:
            await store.destroy()


async def test_newer_schema_fails_with_a_clear_error(db_url: str, prefix: str) -> None:
    async with open_store(db_url, table_prefix=prefix) as store:
        try:
            await store.migrate()
            async with store.engine.begin() as conn:
                await conn.execute(
                    text(f"UPDATE {prefix}meta SET value = '99' WHERE key = 'schema_version'")
                )
            async with open_store(db_url, table_prefix=prefix, engine=store.engine) as other:
                with pytest.raises(ConfigurationError, match=r"99.*upgrade unistore-sql"):
                    await other.get("ns", "a")
                with pytest.raises(ConfigurationError, match="newer"):
                    await other.migrate()
        finally:
            await store.destroy()


async def test_missing_tables_without_create_schema(db_url: str, prefix: str) -> None:
    async with open_store(db_url, table_prefix=prefix, create_schema=False) as store:
        with pytest.raises(ConfigurationError, match=r"do not exist.*migrate\(\)") as info:
            await store.set("ns", "a", b"1", ttl=10)
        assert str(store.url) in str(info.value)
        assert await table_names(store) == set()
        await store.migrate()
        await store.set("ns", "a", b"1", ttl=10)
        assert await store.get("ns", "a") == b"1"
        await store.destroy()


async def test_destroy_drops_only_this_prefix(db_url: str, prefix: str) -> None:
    other_prefix = "o" + prefix
    first = open_store(db_url, table_prefix=prefix)
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
async def test_concurrent_first_use_creates_the_schema_once(db_url: str, prefix: str) -> None:
    import asyncio

    stores = [open_store(db_url, table_prefix=prefix) for _ in range(4)]
    try:
        await asyncio.gather(*(s.set("ns", str(i), b"x", ttl=30) for i, s in enumerate(stores)))
        assert await stores[0].slots("ns") == ["0", "1", "2", "3"]
    finally:
        await stores[0].destroy()
        for s in stores:
            await s.aclose()
