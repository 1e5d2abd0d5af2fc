"""The open mode the read-only commands rely on: ``connect(url, create=False)`` creates nothing.

Conformance-style: the same promises on every shipped driver, checked against
the real backend (a SQLite file, a folder, PostgreSQL tables, Redis keys), plus
the registry's refusal for a driver that cannot honour the mode.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import unistore
from unistore import StoreURL
from unistore.errors import (
    ConfigurationError,
    InvalidOptionError,
    NotSupportedError,
    StoreNotFoundError,
)
from unistore.protocols import Option
from unistore_test_support import destroy_url, driver_params, make_store_url, with_store

#: Drivers whose stores can be missing; memory and Redis have nothing to create.
CAN_BE_MISSING = {"sqlite", "file", "postgresql"}


async def _postgres_tables(url: str) -> list[str]:
    import asyncpg

    parsed = StoreURL.parse(url)
    conn = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        database=parsed.path.lstrip("/"),
    )
    try:
        rows = await conn.fetch(
            "select table_name from information_schema.tables where starts_with(table_name, $1)",
            parsed.query["table_prefix"],
        )
    finally:
        await conn.close()
    return [row["table_name"] for row in rows]


async def _redis_keys(url: str) -> list[bytes]:
    import redis.asyncio as aioredis

    parsed = StoreURL.parse(url)
    client = aioredis.Redis(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 6379,
        db=int(parsed.path.strip("/") or 0),
        username=parsed.username,
        password=parsed.password,
    )
    try:
        return [key async for key in client.scan_iter(match=f"{parsed.query['key_prefix']}*")]
    finally:
        await client.aclose()


def created(driver: str, url: str, tmp_path: Path) -> list[str]:
    """What exists of the store of ``url`` (empty: nothing was created)."""
    if driver in ("sqlite", "file"):
        return sorted(path.name for path in tmp_path.iterdir())
    if driver == "postgresql":
        return asyncio.run(_postgres_tables(url))
    if driver == "redis":
        return [key.decode() for key in asyncio.run(_redis_keys(url))]
    return []


@pytest.fixture(params=driver_params())
def missing(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``(driver, url)`` of a store that does not exist yet."""
    driver: str = request.param
    url = make_store_url(driver, tmp_path, shared=True)
    yield driver, url
    if driver in ("redis", "postgresql"):
        destroy_url(url)


async def test_a_missing_store_opened_with_create_false_creates_nothing(
    missing: tuple[str, str], tmp_path: Path
) -> None:
    driver, url = missing
    async with unistore.connect(url, create=False) as store:
        assert store.may_create is False  # type: ignore[attr-defined]
        if driver in CAN_BE_MISSING:
            for call in (
                lambda: store.get("ns", "slot"),
                lambda: store.list_sessions(),
                lambda: store.set("ns", "slot", b"v", ttl=60),
                lambda: store.create_session("s1"),
            ):
                with pytest.raises(StoreNotFoundError, match="nothing was created"):
                    await call()
        else:
            assert await store.get("ns", "slot") is None
            assert (await store.list_sessions()).items == []
    assert await asyncio.to_thread(created, driver, url, tmp_path) == []


async def test_an_existing_store_opens_and_works_without_create(missing: tuple[str, str]) -> None:
    _, url = missing
    async with unistore.connect(url) as store:
        await store.set("ns", "slot", b"v", ttl=60)
    async with unistore.connect(url, create=False) as store:
        assert await store.get("ns", "slot") == b"v"
        await store.set("ns", "other", b"w", ttl=60)
        assert sorted(await store.slots("ns")) == ["other", "slot"]


def test_create_false_in_the_url_query_is_the_same_mode(
    missing: tuple[str, str], tmp_path: Path
) -> None:
    driver, url = missing
    in_query = StoreURL.parse(url).with_options(create="false").render(hide_secrets=False)

    async def read(store: Any) -> None:
        assert store.may_create is False
        if driver in CAN_BE_MISSING:
            with pytest.raises(StoreNotFoundError):
                await store.get("ns", "slot")

    with_store(in_query, read)
    assert created(driver, url, tmp_path) == []


# -- a driver that does not declare the open mode ---------------------------------------


@pytest.fixture
def unaware() -> Iterator[str]:
    """A third-party driver written before the open mode: it declares no ``create``."""
    from unistore._memory import MemoryStore

    timeout = Option("timeout", float, 1.0, "seconds")
    unistore.register("unaware", lambda url, options: MemoryStore(url), options=(timeout,))
    yield "unaware://"
    unistore.unregister("unaware")


def test_create_false_is_refused_for_a_driver_without_the_open_mode(unaware: str) -> None:
    for attempt in (
        lambda: unistore.connect(unaware, create=False),
        lambda: unistore.connect(f"{unaware}?create=false"),
        lambda: unistore.connect(f"{unaware}?create=true", create=False),
    ):
        with pytest.raises(NotSupportedError, match="'create' option"):
            attempt()
    # What it does anyway is accepted, from the URL or as a keyword.
    assert unistore.connect(unaware, create=True).url == StoreURL.parse(unaware)
    assert "create" not in unistore.connect(f"{unaware}?create=yes").url.query
    with pytest.raises(InvalidOptionError, match="'create'"):
        unistore.connect(f"{unaware}?create=maybe")


def test_a_bad_create_value_is_an_option_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(InvalidOptionError, match="'create'"):
        unistore.connect(f"{url}?create=maybe")
    with pytest.raises(InvalidOptionError, match="'create'"):
        unistore.connect(url, create=0)
    assert list(tmp_path.iterdir()) == []


# -- what the backends must not change -------------------------------------------------


@pytest.mark.parametrize(
    "driver", [p for p in driver_params() if p.values[0] in ("sqlite", "postgresql")]
)
def test_an_older_schema_is_refused_not_upgraded(driver: str, tmp_path: Path) -> None:
    url = make_store_url(driver, tmp_path, shared=True)
    try:

        async def age(store: Any) -> str:
            await store.set("ns", "slot", b"v", ttl=60)
            meta = f"{store.table_prefix}meta"
            async with store.engine.begin() as conn:
                await conn.exec_driver_sql(
                    f"update {meta} set value = '2' where key = 'schema_version'"
                )
            return meta

        meta = with_store(url, age)

        async def refused(store: Any) -> str:
            with pytest.raises(ConfigurationError, match="schema version 2") as caught:
                await store.get("ns", "slot")
            assert not isinstance(caught.value, StoreNotFoundError)
            with pytest.raises(ConfigurationError, match="create=False"):
                await store.migrate()
            async with store.engine.connect() as conn:
                result = await conn.exec_driver_sql(
                    f"select value from {meta} where key = 'schema_version'"
                )
                return str(result.scalar_one())

        read_only = StoreURL.parse(url).with_options(create="false").render(hide_secrets=False)
        assert with_store(read_only, refused) == "2"
    finally:
        if driver == "postgresql":
            destroy_url(url)


def test_sqlite_leaves_a_foreign_database_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table notes (body text)")
    url = f"sqlite:///{path}"

    async def read(store: Any) -> None:
        with pytest.raises(StoreNotFoundError, match="no unistore tables"):
            await store.list_sessions()

    with_store(StoreURL.parse(url).with_options(create="false").render(), read)
    with sqlite3.connect(path) as conn:
        tables = [row[0] for row in conn.execute("select name from sqlite_master")]
        mode = conn.execute("pragma journal_mode").fetchone()[0]
    assert tables == ["notes"]
    assert mode == "delete"  # not switched to WAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


def test_a_folder_without_a_store_stays_empty(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()

    async def read(store: Any) -> None:
        with pytest.raises(StoreNotFoundError, match="holds no unistore store"):
            await store.get("ns", "slot")

    with_store(f"file://{folder}?create=false", read)
    assert list(folder.iterdir()) == []


def test_an_incomplete_folder_layout_is_refused_not_completed(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'data'}"

    async def write(store: Any) -> None:
        await store.set("ns", "slot", b"v", ttl=60)

    with_store(url, write)
    (tmp_path / "data" / "scopes").rmdir()

    async def read(store: Any) -> None:
        with pytest.raises(ConfigurationError, match="'scopes' folder is missing"):
            await store.get("ns", "slot")

    with_store(f"{url}?create=false", read)
    assert not (tmp_path / "data" / "scopes").exists()
