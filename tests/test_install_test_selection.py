"""Running the tests from a checkout: driver selection, server markers, a database per worker.

``./dev test-quick`` relies on the conftests marking every server test and
honouring ``UNISTORE_TEST_DRIVERS``; ``./dev test`` on each xdist worker
getting a Redis database and a PostgreSQL schema of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import unistore
from unistore import StoreURL
from unistore_test_support import POSTGRES_URL, REDIS_URL, require_server

ROOT = Path(__file__).resolve().parents[1]


def _collect(*args: str, drivers: str | None = None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"}
    env.pop("UNISTORE_TEST_DRIVERS", None)
    if drivers is not None:
        env["UNISTORE_TEST_DRIVERS"] = drivers
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert out.returncode in (0, 5), out.stdout + out.stderr
    return [line for line in out.stdout.splitlines() if "::" in line]


def test_server_tests_are_marked_however_they_are_parametrised() -> None:
    # test_copy marks its own pairs, test_namespaced gets the markers from the
    # store_url fixture; the conftest hook marks the rest.
    everything = _collect("tests/test_copy.py", "tests/test_namespaced.py")
    local = _collect(
        "tests/test_copy.py", "tests/test_namespaced.py", "-m", "not redis and not postgres"
    )
    assert any("[redis" in item or "-redis]" in item for item in everything)
    assert any("postgresql" in item for item in everything)
    assert local
    assert not [item for item in local if "redis" in item or "postgresql" in item]
    assert any("[memory]" in item for item in local)


def test_unistore_test_drivers_picks_the_drivers() -> None:
    items = _collect("tests/test_copy.py", "-k", "every_pair", drivers="memory,sqlite")
    assert sorted(item.rpartition("[")[2] for item in items) == [
        "memory-memory]",
        "memory-sqlite]",
        "sqlite-memory]",
        "sqlite-sqlite]",
    ]


def test_an_unknown_driver_in_unistore_test_drivers_is_refused() -> None:
    env = {**os.environ, "UNISTORE_TEST_DRIVERS": "memory,nosuch"}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/test_copy.py"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert out.returncode != 0
    assert "UNISTORE_TEST_DRIVERS names unknown drivers ['nosuch']" in out.stdout + out.stderr


_WORKER_URLS = (
    "import json, unistore_test_support as s\n"
    "print(json.dumps([s.redis_test_url(), s.postgres_test_url()]))\n"
)


def _worker_urls(worker: str) -> list[str]:
    env = {**os.environ, "PYTEST_XDIST_WORKER": worker}
    out = subprocess.run(
        [sys.executable, "-c", _WORKER_URLS],
        capture_output=True,
        text=True,
        cwd=ROOT / "tests",
        env=env,
        check=True,
    )
    urls: list[str] = json.loads(out.stdout)
    return urls


@pytest.mark.redis
def test_each_xdist_worker_has_a_redis_database_of_its_own() -> None:
    require_server(REDIS_URL, "UNISTORE_TEST_REDIS_URL")
    dbs = [StoreURL.parse(_worker_urls(f"gw{n}")[0]).path for n in (0, 1, 15)]
    # Database 0 stays free; worker 15 takes turns with worker 0.
    assert dbs == ["/1", "/2", "/1"]


@pytest.mark.postgres
async def test_each_xdist_worker_has_a_postgresql_schema_of_its_own() -> None:
    require_server(POSTGRES_URL, "UNISTORE_TEST_POSTGRES_URL")
    import asyncpg  # type: ignore[import-untyped]

    url = _worker_urls("gw9")[1]
    parsed = StoreURL.parse(url)
    assert parsed.username == "unistore_test_gw9"
    prefix = f"t{uuid.uuid4().hex[:12]}_"
    async with unistore.connect(url, table_prefix=prefix) as store:
        await store.set("ns", "a", b"1", ttl=60)
        try:
            conn = await asyncpg.connect(
                user=parsed.username,
                password=parsed.password,
                host=parsed.host,
                port=parsed.port,
                database=parsed.path.lstrip("/"),
            )
            try:
                schemas = await conn.fetch(
                    "SELECT DISTINCT schemaname FROM pg_tables WHERE tablename LIKE $1",
                    f"{prefix}%",
                )
                commit_mode = await conn.fetchval("SHOW synchronous_commit")
            finally:
                await conn.close()
        finally:
            await store.destroy()  # type: ignore[attr-defined]
    assert [row["schemaname"] for row in schemas] == ["unistore_test_gw9"]
    assert commit_mode == "off"
