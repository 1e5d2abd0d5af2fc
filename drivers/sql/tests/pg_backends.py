"""PostgreSQL server-side helpers for the SQL driver's tests: admin connections, backends."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text

from unistore import StoreURL
from unistore_sql import SQLStore

__all__ = ["admin_connection", "backend_pid", "terminate_backend"]


async def admin_connection(url: str) -> Any:
    """A plain asyncpg connection to the server and database of ``url``."""
    parts = StoreURL.parse(url)
    return await asyncpg.connect(
        user=parts.username,
        password=parts.password,
        host=parts.host,
        port=parts.port,
        database=parts.path.lstrip("/") or None,
    )


async def backend_pid(store: SQLStore) -> int:
    """The server process of the store's pooled connection (one at a time: the pool holds one)."""
    async with store.engine.connect() as conn:
        pid = await conn.scalar(text("SELECT pg_backend_pid()"))
    assert isinstance(pid, int)
    return pid


async def terminate_backend(url: str, pid: int) -> None:
    """End a server process as a restart would, and wait until the server has let it go."""
    admin = await admin_connection(url)
    try:
        await admin.execute("SELECT pg_terminate_backend($1, 5000)", pid)
        for _ in range(100):
            gone = await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)
            if not gone:
                break
            await asyncio.sleep(0.02)
    finally:
        await admin.close()
    # The server's goodbye reaches the client's socket a moment later.
    await asyncio.sleep(0.05)
