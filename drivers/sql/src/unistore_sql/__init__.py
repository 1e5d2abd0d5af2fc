"""unistore-sql: the SQL driver of unistore, on SQLite and PostgreSQL.

Install it and open stores by URL::

    import unistore

    async with unistore.connect("sqlite:///app.db") as store:
        await store.set("app:user-1", "greeting", b"hello", ttl=60)

``postgresql://user:password@host:5432/db`` uses asyncpg;
``postgresql+psycopg://...`` uses psycopg 3 (``pip install 'unistore-sql[psycopg]'``).
"""

from __future__ import annotations

from unistore_sql._schema import SCHEMA_VERSION, Tables, build_tables
from unistore_sql._store import SQLStore
from unistore_sql._transaction import SQLTransaction

__all__ = ["SCHEMA_VERSION", "SQLStore", "SQLTransaction", "Tables", "build_tables"]
