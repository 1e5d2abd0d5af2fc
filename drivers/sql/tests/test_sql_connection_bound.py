"""Connections per process stay within pool_size + max_overflow, under real load.

:data:`PROCESSES` processes (forked by ``bound_worker.py``) each open one store
with a small pool and run more concurrent tasks than it has connections,
while this test counts their server sessions in ``pg_stat_activity`` by an
``application_name`` no one else uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from pg_backends import admin_connection

import unistore
from unistore import NamespacedStore, StoreURL
from unistore.errors import InvalidOptionError
from unistore_sql import SQLStore

PROCESSES = 16
POOL_SIZE = 2
MAX_OVERFLOW = 1
#: Tasks per process: more than its connections.
TASKS = 8
ROUNDS = 3
OPS_PER_ROUND = 5
WORKER = Path(__file__).with_name("bound_worker.py")
#: Seconds the whole run may take before the test gives up.
_DEADLINE = 120.0


async def _sessions(url: str, name: str, peak: list[int], stop: asyncio.Event) -> None:
    conn = await admin_connection(url)
    try:
        while not stop.is_set():
            count = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = $1",
                name,
            )
            peak[0] = max(peak[0], int(count))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.01)
    finally:
        await conn.close()


async def _lines(process: asyncio.subprocess.Process, count: int) -> list[str]:
    """Read ``count`` lines of the workers (fewer if they all ended first)."""
    assert process.stdout is not None
    lines = []
    for _ in range(count):
        line = await process.stdout.readline()
        if not line:
            break
        lines.append(line.decode().strip())
    return lines


@pytest.mark.postgres
@pytest.mark.slow
async def test_processes_stay_within_their_pools(pg_url: str, table_prefix: str) -> None:
    name = f"unistore-bound-{uuid.uuid4().hex[:12]}"
    args = [pg_url, table_prefix, name, POOL_SIZE, MAX_OVERFLOW, TASKS, ROUNDS, PROCESSES]
    async with unistore.connect(pg_url, table_prefix=table_prefix) as store:
        assert isinstance(store, SQLStore)
        await store.migrate()
        peak, stop = [0], asyncio.Event()
        launcher = await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            *(str(arg) for arg in args),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            # A process group of its own, which its forked workers share.
            start_new_session=True,
        )
        try:
            async with asyncio.timeout(_DEADLINE):
                assert await _lines(launcher, PROCESSES) == ["ready"] * PROCESSES
                sampler = asyncio.create_task(_sessions(pg_url, name, peak, stop))
                assert launcher.stdin is not None
                launcher.stdin.write(b"g" * PROCESSES)
                await launcher.stdin.drain()
                reports = [json.loads(line) for line in await _lines(launcher, PROCESSES)]
                stop.set()
                await sampler
                code = await launcher.wait()
            names: NamespacedStore[str] = NamespacedStore(store, prefix="bound", default_ttl=300)
            total = await names.namespace("shared").get("total")
        finally:
            stop.set()
            if launcher.returncode is None:
                # The workers too, not only the launcher that forked them.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(launcher.pid, signal.SIGKILL)
                await launcher.wait()
            await store.destroy()
    assert code == 0
    assert sorted(report["worker"] for report in reports) == list(range(PROCESSES))
    assert [report["errors"] for report in reports] == [[]] * PROCESSES
    expected_ops = TASKS * ROUNDS * OPS_PER_ROUND
    assert [report["ops"] for report in reports] == [expected_ops] * PROCESSES
    assert total == str(PROCESSES * TASKS * ROUNDS)
    print(f"peak sessions of {PROCESSES} processes: {peak[0]}")
    # Never more than each pool allows, and more than one each: they ran at once.
    assert peak[0] <= PROCESSES * (POOL_SIZE + MAX_OVERFLOW)
    assert peak[0] > PROCESSES


@pytest.mark.postgres
@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
async def test_application_name_reaches_the_server(pg_url: str, driver: str) -> None:
    if driver == "psycopg":
        pytest.importorskip("psycopg")
    name = f"unistore-name-{uuid.uuid4().hex[:12]}"
    url = replace(StoreURL.parse(pg_url), dialect=driver).render(hide_secrets=False)
    async with unistore.connect(url, application_name=name, create_schema=False) as store:
        assert isinstance(store, SQLStore)
        async with store.engine.connect() as conn:
            result = await conn.exec_driver_sql("SELECT current_setting('application_name')")
            assert result.scalar_one() == name


@pytest.mark.parametrize("value", ["", "x" * 64, "caf\u00e9", "tab\there", 7])
def test_application_name_must_be_short_printable_ascii(value: object) -> None:
    with pytest.raises(InvalidOptionError, match="application_name"):
        unistore.connect("postgresql://u@127.0.0.1/db", application_name=value)
