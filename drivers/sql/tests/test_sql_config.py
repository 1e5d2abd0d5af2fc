"""URLs, options and the registry entry (no database I/O)."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

import unistore
from unistore import StoreURL
from unistore.errors import ConfigurationError, InvalidOptionError, InvalidURLError
from unistore_sql import SQLStore
from unistore_sql._engine import resolve


def open_store(url: str, **options: Any) -> SQLStore:
    store = unistore.connect(url, **options)
    assert isinstance(store, SQLStore)
    return store


@pytest.mark.parametrize(
    ("url", "database", "memory"),
    [
        ("sqlite:///relative.db", "relative.db", False),
        ("sqlite:///dir/sub.db", "dir/sub.db", False),
        ("sqlite:////abs/path.db", "/abs/path.db", False),
        ("sqlite://", ":memory:", True),
        ("sqlite:///:memory:", ":memory:", True),
        ("sqlite+aiosqlite:///x.db", "x.db", False),
    ],
)
def test_sqlite_urls(url: str, database: str, memory: bool) -> None:
    target = resolve(StoreURL.parse(url))
    assert target.dialect == "sqlite"
    assert target.url.drivername == "sqlite+aiosqlite"
    assert target.url.database == database
    assert target.memory is memory


def test_postgres_url_parts_reach_sqlalchemy_url() -> None:
    target = resolve(StoreURL.parse("postgres://app:p%40ss:w@db.local:6543/main"))
    assert target.dialect == "postgresql"
    assert target.url.drivername == "postgresql+asyncpg"
    assert (target.url.username, target.url.password) == ("app", "p@ss:w")
    assert (target.url.host, target.url.port, target.url.database) == ("db.local", 6543, "main")
    assert "p@ss" not in repr(target.url)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://host/x.db",
        "sqlite+pysqlite:///x.db",
        "postgresql+pg8000://u@h/db",
    ],
)
def test_unsupported_urls_are_rejected(url: str) -> None:
    with pytest.raises(InvalidURLError):
        unistore.connect(url)


def test_psycopg_url_without_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # As on a machine without the extra installed.
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "psycopg" else real(name, *a)
    )
    with pytest.raises(ConfigurationError, match=r"unistore-sql\[psycopg\]"):
        unistore.connect("postgresql+psycopg://u:secret@127.0.0.1/db")


@pytest.mark.skipif(importlib.util.find_spec("psycopg") is None, reason="psycopg not installed")
async def test_psycopg_url_uses_psycopg() -> None:
    store = open_store("postgresql+psycopg://u@127.0.0.1/db")
    assert store.engine.dialect.driver == "psycopg"
    await store.aclose()


async def test_password_never_printed() -> None:
    store = open_store("postgresql://app:hunter2@127.0.0.1:5432/db?pool_size=2")
    try:
        for text in (repr(store), str(store.url), repr(store.engine.url), repr(store.engine)):
            assert "hunter2" not in text
    finally:
        await store.aclose()


async def test_opening_does_no_io() -> None:
    # Nothing listens on this port: opening and closing must not notice.
    store = open_store("postgresql://u@127.0.0.1:9/db")
    await store.aclose()


async def test_defaults_and_url_options() -> None:
    store = open_store("sqlite:///x.db?table_prefix=app_&pool_size=3&create_schema=false")
    try:
        assert store.table_prefix == "app_"
        settings = store._db.settings
        assert settings.pool_size == 3
        assert settings.create_schema is False
        assert settings.max_overflow == 10
        assert store.engine.pool.size() == 3  # type: ignore[attr-defined]
    finally:
        await store.aclose()
    default = open_store("sqlite://")
    assert default.table_prefix == "unistore_"
    await default.aclose()


@pytest.mark.parametrize(
    "options",
    [
        {"table_prefix": "Bad-Prefix"},
        {"table_prefix": "x" * 41},
        {"table_prefix": "1abc"},
        {"pool_size": 0},
        {"pool_size": "many"},
        {"max_overflow": -1},
        {"pool_timeout": 0},
        {"busy_timeout": float("nan")},
        {"create_schema": "maybe"},
        {"create_schema": 1},
        {"ssl": "sometimes"},
        {"engine": "sqlite://"},
        {"no_such_option": 1},
    ],
)
def test_bad_options_are_rejected(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidOptionError):
        unistore.connect("sqlite://", **options)


def test_engine_cannot_come_from_the_url() -> None:
    with pytest.raises(InvalidOptionError):
        unistore.connect("sqlite:///x.db?engine=foo")


async def test_existing_engine_is_used_and_not_disposed(tmp_path: Any) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/own.db")
    try:
        store = open_store("sqlite://", engine=engine, table_prefix="mine_")
        async with store:
            assert store.engine is engine
            await store.set("ns", "a", b"1", ttl=30)
            assert await store.get("ns", "a") == b"1"
            await store.destroy()
        async with engine.connect() as conn:  # still usable after aclose
            await conn.exec_driver_sql("SELECT 1")
    finally:
        await engine.dispose()


def test_registry_finds_the_driver_for_each_scheme() -> None:
    for scheme in ("sqlite", "postgresql"):
        driver = unistore.get_driver(scheme)
        assert driver.distribution == "unistore-sql"
        assert {opt.name for opt in driver.options} >= {
            "table_prefix",
            "create_schema",
            "pool_size",
            "max_overflow",
            "pool_timeout",
            "busy_timeout",
            "engine",
        }
