"""The unistore conformance suite on SQLite (file, in-memory) and PostgreSQL (asyncpg, psycopg).

Each class shares one set of tables per backend (``shared_db``,
``shared_psycopg``): the suite works in ids of its own and cleans up after each
test (it runs against shared stores through ``unistore check`` too), and
creating and dropping the schema for each of its hundreds of tests would
dominate their time.
"""

from __future__ import annotations

from typing import Any

import pytest

from unistore.testing import ConformanceSuite


class TestSQLConformance(ConformanceSuite):
    @pytest.fixture
    def store_url(self, shared_db: tuple[str, str]) -> str:
        return shared_db[0]

    @pytest.fixture
    def store_options(self, shared_db: tuple[str, str]) -> dict[str, Any]:
        return {"table_prefix": shared_db[1]}


@pytest.mark.postgres
class TestSQLConformancePsycopg(ConformanceSuite):
    """The same suite on PostgreSQL through psycopg 3 instead of asyncpg."""

    @pytest.fixture
    def store_url(self, shared_psycopg: tuple[str, str]) -> str:
        return shared_psycopg[0]

    @pytest.fixture
    def store_options(self, shared_psycopg: tuple[str, str]) -> dict[str, Any]:
        return {"table_prefix": shared_psycopg[1]}
