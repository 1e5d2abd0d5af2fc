"""PostgreSQL through a real pgbouncer in transaction pool mode (the ``pgbouncer`` option).

A pgbouncer of its own runs for this module, on a free loopback port, from a
temporary folder holding its ini and auth file; it passes the test server's
connections on in ``transaction`` mode with a server pool of
:data:`SERVER_POOL` connections, smaller than the store's client pool, so
that clients really share server connections. Without the binary the tests
skip (fail under CI).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

import unistore
from unistore import NamespacedStore, StoreURL
from unistore.errors import ConfigurationError, InvalidOptionError, UnistoreError
from unistore.testing import (
    CounterSuite,
    HashSuite,
    KeyValueSuite,
    SessionsSuite,
    TransactionsSuite,
)
from unistore_sql import SQLStore
from unistore_test_support import postgres_test_url, require_server

#: Server connections pgbouncer keeps per database and user.
SERVER_POOL = 2
#: Concurrent tasks of the workload, and the operations each runs.
TASKS = 40
OPS_PER_TASK = 10
#: Seconds pgbouncer gets to start listening or to stop.
_START_WAIT = 10.0
_STOP_WAIT = 5.0


@dataclass(frozen=True)
class Bouncer:
    """A running pgbouncer in front of the test server."""

    #: The test server's URL with pgbouncer's host and port (asyncpg).
    url: str
    #: The same, through psycopg.
    psycopg_url: str
    #: The server's own URL (schema work goes there, not through pgbouncer).
    server_url: str
    port: int
    user: str

    def url_for(self, driver: str) -> str:
        return self.url if driver == "asyncpg" else self.psycopg_url


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}_"


def _binary() -> str:
    found = shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None
    )
    if found is None:
        message = "no pgbouncer binary (Debian: apt-get install pgbouncer)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _write_config(folder: Path, server: StoreURL, port: int) -> Path:
    database = server.path.lstrip("/") or "postgres"
    user = server.username or "postgres"
    # With auth_type trust pgbouncer checks no client password, but logs in
    # to the server with the one listed here.
    (folder / "users.txt").write_text(f"{_quoted(user)} {_quoted(server.password or '')}\n")
    ini = folder / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        f"{database} = host={server.host or '127.0.0.1'} port={server.port or 5432} "
        f"dbname={database}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {folder / 'users.txt'}\n"
        f"admin_users = {user}\n"
        "pool_mode = transaction\n"
        f"default_pool_size = {SERVER_POOL}\n"
        "min_pool_size = 0\n"
        "reserve_pool_size = 0\n"
        "max_client_conn = 500\n"
        "ignore_startup_parameters = extra_float_digits\n"
    )
    return ini


def _run_as() -> pwd.struct_passwd | None:
    """The user pgbouncer switches to (with -u): it refuses to run as root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    pytest.fail("running as root and no unprivileged user for pgbouncer", pytrace=False)


def _hand_over(folder: Path, user: pwd.struct_passwd | None) -> None:
    # Readable by the user pgbouncer runs as (a pytest temp dir is not); the
    # auth file, which may hold the server password, by that user only.
    folder.chmod(0o755)
    for path in folder.iterdir():
        if user is not None:
            os.chown(path, user.pw_uid, user.pw_gid)
        path.chmod(0o600 if path.name == "users.txt" else 0o644)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _up(log: Path) -> bool:
    return b"process up" in log.read_bytes()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(_STOP_WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(_STOP_WAIT)


@contextlib.contextmanager
def _started(binary: str, server: StoreURL) -> Iterator[int]:
    folder = Path(tempfile.mkdtemp(prefix="unistore-pgbouncer-"))
    user = _run_as()
    switch = [] if user is None else ["-u", user.pw_name]
    try:
        for _ in range(3):
            port = _free_port()
            ini = _write_config(folder, server, port)
            _hand_over(folder, user)
            log = folder / "pgbouncer.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [binary, *switch, str(ini)], stdout=out, stderr=subprocess.STDOUT
                )
            try:
                deadline = time.monotonic() + _START_WAIT
                while process.poll() is None and time.monotonic() < deadline:
                    if _up(log) and _listening(port):
                        break
                    time.sleep(0.05)
                # Alive and saying so: not some other process on the port.
                if process.poll() is None and _up(log) and _listening(port):
                    yield port
                    return
            finally:
                _stop(process)
            # Most likely another process took the port meanwhile: try another.
        pytest.fail(f"pgbouncer did not start:\n{log.read_text()[-2000:]}", pytrace=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def bouncer() -> Iterator[Bouncer]:
    """A pgbouncer in transaction mode in front of the test server, for this module."""
    binary = _binary()
    server_url = postgres_test_url()
    require_server(server_url, "UNISTORE_TEST_POSTGRES_URL")
    server = StoreURL.parse(server_url)
    with _started(binary, server) as port:
        through = replace(server, host="127.0.0.1", port=port)
        yield Bouncer(
            url=through.render(hide_secrets=False),
            psycopg_url=replace(through, dialect="psycopg").render(hide_secrets=False),
            server_url=server_url,
            port=port,
            user=server.username or "postgres",
        )


@contextlib.asynccontextmanager
async def _tables(bouncer: Bouncer) -> AsyncIterator[str]:
    """A table prefix whose tables exist (made on the server directly) until the block ends."""
    prefix = unique_prefix()
    async with unistore.connect(bouncer.server_url, table_prefix=prefix) as direct:
        assert isinstance(direct, SQLStore)
        await direct.migrate()
        try:
            yield prefix
        finally:
            await direct.destroy()


# -- pool statistics --------------------------------------------------------------------


@dataclass
class PoolPeaks:
    """The largest client and server connection counts pgbouncer reported for the user."""

    clients: int = 0
    waiting: int = 0
    servers: int = 0


async def _sample_pools(bouncer: Bouncer, peaks: PoolPeaks, stop: asyncio.Event) -> None:
    import psycopg

    # The admin console speaks the simple query protocol only.
    admin = await psycopg.AsyncConnection.connect(
        host="127.0.0.1",
        port=bouncer.port,
        user=bouncer.user,
        dbname="pgbouncer",
        autocommit=True,
        prepare_threshold=None,
    )
    try:
        while not stop.is_set():
            cursor = await admin.execute("SHOW POOLS")
            names = [column.name for column in cursor.description or ()]
            for row in await cursor.fetchall():
                pool = dict(zip(names, row, strict=True))
                if pool["user"] != bouncer.user or pool["database"] == "pgbouncer":
                    continue
                peaks.clients = max(peaks.clients, pool["cl_active"] + pool["cl_waiting"])
                peaks.waiting = max(peaks.waiting, pool["cl_waiting"])
                servers = pool["sv_active"] + pool["sv_idle"] + pool["sv_used"]
                peaks.servers = max(peaks.servers, servers + pool["sv_tested"] + pool["sv_login"])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.01)
    finally:
        await admin.close()


# -- the workload -----------------------------------------------------------------------


async def _task(store: SQLStore, run: str, index: int) -> int:
    """Ten operations of every kind, checking each result; returns how many ran."""
    names: NamespacedStore[str] = NamespacedStore(store, prefix=f"pgb{run}", default_ttl=300)
    mine = names.namespace(f"task-{index}")
    shared = names.namespace("shared")
    scope = f"pgb-{run}"
    session = f"s-{index}"

    await mine.set("name", f"value-{index}")
    assert await mine.get("name") == f"value-{index}"
    await mine.hset("profile", {"a": str(index), "b": "x"})
    assert await mine.hgetall("profile") == {"a": str(index), "b": "x"}
    assert await shared.incr("hits") >= 1

    async def bump(snapshot: Any, ops: Any) -> int:
        value = int(await snapshot.get("balance") or 0) + 1
        ops.set("balance", str(value))
        return value

    assert await mine.with_cas("balance", bump) == 1

    async with store.transaction(mine.store_namespace, ["name"]) as tx:
        assert await tx.get("name") == f"value-{index}".encode()
        tx.set("name", f"final-{index}".encode(), ttl=300)
        await tx.commit()

    await store.create_session(session, scope=scope, ttl=300)
    messages = [f'{{"n": {index}, "i": 0}}', f'{{"n": {index}, "i": 1}}']
    assert await store.append_messages(session, messages, expected_length=0, scope=scope) == 2
    assert await store.read_messages(session, scope=scope) == messages
    return OPS_PER_TASK


async def _workload(store: SQLStore) -> list[int | BaseException]:
    run = uuid.uuid4().hex[:8]
    results = await asyncio.gather(
        *(_task(store, run, index) for index in range(TASKS)), return_exceptions=True
    )
    if all(isinstance(result, int) for result in results):
        # Everything after all tasks: the shared counter and the listing.
        names: NamespacedStore[str] = NamespacedStore(store, prefix=f"pgb{run}", default_ttl=300)
        assert await names.namespace("shared").get("hits") == str(TASKS)
        for index in range(TASKS):
            assert await names.namespace(f"task-{index}").get("name") == f"final-{index}"
        page = await store.list_sessions(scope=f"pgb-{run}", limit=TASKS + 1)
        assert {record.id for record in page.items} == {f"s-{i}" for i in range(TASKS)}
    return results


DRIVERS = ["asyncpg", pytest.param("psycopg", id="psycopg")]


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("driver", DRIVERS)
async def test_mixed_workload_through_pgbouncer_succeeds(bouncer: Bouncer, driver: str) -> None:
    if driver == "psycopg":
        pytest.importorskip("psycopg")
    peaks, stop = PoolPeaks(), asyncio.Event()
    async with _tables(bouncer) as prefix:
        url = bouncer.url_for(driver)
        async with unistore.connect(url, table_prefix=prefix, pgbouncer=True) as store:
            assert isinstance(store, SQLStore)
            sampler = asyncio.create_task(_sample_pools(bouncer, peaks, stop))
            try:
                results = await _workload(store)
            finally:
                stop.set()
                await sampler
    failures = [result for result in results if isinstance(result, BaseException)]
    assert not failures, failures[:3]
    assert sum(results) == TASKS * OPS_PER_TASK  # type: ignore[arg-type]
    # The store's clients outnumbered pgbouncer's server connections.
    assert peaks.servers <= SERVER_POOL
    assert peaks.clients > SERVER_POOL, peaks
    print(f"{driver} through pgbouncer: {peaks}")


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("driver", DRIVERS)
async def test_without_the_option_pgbouncer_breaks_the_workload(
    bouncer: Bouncer, driver: str
) -> None:
    if driver == "psycopg":
        pytest.importorskip("psycopg")
    async with _tables(bouncer) as prefix:
        url = bouncer.url_for(driver)
        async with unistore.connect(url, table_prefix=prefix) as store:
            assert isinstance(store, SQLStore)
            results = await _workload(store)
    failures = [result for result in results if isinstance(result, BaseException)]
    print(f"{driver} without pgbouncer=true: {len(failures)} of {TASKS} tasks failed")
    assert failures, "every task succeeded through pgbouncer without the pgbouncer option"
    # Each failure is unistore's; the prepared-statement ones name the option
    # that fixes them. (psycopg may also find its server connection in a state
    # it does not expect, which it reports as a broken connection.)
    for failure in failures:
        assert isinstance(failure, UnistoreError), repr(failure)
        assert not isinstance(failure.__cause__, UnistoreError | None)
    named = [f for f in failures if isinstance(f, ConfigurationError)]
    assert named, [repr(f) for f in failures[:3]]
    assert all("pgbouncer=true" in str(f) for f in named)


# -- no prepared statement left on a session ---------------------------------------------


async def _prepared_on_pooled_sessions(store: SQLStore, connections: int) -> int:
    """Count the prepared statements of ``connections`` of the store's pooled sessions."""
    async with contextlib.AsyncExitStack() as stack:
        total = 0
        for _ in range(connections):
            conn = await stack.enter_async_context(store.engine.connect())
            result = await conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements")
            total += int(result.scalar_one())
            await conn.rollback()
        return total


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("pgbouncer", [True, False])
@pytest.mark.parametrize("driver", DRIVERS)
async def test_no_prepared_statement_stays_on_a_session(
    pg_url: str, table_prefix: str, driver: str, pgbouncer: bool
) -> None:
    """Straight to the server, a session is the store's own: what it prepared is still there."""
    if driver == "psycopg":
        pytest.importorskip("psycopg")
    url = replace(StoreURL.parse(pg_url), dialect=driver).render(hide_secrets=False)
    async with unistore.connect(url, table_prefix=table_prefix, pgbouncer=pgbouncer) as store:
        assert isinstance(store, SQLStore)
        try:
            results = await _workload(store)
            assert all(isinstance(result, int) for result in results)
            left = await _prepared_on_pooled_sessions(store, store._db.settings.pool_size)
        finally:
            await store.destroy()
    if pgbouncer:
        assert left == 0
    else:
        # What makes pgbouncer fail: statements that outlive their transaction.
        assert left > 0


# -- the option itself --------------------------------------------------------------------


async def test_option_shows_in_effective_options() -> None:
    url = "postgresql://u@127.0.0.1/db"
    async with unistore.connect(url + "?pgbouncer=true", application_name="unistore-pgb") as on:
        assert isinstance(on, SQLStore)
        options = on.effective_options()
        assert options["pgbouncer"] is True
        assert options["application_name"] == "unistore-pgb"
    async with unistore.connect(url) as off:
        assert isinstance(off, SQLStore)
        assert off.effective_options()["pgbouncer"] is False
    async with unistore.connect("sqlite://") as sqlite:
        assert isinstance(sqlite, SQLStore)
        assert not {"pgbouncer", "application_name"} & set(sqlite.effective_options())


@pytest.mark.parametrize(
    ("url", "options"),
    [("sqlite:///{dir}/a.db?pgbouncer=true", {}), ("sqlite://", {"pgbouncer": True})],
)
async def test_option_is_refused_on_sqlite(
    tmp_path: Path, url: str, options: dict[str, Any]
) -> None:
    with pytest.raises(InvalidOptionError, match="'pgbouncer'"):
        unistore.connect(url.format(dir=tmp_path), **options)
    # Off, it is no error.
    await unistore.connect(url.format(dir=tmp_path), pgbouncer=False).aclose()


@pytest.mark.parametrize("value", ["maybe", 1, None])
def test_option_takes_a_boolean(value: Any) -> None:
    with pytest.raises(InvalidOptionError, match="pgbouncer"):
        unistore.connect("postgresql://u@127.0.0.1/db", pgbouncer=value)


async def test_option_is_refused_with_an_engine_passed_in() -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine("postgresql+asyncpg://u@127.0.0.1/db")
    try:
        with pytest.raises(InvalidOptionError, match="'pgbouncer'"):
            unistore.connect("postgresql://u@127.0.0.1/db", engine=engine, pgbouncer=True)
    finally:
        await engine.dispose()


# -- conformance through pgbouncer ------------------------------------------------------


@pytest.fixture(scope="class")
def through_bouncer(bouncer: Bouncer) -> Iterator[tuple[str, str]]:
    """The pgbouncer URL and a table prefix shared by one class (tables made directly)."""
    prefix = unique_prefix()

    async def run(destroy: bool) -> None:
        async with unistore.connect(bouncer.server_url, table_prefix=prefix) as direct:
            assert isinstance(direct, SQLStore)
            await (direct.destroy() if destroy else direct.migrate())

    asyncio.run(run(destroy=False))
    try:
        yield bouncer.url, prefix
    finally:
        asyncio.run(run(destroy=True))


@pytest.mark.postgres
@pytest.mark.slow
class TestConformanceThroughPgbouncer(
    KeyValueSuite, HashSuite, CounterSuite, TransactionsSuite, SessionsSuite
):
    """The key-value, hash, counter, transaction and session suites through pgbouncer (asyncpg)."""

    @pytest.fixture
    def store_url(self, through_bouncer: tuple[str, str]) -> str:
        return through_bouncer[0]

    @pytest.fixture
    def store_options(self, through_bouncer: tuple[str, str]) -> dict[str, Any]:
        return {"table_prefix": through_bouncer[1], "pgbouncer": True}
