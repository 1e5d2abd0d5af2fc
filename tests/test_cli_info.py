"""``unistore info`` shows the settings in effect: the real database number, and each
driver's options only where they apply (no SQLite option for PostgreSQL)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from unistore import StoreURL
from unistore_test_support import (
    as_json,
    destroy_url,
    invoke,
    make_store_url,
    ok,
    with_store,
)

SQLITE_ONLY = {"busy_timeout"}
POSTGRES_ONLY = {"pool_pre_ping", "connect_timeout", "ssl"}
POOL = {"pool_size", "max_overflow", "pool_timeout"}
_EXPORT = '{"format": "unistore-session/1", "id": "s1"}\n'
TLS = {"ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname"}


def _redis_db(path_db: str, **query: str) -> str:
    url = make_store_url("redis", Path("."))
    parsed = replace(StoreURL.parse(url), path=f"/{path_db}")
    return parsed.with_options(**query).render(hide_secrets=False)


@pytest.mark.redis
def test_info_shows_the_redis_database_of_the_url_path() -> None:
    options = as_json("info", _redis_db("14"))["options"]
    assert options["db"] == 14
    assert not TLS & set(options)  # redis://, not rediss://
    assert "create" not in options
    assert "db = 14" in ok("info", _redis_db("14")).stdout


@pytest.mark.redis
def test_info_shows_the_db_option_over_the_url_path() -> None:
    assert as_json("info", _redis_db("14", db="3"))["options"]["db"] == 3
    assert as_json("info", _redis_db(""))["options"]["db"] == 0


def test_info_shows_the_tls_defaults_of_rediss() -> None:
    result = invoke("info", "rediss://127.0.0.1:1/2?socket_connect_timeout=1&retries=0", "--json")
    assert result.exit_code == 4  # nothing listens there; what is known is still shown
    options = json.loads(result.stdout)["options"]
    assert options["db"] == 2
    assert options["ssl_cert_reqs"] == "required"
    assert options["ssl_check_hostname"] is True


@pytest.mark.postgres
def test_info_shows_no_sqlite_option_for_postgresql() -> None:
    url = make_store_url("postgresql", Path("."))
    try:

        async def seed(store: object) -> None:
            await store.set("ns", "slot", b"v", ttl=60)  # type: ignore[attr-defined]

        with_store(url, seed)
        data = as_json("info", url)
    finally:
        destroy_url(url)
    options = set(data["options"])
    assert not SQLITE_ONLY & options
    assert options >= POSTGRES_ONLY | POOL
    assert data["server_version"].startswith("PostgreSQL")


def test_info_shows_no_postgresql_option_for_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    ok("sessions", "import", url, "-", input=_EXPORT)
    options = set(as_json("info", url)["options"])
    assert not POSTGRES_ONLY & options
    assert options >= SQLITE_ONLY | POOL


def test_info_shows_no_pool_for_in_memory_sqlite() -> None:
    # An in-memory database has nothing lasting to create: it opens as it is.
    data = as_json("info", "sqlite://")
    assert data["exists"] is True
    options = set(data["options"])
    assert not (POOL | POSTGRES_ONLY) & options
    assert options >= SQLITE_ONLY


def test_info_of_a_driver_without_its_own_view_shows_every_declared_option(
    tmp_path: Path,
) -> None:
    url = f"file://{tmp_path / 'data'}"
    ok("sessions", "import", url, "-", input=_EXPORT)
    assert list(as_json("info", url)["options"]) == [
        "durability",
        "lock_timeout",
        "sweep_every",
        "sweep_batch",
        "sweep_interval",
    ]
