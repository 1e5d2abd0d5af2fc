"""Fixtures of the sql driver tests.

Tests run on three backends: a SQLite file in the test's temp dir, in-memory
SQLite and the PostgreSQL server of ``UNISTORE_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``; under pytest-xdist each worker
uses a schema of its own, see ``unistore_test_support.postgres_test_url``).
Every test gets a table prefix of its own and drops its tables with
``destroy()`` afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

import unistore
from unistore import StoreURL
from unistore.testing import ManualClock
from unistore_sql import SQLStore
from unistore_test_support import deselect_unselected_drivers, mark_server_tests, postgres_test_url

# pg_backends.py is a plain module of this folder that the tests import by
# name; pytest's importlib mode does not put the folder on the path by itself.
if str(Path(__file__).parent) not in sys.path:
    sys.path.append(str(Path(__file__).parent))

ENV_VAR = "UNISTORE_TEST_POSTGRES_URL"

_reachable: dict[str, str | None] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``postgres`` every test on the PostgreSQL backend or its fixtures."""
    mark_server_tests(items)
    deselect_unselected_drivers(config, items)


def postgres_url() -> str:
    """The server URL of this process's tests (a schema per xdist worker)."""
    return postgres_test_url()


async def _probe_async(url: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    parts = StoreURL.parse(url)
    conn = await asyncpg.connect(
        user=parts.username,
        password=parts.password,
        host=parts.host,
        port=parts.port,
        database=parts.path.lstrip("/") or None,
        timeout=3,
    )
    await conn.close()


def _probe(url: str) -> str | None:
    """Return why the server cannot be used, or None if it answers."""
    if url not in _reachable:
        problem: list[str] = []

        def run() -> None:
            # A thread of its own: the test's event loop may be running.
            try:
                asyncio.run(_probe_async(url))
            except Exception as exc:
                problem.append(type(exc).__name__)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        _reachable[url] = problem[0] if problem else None
    return _reachable[url]


def require_postgres(url: str) -> None:
    """Skip (or fail under CI) when the PostgreSQL test server does not answer."""
    problem = _probe(url)
    if problem is None:
        return
    message = f"no PostgreSQL server at {ENV_VAR}={StoreURL.parse(url)} ({problem})"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}_"


BACKENDS = [
    "sqlite-file",
    "sqlite-memory",
    pytest.param("postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend a test runs on."""
    return str(request.param)


def url_for(backend: str, directory: Path) -> str:
    if backend == "sqlite-file":
        return f"sqlite:///{directory}/store.db"
    if backend == "sqlite-memory":
        return "sqlite://"
    url = postgres_url()
    require_postgres(url)
    return url


@pytest.fixture
def db_url(backend: str, tmp_path: Path) -> str:
    """The store URL of the backend (skips PostgreSQL when unreachable)."""
    return url_for(backend, tmp_path)


@pytest.fixture
def pg_url() -> str:
    """The PostgreSQL test server's URL (skips when unreachable)."""
    url = postgres_url()
    require_postgres(url)
    return url


@pytest.fixture
def table_prefix() -> str:
    """A table prefix no other test uses."""
    return unique_prefix()


@pytest.fixture
async def store(db_url: str, table_prefix: str) -> AsyncIterator[SQLStore]:
    """A store with tables of its own, dropped after the test."""
    opened = unistore.connect(db_url, table_prefix=table_prefix)
    assert isinstance(opened, SQLStore)
    async with opened:
        try:
            yield opened
        finally:
            await opened.destroy()


@pytest.fixture
def manual_clock() -> ManualClock:
    """The manual clock of :func:`timed_store`."""
    return ManualClock()


@contextlib.asynccontextmanager
async def clocked_store(
    db_url: str, table_prefix: str, clock: ManualClock, *, sweep_interval: float
) -> AsyncIterator[SQLStore]:
    """A store on ``clock``, its tables destroyed when it closes."""
    opened = unistore.connect(
        db_url, table_prefix=table_prefix, clock=clock, sweep_interval=sweep_interval
    )
    assert isinstance(opened, SQLStore)
    async with opened:
        try:
            yield opened
        finally:
            await opened.destroy()


@pytest.fixture
async def timed_store(
    db_url: str, table_prefix: str, manual_clock: ManualClock
) -> AsyncIterator[SQLStore]:
    """A store on :func:`manual_clock`, sweeping only when told (``store.sweep()``)."""
    async with clocked_store(db_url, table_prefix, manual_clock, sweep_interval=0) as store:
        yield store


@pytest.fixture
async def sweeping(
    db_url: str, table_prefix: str, manual_clock: ManualClock
) -> AsyncIterator[SQLStore]:
    """A store on :func:`manual_clock` that sweeps on every write finding a sweep due."""
    async with clocked_store(db_url, table_prefix, manual_clock, sweep_interval=3600) as store:
        yield store


@dataclass
class Executed:
    """One statement as the database client received it."""

    statement: str
    parameters: Any
    many: bool


@dataclass
class Statements:
    """The statements an engine sends while recording (``before_cursor_execute``)."""

    engine: AsyncEngine
    seen: list[Executed] = field(default_factory=list)

    def _record(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        self.seen.append(Executed(statement, parameters, many))

    def start(self) -> None:
        self.seen.clear()
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._record)

    def stop(self) -> None:
        event.remove(self.engine.sync_engine, "before_cursor_execute", self._record)

    def data(self) -> list[Executed]:
        """The statements seen, without transaction control (BEGIN, COMMIT, ...)."""
        control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "SET ", "SELECT 1")
        return [e for e in self.seen if not e.statement.lstrip().upper().startswith(control)]

    async def plan(self, executed: Executed) -> str:
        """Return the database's plan of a recorded statement, as one line of text.

        PostgreSQL is told to avoid sequential scans, so that a small test
        table shows the plan a large one would get when an index applies.
        """
        async with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                prefix = "EXPLAIN QUERY PLAN "
            else:
                await conn.exec_driver_sql("SET enable_seqscan = off")
                prefix = "EXPLAIN "
            result = await conn.exec_driver_sql(prefix + executed.statement, executed.parameters)
            lines = [str(row[-1]) for row in result]
            await conn.rollback()
        return " | ".join(lines)


@pytest.fixture
def statements(store: SQLStore) -> Iterator[Statements]:
    """Records what the test's store sends between ``start()`` and ``stop()``."""
    recorder = Statements(store.engine)
    yield recorder
    if event.contains(recorder.engine.sync_engine, "before_cursor_execute", recorder._record):
        recorder.stop()


def _destroy(url: str, table_prefix: str) -> None:
    async def destroy() -> None:
        async with unistore.connect(url, table_prefix=table_prefix) as store:
            await store.destroy()  # type: ignore[attr-defined]

    asyncio.run(destroy())


@pytest.fixture(scope="class", params=BACKENDS)
def shared_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A backend's URL and a table prefix, shared by the tests of one class."""
    url = url_for(str(request.param), tmp_path_factory.mktemp("conformance"))
    prefix = unique_prefix()
    yield url, prefix
    _destroy(url, prefix)


@pytest.fixture(scope="class")
def shared_psycopg() -> Iterator[tuple[str, str]]:
    """PostgreSQL through psycopg, and a table prefix shared by one class."""
    url = postgres_url()
    require_postgres(url)
    rendered = replace(StoreURL.parse(url), dialect="psycopg").render(hide_secrets=False)
    prefix = unique_prefix()
    yield rendered, prefix
    _destroy(rendered, prefix)
