"""The unistore conformance suite on SQLite (file, in-memory) and PostgreSQL (asyncpg, psycopg)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

import unistore
from unistore import StoreURL
from unistore.testing import ConformanceSuite


class TestSQLConformance(ConformanceSuite):
    @pytest.fixture
    def store_url(self, db_url: str) -> str:
        return db_url

    @pytest.fixture
    def store_options(self, table_prefix: str) -> dict[str, Any]:
        return {"table_prefix": table_prefix}

    @pytest.fixture(autouse=True)
    async def _drop_tables(
        self, store_url: str, store_options: dict[str, Any]
    ) -> AsyncIterator[None]:
        yield
        store = unistore.connect(store_url, **store_options)
        async with store:
            await store.destroy()  # type: ignore[attr-defined]


@pytest.mark.postgres
class TestSQLConformancePsycopg(ConformanceSuite):
    """The same suite on PostgreSQL through psycopg 3 instead of asyncpg."""

    @pytest.fixture
    def store_url(self, pg_url: str) -> str:
        return replace(StoreURL.parse(pg_url), dialect="psycopg").render(hide_secrets=False)

    @pytest.fixture
    def store_options(self, table_prefix: str) -> dict[str, Any]:
        return {"table_prefix": table_prefix}

    @pytest.fixture(autouse=True)
    async def _drop_tables(
        self, store_url: str, store_options: dict[str, Any]
    ) -> AsyncIterator[None]:
        yield
        store = unistore.connect(store_url, **store_options)
        async with store:
            await store.destroy()  # type: ignore[attr-defined]
