"""Schema upgrades: ``UPGRADES[n]`` turns schema version ``n`` into ``n + 1``.

The caller (:meth:`unistore_sql._db.Database.prepare`) runs the steps in one
write transaction, after taking the schema lock (a PostgreSQL advisory lock;
SQLite's write lock) and reading the version again, so processes opening an
old database together upgrade it once, and a failed step leaves it as it was:
both databases roll back schema changes with the transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from sqlalchemy import Column, Index, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from unistore_sql._schema import Tables

__all__ = ["UPGRADES"]


def _index(table: Table, name: str) -> Index:
    return next(ix for ix in table.indexes if ix.name == name)


async def _create_index(conn: AsyncConnection, index: Index) -> None:
    await conn.run_sync(lambda sync: index.create(sync, checkfirst=True))


async def _add_column(
    conn: AsyncConnection, table: Table, column: Column[object], default: str = ""
) -> None:
    kind = column.type.compile(dialect=conn.dialect)
    await conn.exec_driver_sql(
        f'ALTER TABLE "{table.name}" ADD COLUMN {column.name} {kind}{default}'
    )


async def _upgrade_1_to_2(conn: AsyncConnection, tables: Tables) -> None:
    sessions = tables.sessions.name
    await conn.exec_driver_sql(
        f'ALTER TABLE "{sessions}" ADD COLUMN own_start INTEGER NOT NULL DEFAULT 0'
    )
    await conn.exec_driver_sql(
        f'UPDATE "{sessions}" SET own_start = fork_point '
        "WHERE base_key IS NOT NULL AND fork_point IS NOT NULL"
    )
    await _create_index(conn, _index(tables.slots, f"ix_{tables.prefix}slots_expires"))


async def _upgrade_2_to_3(conn: AsyncConnection, tables: Tables) -> None:
    p, s = tables.prefix, tables.sessions
    # Every existing session is in the default scope: its key (the digest of
    # its id alone) and its message rows stay as they are, and the empty
    # scope key is the default scope's. Adding a column with a constant
    # default rewrites no row on either database.
    empty = " NOT NULL DEFAULT " + ("X''" if conn.dialect.name == "sqlite" else "''::bytea")
    await _add_column(conn, s, s.c.scope_key, empty)
    for name in ("scope", "ttl", "ttl_us", "expires_us"):
        await _add_column(conn, s, s.c[name])
    await _create_index(conn, _index(s, f"ix_{p}sessions_scope"))
    await _create_index(conn, _index(s, f"ix_{p}sessions_expires"))
    # Listings now go through the scope index, which leads with the same order.
    await conn.exec_driver_sql(f'DROP INDEX IF EXISTS "ix_{p}sessions_updated"')
    await conn.run_sync(lambda sync: tables.tokens.create(sync, checkfirst=True))
    await _create_index(conn, _index(tables.slots, f"ix_{p}slots_prefix"))


#: ``UPGRADES[n]`` turns schema version ``n`` into ``n + 1``.
UPGRADES: Final[dict[int, Callable[[AsyncConnection, Tables], Awaitable[None]]]] = {
    1: _upgrade_1_to_2,
    2: _upgrade_2_to_3,
}
