"""Failures become unistore errors with the redacted URL; a restarted server is used again."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pg_backends import backend_pid, terminate_backend
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import create_async_engine

import unistore
from unistore import StoreURL
from unistore.errors import (
    AuthenticationError,
    CapacityError,
    CorruptionError,
    StoreClosedError,
    StoreTimeoutError,
    StoreUnavailableError,
    ValidationError,
)
from unistore_sql import SQLStore

SECRET = "pw-Zq81-secret"


def open_store(url: str, **options: Any) -> SQLStore:
    store = unistore.connect(url, **options)
    assert isinstance(store, SQLStore)
    return store


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def assert_redacted(error: BaseException, store: SQLStore) -> None:
    message = str(error)
    assert SECRET not in message
    assert str(store.url) in message
    assert error.__cause__ is not None


async def test_refused_connection_is_unavailable() -> None:
    store = open_store(f"postgresql://app:{SECRET}@127.0.0.1:{free_port()}/db")
    async with store:
        with pytest.raises(StoreUnavailableError) as info:
            await store.get("ns", "a")
    assert_redacted(info.value, store)
    assert "***" in str(info.value)


@pytest.mark.postgres
async def test_unknown_role_is_an_authentication_error(pg_url: str) -> None:
    parts = StoreURL.parse(pg_url)
    url = f"postgresql://no_such_role_u7:{SECRET}@{parts.host}:{parts.port or 5432}/test"
    async with open_store(url) as store:
        with pytest.raises(AuthenticationError) as info:
            await store.get("ns", "a")
    assert_redacted(info.value, store)


@pytest.mark.postgres
async def test_missing_database_is_unavailable(pg_url: str) -> None:
    parts = StoreURL.parse(pg_url)
    url = parts.render(hide_secrets=False).rsplit("/", 1)[0] + "/no_such_db_u7"
    async with open_store(url) as store:
        with pytest.raises(StoreUnavailableError, match="does not exist"):
            await store.get("ns", "a")


@pytest.mark.postgres
async def test_rejected_value_names_no_value(pg_url: str, table_prefix: str) -> None:
    async with open_store(pg_url, table_prefix=table_prefix) as store:
        try:
            await store.create_session("s")
            with pytest.raises(ValidationError) as info:
                await store.append_messages("s", ['"a\x00hidden-text"'], expected_length=0)
            assert "hidden-text" not in str(info.value)
            assert await store.read_messages("s") == []
        finally:
            await store.destroy()


async def test_unopenable_sqlite_file_is_unavailable(tmp_path: Path) -> None:
    async with open_store(f"sqlite:///{tmp_path}/missing-dir/x.db") as store:
        with pytest.raises(StoreUnavailableError) as info:
            await store.get("ns", "a")
    assert str(store.url) in str(info.value)
    # aiosqlite stops the worker thread of a failed connection through a future
    # nobody awaits: keep the loop alive until that thread is gone, or it fails
    # (loop closed) during a later test.
    for _ in range(200):
        if not any("_connection_worker_thread" in t.name for t in threading.enumerate()):
            break
        await asyncio.sleep(0.005)


async def test_full_sqlite_database_is_a_capacity_error(tmp_path: Path, table_prefix: str) -> None:
    path = tmp_path / "small.db"
    async with open_store(f"sqlite:///{path}", table_prefix=table_prefix) as store:
        await store.migrate()
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")

    @event.listens_for(engine.sync_engine, "connect")
    def limit_pages(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA max_page_count = 40")
        cursor.close()

    try:
        async with open_store("sqlite://", engine=engine, table_prefix=table_prefix) as store:

            async def fill() -> None:
                for i in range(100):
                    await store.set("ns", str(i), b"x" * 20_000, ttl=30)

            with pytest.raises(CapacityError):
                await fill()
    finally:
        await engine.dispose()


# A SQLite file store runs its statements on connections of its own, which
# a unit never waits for; the pool options size ``store.engine`` there.
@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
async def test_exhausted_pool_is_a_timeout(db_url: str, table_prefix: str) -> None:
    options = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2}
    async with open_store(db_url, table_prefix=table_prefix, **options) as store:
        try:
            await store.migrate()
            async with store.engine.connect() as held:
                await held.execute(text("SELECT 1"))
                with pytest.raises(StoreTimeoutError):
                    await store.get("ns", "a")
            assert await store.get("ns", "a") is None
        finally:
            await store.destroy()


async def test_closed_store_refuses_work() -> None:
    store = open_store("sqlite://")
    await store.aclose()
    with pytest.raises(StoreClosedError):
        await store.get("ns", "a")
    await store.aclose()  # idempotent


# -- reconnection -------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("pre_ping", [True, False])
async def test_store_survives_its_connections_being_killed(
    pg_url: str, table_prefix: str, pre_ping: bool
) -> None:
    # What a server restart looks like from the client: every pooled connection dies.
    async with open_store(pg_url, table_prefix=table_prefix, pool_pre_ping=pre_ping) as store:
        try:
            await store.set("ns", "a", b"1", ttl=30)
            await terminate_backend(pg_url, await backend_pid(store))
            assert await store.get("ns", "a") == b"1"  # reconnects transparently
            await terminate_backend(pg_url, await backend_pid(store))
            if pre_ping:
                assert await store.incr("ns", "n", ttl=30) == 1
            else:
                # Whether a non-idempotent write reached the server is unknown:
                # it is reported, never blindly repeated; the next call reconnects.
                with pytest.raises(StoreUnavailableError):
                    await store.incr("ns", "n", ttl=30)
                assert await store.incr("ns", "n", ttl=30) >= 1
        finally:
            await store.destroy()


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own, on a free loopback port."""

    def __init__(self) -> None:
        bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        initdb = shutil.which("initdb") or (bindirs and f"{bindirs[-1]}/initdb") or None
        if not initdb or not os.path.exists(initdb):
            pytest.skip("PostgreSQL server binaries (initdb) are not installed")
        self.bindir = os.path.dirname(initdb)
        self.run_as: list[str] = []
        self.directory = Path(tempfile.mkdtemp(prefix="unistore-pg-"))
        if os.geteuid() == 0:
            # The server refuses to run as root: use the postgres account.
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.directory)
                pytest.skip("running as root without a 'postgres' account for a private server")
            os.chown(self.directory, account.pw_uid, account.pw_gid)
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self.data = self.directory / "data"
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql://postgres:{SECRET}@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [*self.run_as, f"{self.bindir}/{tool}", *args]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.directory / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
async def private_store(private_postgres: PrivatePostgres) -> AsyncIterator[SQLStore]:
    async with open_store(private_postgres.url, pool_pre_ping=True) as store:
        yield store


@pytest.mark.slow
@pytest.mark.postgres
async def test_same_store_works_after_a_server_restart(
    private_postgres: PrivatePostgres, private_store: SQLStore
) -> None:
    store = private_store
    await store.set("ns", "a", b"kept", ttl=60)
    await store.create_session("s")
    await asyncio.to_thread(private_postgres.stop)
    with pytest.raises(StoreUnavailableError) as info:
        await store.get("ns", "a")
    assert_redacted(info.value, store)
    await asyncio.to_thread(private_postgres.start)
    assert await store.get("ns", "a") == b"kept"
    assert await store.incr("ns", "n", ttl=60) == 1
    await store.append_messages("s", ['"m"'], expected_length=0)
    assert await store.read_messages("s") == ['"m"']


# -- retries ------------------------------------------------------------------------------


def _busy() -> sa_exc.OperationalError:
    orig = sqlite3.OperationalError("database is locked")
    orig.sqlite_errorname = "SQLITE_BUSY_SNAPSHOT"
    return sa_exc.OperationalError("BEGIN IMMEDIATE", None, orig)


async def test_instant_busy_replies_are_retried_for_the_whole_busy_timeout(
    tmp_path: Path, table_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Some busy replies come back at once (SQLite's busy handler does not wait
    # for them); they must be retried for busy_timeout, not a number of times.
    url = f"sqlite:///{tmp_path}/busy.db"
    async with open_store(url, table_prefix=table_prefix, busy_timeout=10) as store:
        await store.set("ns", "a", b"0", ttl=30)
        real = store._db._attempt
        failures = iter(range(12))

        async def flaky(fn: Any, mode: Any, *rest: Any) -> Any:
            if next(failures, None) is not None:
                raise _busy()
            return await real(fn, mode, *rest)

        monkeypatch.setattr(store._db, "_attempt", flaky)
        await store.set("ns", "a", b"1", ttl=30)
        monkeypatch.undo()
        assert await store.get("ns", "a") == b"1"


async def test_delete_session_is_not_repeated_after_a_broken_connection(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.create_session("s")
    real = store._s.delete
    calls: list[str] = []

    async def breaks_once(conn: Any, session_id: str, scope: str) -> bool:
        calls.append(session_id)
        found = await real(conn, session_id, scope)
        if len(calls) == 1:
            raise sa_exc.OperationalError(
                "DELETE", None, ConnectionResetError(), connection_invalidated=True
            )
        return found

    monkeypatch.setattr(store._s, "delete", breaks_once)
    with pytest.raises(StoreUnavailableError, match="may have been applied"):
        await store.delete_session("s")
    assert calls == ["s"]


def test_client_side_data_errors_are_validation_errors() -> None:
    url = StoreURL.parse(f"postgresql+psycopg://u:{SECRET}@127.0.0.1/db")
    orig = ValueError("PostgreSQL text fields cannot contain NUL (0x00) bytes: 'hidden-text'")
    exc = sa_exc.DataError("INSERT", {"body": "hidden-text"}, orig)
    error = SQLStore.ERRORS.translate(exc, f"postgresql store {url}", [SECRET])
    assert isinstance(error, ValidationError)
    assert SECRET not in str(error)
    assert "hidden-text" not in str(error)


@pytest.mark.postgres
async def test_nul_in_a_message_is_a_validation_error_through_psycopg(
    pg_url: str, table_prefix: str
) -> None:
    url = replace(StoreURL.parse(pg_url), dialect="psycopg").render(hide_secrets=False)
    async with open_store(url, table_prefix=table_prefix) as store:
        try:
            await store.create_session("s")
            with pytest.raises(ValidationError) as info:
                await store.append_messages("s", ['"a\x00hidden-text"'], expected_length=0)
            assert "hidden-text" not in str(info.value)
        finally:
            await store.destroy()


async def test_unreadable_schema_version_is_a_corruption_error(
    tmp_path: Path, table_prefix: str
) -> None:
    async with open_store(f"sqlite:///{tmp_path}/v.db", table_prefix=table_prefix) as store:
        await store.get("ns", "a")
        async with store.engine.begin() as conn:
            await conn.execute(text(f"UPDATE {table_prefix}meta SET value = 'two'"))
    async with open_store(f"sqlite:///{tmp_path}/v.db", table_prefix=table_prefix) as store:
        with pytest.raises(CorruptionError, match="schema version"):
            await store.get("ns", "a")
