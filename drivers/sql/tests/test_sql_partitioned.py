"""Sessions on PostgreSQL tables partitioned by session hash (the recipe in docs/scaling.md).

The sessions and messages tables are created beforehand as ``PARTITION BY HASH
(sid_key)``, from the driver's own table definitions; the store then opens on
them as on tables it made itself, and the whole session part of the
conformance suite runs against them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

import unistore
from unistore.testing import SESSION_SUITES
from unistore_sql import build_tables
from unistore_test_support import postgres_test_url, require_server

pytestmark = pytest.mark.postgres

PARTITIONS = 8


def unique_prefix() -> str:
    return f"tp{uuid.uuid4().hex[:12]}_"


async def _destroy(url: str, prefix: str) -> None:
    async with unistore.connect(url, table_prefix=prefix) as store:
        await store.destroy()  # type: ignore[attr-defined]


def _engine_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


async def _create_partitioned(url: str, prefix: str) -> None:
    tables = build_tables(prefix)
    engine = create_async_engine(_engine_url(url))
    try:
        async with engine.begin() as conn:
            for table in (tables.sessions, tables.messages):
                table.dialect_options["postgresql"]["partition_by"] = "HASH (sid_key)"
                await conn.run_sync(table.create)
                for remainder in range(PARTITIONS):
                    await conn.execute(
                        text(
                            f'CREATE TABLE "{table.name}_p{remainder}" PARTITION OF '
                            f'"{table.name}" FOR VALUES WITH '
                            f"(MODULUS {PARTITIONS}, REMAINDER {remainder})"
                        )
                    )
    finally:
        await engine.dispose()


async def _rows_per_partition(url: str, table: str) -> list[int]:
    engine = create_async_engine(_engine_url(url))
    try:
        async with engine.connect() as conn:
            counts = []
            for remainder in range(PARTITIONS):
                result = await conn.execute(text(f'SELECT count(*) FROM "{table}_p{remainder}"'))
                counts.append(int(result.scalar_one()))
            return counts
    finally:
        await engine.dispose()


@pytest.fixture(scope="class")
def partitioned() -> Iterator[tuple[str, str]]:
    url = postgres_test_url()
    require_server(url, "UNISTORE_TEST_POSTGRES_URL")
    prefix = unique_prefix()
    asyncio.run(_create_partitioned(url, prefix))
    yield url, prefix
    asyncio.run(_destroy(url, prefix))


class TestPartitionedSessions(*SESSION_SUITES):  # type: ignore[misc]
    @pytest.fixture
    def store_url(self, partitioned: tuple[str, str]) -> str:
        return partitioned[0]

    @pytest.fixture
    def store_options(self, partitioned: tuple[str, str]) -> dict[str, Any]:
        return {"table_prefix": partitioned[1]}


async def test_sessions_spread_over_the_partitions(partitioned: tuple[str, str]) -> None:
    url, prefix = partitioned
    async with unistore.connect(url, table_prefix=prefix) as store:
        scope = f"spread-{unique_prefix()}"
        for i in range(400):
            await store.create_session(f"s{i}", scope=scope, messages=['{"n": 1}', '{"n": 2}'])
        parent = "s0"
        await store.fork_session(parent, "fork", scope=scope)
        await store.append_messages("fork", ['{"n": 3}'], scope=scope)
        assert await store.read_messages("fork", scope=scope) == [
            '{"n": 1}',
            '{"n": 2}',
            '{"n": 3}',
        ]
        page = await store.list_sessions(scope=scope, limit=5)
        assert page.items[0].id == "fork"
        counts = await _rows_per_partition(url, f"{prefix}messages")
        # This test's 803 message rows (with any the suite left): every
        # partition holds some, none more than twice its share.
        assert min(counts) > 0
        assert max(counts) < 2 * sum(counts) / PARTITIONS
        await store.delete_session("fork", scope=scope)
