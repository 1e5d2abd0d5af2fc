"""Helpers shared by the test modules: server URLs, per-test stores, CLI runs.

Importable from any test module, the drivers' included (the ``tests`` folder
is on pytest's ``pythonpath``). Fixtures live in the ``conftest.py`` files;
this module holds plain functions so that synchronous tests (the CLI ones)
can use them too.

Under pytest-xdist every worker gets a Redis database and a PostgreSQL schema
of its own (:func:`redis_test_url`, :func:`postgres_test_url`), on top of the
key and table prefix every test already has: a worker's leftovers, locks or
scans never meet another worker's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import unistore
from unistore import StoreURL

#: The configured servers. Tests use :func:`redis_test_url` and
#: :func:`postgres_test_url`, which give an xdist worker its own database / schema.
REDIS_URL = os.environ.get("UNISTORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get(
    "UNISTORE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

#: Every shipped driver, in the order tests are parametrised.
DRIVERS = ["memory", "sqlite", "postgresql", "redis", "file"]
#: The markers of drivers that need a server.
SERVER_MARKS = {"redis": pytest.mark.redis, "postgresql": pytest.mark.postgres}


def driver_params() -> list[Any]:
    """``DRIVERS`` as pytest params carrying the server markers."""
    return [pytest.param(d, marks=[SERVER_MARKS[d]] if d in SERVER_MARKS else []) for d in DRIVERS]


#: The marker of a test whose driver or backend parameter has one of these values.
_SERVER_PARAMS = {"redis": "redis", "postgresql": "postgres"}
#: The names the tests give a driver or backend parameter (of a fixture or the test).
#: A tuple value (``stores``: a source and a destination) names several.
_DRIVER_PARAM_NAMES = frozenset(
    {"driver", "backend", "store_url", "url", "shared_db", "shared_store", "stores"}
)
#: The marker of a test using one of these fixtures.
_SERVER_FIXTURES = {"pg_url": "postgres", "shared_psycopg": "postgres"}


def selected_drivers() -> set[str]:
    """The drivers named by ``UNISTORE_TEST_DRIVERS`` (``memory,sqlite``); all when unset."""
    raw = os.environ.get("UNISTORE_TEST_DRIVERS", "").strip()
    if not raw:
        return set(DRIVERS)
    chosen = {name.strip() for name in raw.split(",") if name.strip()}
    unknown = sorted(chosen - set(DRIVERS))
    if unknown:
        raise pytest.UsageError(
            f"UNISTORE_TEST_DRIVERS names unknown drivers {unknown}; "
            f"choose from {', '.join(DRIVERS)}"
        )
    return chosen


def _driver_values(item: pytest.Item) -> list[object]:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return []
    values: list[object] = []
    for name, value in callspec.params.items():
        if name in _DRIVER_PARAM_NAMES:
            values.extend(value if isinstance(value, tuple) else [value])
    return values


def deselect_unselected_drivers(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the tests parametrised with a driver ``UNISTORE_TEST_DRIVERS`` does not name.

    ``./dev test-quick`` runs memory and SQLite this way. Idempotent, like
    :func:`mark_server_tests`.
    """
    left_out = set(DRIVERS) - selected_drivers()
    if not left_out:
        return
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        driver_values = _driver_values(item)
        (dropped if any(value in left_out for value in driver_values) else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def mark_server_tests(items: list[pytest.Item]) -> None:
    """Mark ``redis`` / ``postgres`` every test that needs that server.

    For a test parametrised with ``DRIVERS`` directly (``params=DRIVERS``,
    ``parametrize("driver", DRIVERS)``) or using a server-only fixture, so
    that ``-m "not redis and not postgres"`` leaves out every server test,
    not only those whose author marked them (:func:`driver_params` does).
    Idempotent: each conftest that may be the only one loaded calls it.
    """
    for item in items:
        wanted = {
            marker
            for fixture, marker in _SERVER_FIXTURES.items()
            if fixture in getattr(item, "fixturenames", ())
        }
        wanted |= {
            _SERVER_PARAMS[value]
            for value in _driver_values(item)
            if isinstance(value, str) and value in _SERVER_PARAMS
        }
        for marker in sorted(wanted - {m.name for m in item.iter_markers()}):
            item.add_marker(marker)


@cache
def _reachable(url: str) -> bool:
    parsed = StoreURL.parse(url)
    try:
        with socket.create_connection((parsed.host or "127.0.0.1", parsed.port or 0), timeout=1):
            return True
    except OSError:
        return False


def require_server(url: str, env_var: str) -> None:
    """Skip (or, under CI, fail) when the server of ``url`` is unreachable."""
    if _reachable(url):
        return
    message = f"server at {StoreURL.parse(url)} is not reachable; set {env_var} to a running one"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


# -- one database / schema per xdist worker ---------------------------------------------

#: Redis databases the workers take turns on; 0 stays free for tests that need it.
_REDIS_WORKER_DBS = range(1, 16)


def xdist_worker() -> int | None:
    """Return this process's pytest-xdist worker number, or ``None`` outside xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    number = name.removeprefix("gw")
    return int(number) if name.startswith("gw") and number.isdigit() else None


@cache
def redis_test_url() -> str:
    """The Redis URL this process's tests use: under xdist, a database per worker.

    Worker ``gwN`` uses database ``1 + N % 15``; without xdist it is the
    configured URL's (15 by default). A server that refuses the database
    (Redis Cluster, or fewer databases configured) keeps the configured URL.
    """
    worker = xdist_worker()
    if worker is None:
        return REDIS_URL
    base = StoreURL.parse(REDIS_URL)
    db = _REDIS_WORKER_DBS[worker % len(_REDIS_WORKER_DBS)]
    candidate = replace(base, path=f"/{db}").render(hide_secrets=False)
    try:
        import redis

        client = redis.Redis.from_url(candidate, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
    except Exception:
        # Unreachable or refused: the tests report the server as the configured URL does.
        return REDIS_URL
    return candidate


@cache
def postgres_test_url() -> str:
    """The PostgreSQL URL this process's tests use: a schema per xdist worker.

    Worker ``gwN`` logs in as the role ``unistore_test_gwN`` (a run without
    xdist as ``unistore_test_main``), created on first use with the
    configured user's password, together with a schema of the same name that
    it owns. PostgreSQL's default ``search_path`` starts with ``"$user"``, so
    every unqualified table the worker creates lands in that schema.

    The role commits without waiting for the WAL flush
    (``synchronous_commit = off``): a commit stays atomic and visible at once,
    only a crash of the server could lose the last few (no test crashes it),
    and a commit costs a tenth of the time.

    The role and schema stay for the next run: two runs at once share them
    safely, as every test still has a table prefix of its own. A server where
    the role cannot be made, or cannot log in, keeps the configured URL.
    """
    worker = xdist_worker()
    base = StoreURL.parse(POSTGRES_URL)
    role = "unistore_test_main" if worker is None else f"unistore_test_gw{worker}"
    candidate = replace(base, username=role).render(hide_secrets=False)
    try:
        _ensure_worker_schema(base, role)
        _connect_postgres(StoreURL.parse(candidate)).close()
    except Exception:
        return POSTGRES_URL
    return candidate


def _connect_postgres(url: StoreURL) -> Any:
    import psycopg

    return psycopg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=url.path.lstrip("/") or None,
        connect_timeout=3,
        autocommit=True,
    )


def _ensure_worker_schema(admin: StoreURL, role: str) -> None:
    from psycopg import errors, sql

    # Made by an earlier run, or by a concurrent run's worker of the same number just now.
    exists = (errors.DuplicateObject, errors.DuplicateSchema, errors.UniqueViolation)
    with _connect_postgres(admin) as conn:
        with contextlib.suppress(*exists):
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(admin.password)
                )
            )
        with contextlib.suppress(*exists):
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(
                    sql.Identifier(role), sql.Identifier(role)
                )
            )
        conn.execute(
            sql.SQL("ALTER ROLE {} SET synchronous_commit = off").format(sql.Identifier(role))
        )


def make_store_url(
    driver: str, tmp_path: Path, name: str = "store", *, shared: bool = False
) -> str:
    """Return a URL of a store of its own on ``driver``.

    Args:
        driver: One of :data:`DRIVERS`.
        tmp_path: The test's folder, for SQLite and files.
        name: Distinguishes two stores of one test on the same driver.
        shared: For memory, a named store, so that separate ``connect()``
            calls (such as CLI invocations) see the same data.
    """
    tag = f"t{uuid.uuid4().hex[:12]}"
    if driver == "memory":
        return f"memory://{tag}" if shared else "memory://"
    if driver == "sqlite":
        return f"sqlite:///{tmp_path / f'{name}.db'}"
    if driver == "file":
        return f"file://{tmp_path / name}"
    if driver == "redis":
        require_server(REDIS_URL, "UNISTORE_TEST_REDIS_URL")
        return (
            StoreURL.parse(redis_test_url()).with_options(key_prefix=tag).render(hide_secrets=False)
        )
    if driver == "postgresql":
        require_server(POSTGRES_URL, "UNISTORE_TEST_POSTGRES_URL")
        return (
            StoreURL.parse(postgres_test_url())
            .with_options(table_prefix=f"{tag}_")
            .render(hide_secrets=False)
        )
    raise AssertionError(driver)


def with_store(url: str, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run ``work(store)`` on a store opened for ``url`` (for synchronous tests)."""

    async def go() -> Any:
        async with unistore.connect(url) as store:
            return await work(store)

    return asyncio.run(go())


def destroy_url(url: str) -> None:
    """Remove everything the store of ``url`` holds (its prefix, tables or folder)."""

    async def go(store: Any) -> None:
        destroy = getattr(store, "destroy", None)
        if destroy is not None:
            await destroy()

    with_store(url, go)


# -- the command line --------------------------------------------------------------


def invoke(*args: str, input: str | None = None) -> Any:
    """Run ``unistore ARGS`` through click's test runner."""
    from click.testing import CliRunner

    from unistore._cli._app import cli

    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def ok(*args: str, input: str | None = None) -> Any:
    """Run a command that must succeed; return its result."""
    result = invoke(*args, input=input)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def as_json(*args: str) -> Any:
    """Run a command with ``--json`` and parse its output."""
    return json.loads(ok(*args, "--json").stdout)


def one_error_line(result: Any) -> str:
    """Check a failed command printed exactly one ``error:`` line; return it."""
    lines: list[str] = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.output
    return lines[0]
