"""The check of pooled PostgreSQL connections before use (``pool_pre_ping``).

A connection used again soon costs no round trip; one idle for long is
pinged; one the server closed is replaced before the operation runs, so even
a write that must not be repeated succeeds after its connection was killed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from pg_backends import backend_pid, terminate_backend
from sqlalchemy import event

import unistore
from unistore import StoreURL
from unistore_sql import SQLStore, _liveness

pytestmark = pytest.mark.postgres


@pytest.fixture(params=["asyncpg", "psycopg"])
async def store(
    request: pytest.FixtureRequest, pg_url: str, table_prefix: str
) -> AsyncIterator[SQLStore]:
    url = replace(StoreURL.parse(pg_url), dialect=request.param).render(hide_secrets=False)
    opened = unistore.connect(url, table_prefix=table_prefix)
    assert isinstance(opened, SQLStore)
    async with opened:
        try:
            yield opened
        finally:
            await opened.destroy()


class Pings:
    """Counts the pings of a store's connections, optionally failing the next few."""

    def __init__(self, store: SQLStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.fail = 0
        dialect = store.engine.sync_engine.dialect
        original = dialect.do_ping

        def do_ping(dbapi_connection: Any) -> bool:
            self.count += 1
            if self.fail:
                self.fail -= 1
                raise OSError("the connection died silently")
            return bool(original(dbapi_connection))

        monkeypatch.setattr(dialect, "do_ping", do_ping)


async def test_a_connection_used_again_soon_is_not_pinged(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.set("ns", "a", b"1", ttl=30)
    pings = Pings(store, monkeypatch)
    sent: list[str] = []
    event.listen(
        store.engine.sync_engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *args: sent.append(statement),
    )
    for _ in range(20):
        assert await store.get("ns", "a") == b"1"
    assert pings.count == 0
    assert len(sent) == 20  # one statement per read, nothing else


async def test_an_idle_connection_is_pinged_before_use(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.set("ns", "a", b"1", ttl=30)
    pings = Pings(store, monkeypatch)
    monkeypatch.setattr(_liveness, "IDLE_PING", 0.0)
    for _ in range(3):
        assert await store.get("ns", "a") == b"1"
    assert pings.count == 3


async def test_a_connection_that_fails_its_ping_is_replaced(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.set("ns", "n", b"0", ttl=30)
    before = await backend_pid(store)
    pings = Pings(store, monkeypatch)
    monkeypatch.setattr(_liveness, "IDLE_PING", 0.0)
    pings.fail = 1
    # Not idempotent: it runs once, on the replacement.
    assert await store.incr("ns", "n", ttl=30) == 1
    assert pings.count == 1
    assert await backend_pid(store) != before


async def test_a_connection_the_server_closed_is_replaced_before_a_write(
    store: SQLStore, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.set("ns", "n", b"0", ttl=30)
    pings = Pings(store, monkeypatch)
    for expected in (1, 2):
        await terminate_backend(pg_url, await backend_pid(store))
        assert await store.incr("ns", "n", ttl=30) == expected
    assert pings.count == 2  # the closed connections were checked, and only they


async def test_the_option_off_checks_nothing(
    pg_url: str, table_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = unistore.connect(pg_url, table_prefix=table_prefix, pool_pre_ping=False)
    assert isinstance(opened, SQLStore)
    async with opened:
        try:
            await opened.set("ns", "a", b"1", ttl=30)
            pings = Pings(opened, monkeypatch)
            monkeypatch.setattr(_liveness, "IDLE_PING", 0.0)
            assert await opened.get("ns", "a") == b"1"
            assert pings.count == 0
        finally:
            await opened.destroy()
