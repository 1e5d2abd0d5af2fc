"""The tables of one store (named after its table prefix) and their versions.

Schema history (the number is kept in the ``<prefix>meta`` table):

* 1 - first layout: no ``own_start`` column on sessions (a fork's own
  messages always began at its fork point) and no index on
  ``slots.expires_at``.
* 2 - ``sessions.own_start`` (edits may move where a fork's own messages
  begin, independently of the recorded fork point) and the ``expires_at``
  index that keeps the expiry sweep bounded.

Each step in :data:`UPGRADES` turns version ``n`` into ``n + 1`` inside one
transaction.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection

#: The schema version this release writes and understands.
SCHEMA_VERSION: Final = 2

#: ``slots.kind`` values.
KIND_SCALAR: Final = 0
KIND_HASH: Final = 1

_PREFIX_RE = re.compile(r"[a-z_][a-z0-9_]{0,39}")
#: The ``meta`` row holding the schema version.
VERSION_KEY: Final = "schema_version"


def check_prefix(prefix: str) -> str:
    """Validate a table prefix: lower-case letters, digits and ``_``, at most 40.

    Raises:
        ValueError: The prefix is not a plain identifier.
    """
    if not isinstance(prefix, str) or _PREFIX_RE.fullmatch(prefix) is None:
        raise ValueError(
            "table_prefix must be 1-40 characters of a-z, 0-9 and '_', not starting with a digit"
        )
    return prefix


@dataclass(frozen=True)
class Tables:
    """The SQLAlchemy Core tables of one store."""

    prefix: str
    metadata: MetaData
    meta: Table
    slots: Table
    fields: Table
    sessions: Table
    messages: Table


def build_tables(prefix: str) -> Tables:
    """Return the current schema's tables for ``prefix``."""
    check_prefix(prefix)
    md = MetaData()
    meta = Table(
        f"{prefix}meta",
        md,
        Column("key", String(64), primary_key=True),
        Column("value", String(255), nullable=False),
    )
    slots = Table(
        f"{prefix}slots",
        md,
        Column("ns_key", LargeBinary(32), primary_key=True),
        Column("slot_key", LargeBinary(32), primary_key=True),
        Column("ns", LargeBinary, nullable=False),
        Column("slot", LargeBinary, nullable=False),
        Column("kind", SmallInteger, nullable=False),
        # A scalar is held in ``num`` when it is a canonical 64-bit integer
        # (so that incr is one arithmetic statement), otherwise in ``value``.
        Column("value", LargeBinary, nullable=True),
        Column("num", BigInteger, nullable=True),
        # Generation of the slot's rows in ``fields``; a new hash gets a new one.
        Column("gen", BigInteger, nullable=True),
        Column("version", BigInteger, nullable=False),
        Column("expires_at", Double, nullable=False),
        Index(f"ix_{prefix}slots_expires", "expires_at"),
    )
    fields = Table(
        f"{prefix}fields",
        md,
        Column("ns_key", LargeBinary(32), primary_key=True),
        Column("slot_key", LargeBinary(32), primary_key=True),
        Column("field_key", LargeBinary(32), primary_key=True),
        Column("gen", BigInteger, nullable=False),
        Column("field", LargeBinary, nullable=False),
        Column("value", LargeBinary, nullable=False),
    )
    sessions = Table(
        f"{prefix}sessions",
        md,
        Column("sid_key", LargeBinary(32), primary_key=True),
        Column("sid", LargeBinary, nullable=False),
        Column("label", LargeBinary, nullable=True),
        Column("parent_id", LargeBinary, nullable=True),
        Column("fork_point", Integer, nullable=True),
        # Storage, not lineage: positions below own_start come from base_key.
        Column("base_key", LargeBinary(32), nullable=True),
        Column("own_start", Integer, nullable=False, server_default=text("0")),
        Column("metadata_json", Text, nullable=False),
        Column("created_us", BigInteger, nullable=False),
        Column("updated_us", BigInteger, nullable=False),
        Column("message_count", Integer, nullable=False),
        Index(f"ix_{prefix}sessions_updated", "updated_us"),
        Index(f"ix_{prefix}sessions_base", "base_key"),
    )
    messages = Table(
        f"{prefix}messages",
        md,
        Column("sid_key", LargeBinary(32), primary_key=True),
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("body", Text, nullable=False),
    )
    return Tables(prefix, md, meta, slots, fields, sessions, messages)


async def _upgrade_1_to_2(conn: AsyncConnection, tables: Tables) -> None:
    sessions = tables.sessions.name
    await conn.exec_driver_sql(
        f'ALTER TABLE "{sessions}" ADD COLUMN own_start INTEGER NOT NULL DEFAULT 0'
    )
    await conn.exec_driver_sql(
        f'UPDATE "{sessions}" SET own_start = fork_point '
        "WHERE base_key IS NOT NULL AND fork_point IS NOT NULL"
    )
    index = next(ix for ix in tables.slots.indexes if ix.name == f"ix_{tables.prefix}slots_expires")
    await conn.run_sync(lambda sync: index.create(sync, checkfirst=True))


#: ``UPGRADES[n]`` turns schema version ``n`` into ``n + 1``.
UPGRADES: Final[dict[int, Callable[[AsyncConnection, Tables], Awaitable[None]]]] = {
    1: _upgrade_1_to_2,
}
