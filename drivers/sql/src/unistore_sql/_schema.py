"""The tables of one store (named after its table prefix) and their versions.

Schema history (the number is kept in the ``<prefix>meta`` table):

* 1 - first layout: no ``own_start`` column on sessions (a fork's own
  messages always began at its fork point) and no index on
  ``slots.expires_at``.
* 2 - ``sessions.own_start`` (edits may move where a fork's own messages
  begin, independently of the recorded fork point) and the ``expires_at``
  index that keeps the expiry sweep bounded.
* 3 - session scopes (``scope_key``, ``scope``) listed through the
  ``(scope_key, updated_us)`` index, session retention (``ttl``, ``ttl_us``,
  ``expires_us`` and its index), the ``tokens`` table of idempotent writes,
  and the ``(ns_key, slot prefix)`` index of prefix listings.

:mod:`unistore_sql._upgrades` turns each version into the next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

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
    func,
    literal_column,
    text,
)

#: The schema version this release writes and understands.
SCHEMA_VERSION: Final = 3

#: ``slots.kind`` values.
KIND_SCALAR: Final = 0
KIND_HASH: Final = 1

#: Leading bytes of a slot name held by the prefix index. A btree entry of
#: PostgreSQL holds about 2.7 KB, and names may be longer; a longer prefix is
#: looked up by its first this-many bytes and filtered exactly afterwards.
PREFIX_INDEXED: Final = 1024

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


def slot_head(slot: Any) -> Any:
    """Return the indexed leading bytes of the ``slot`` column.

    The bounds are literal SQL, not parameters: a query matches an
    expression index only when it spells the expression exactly as the
    index does, on SQLite and PostgreSQL alike.
    """
    return func.substr(slot, literal_column("1"), literal_column(str(PREFIX_INDEXED)))


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
    tokens: Table


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
        # Seconds since the epoch; a slot without expiry holds
        # ``unistore_sql._expiry.NEVER``, so every comparison stays plain.
        Column("expires_at", Double, nullable=False),
        Index(f"ix_{prefix}slots_expires", "expires_at"),
    )
    # ``slot`` holds bytes: compared byte by byte (UTF-8 order is code point
    # order), so no text collation can reorder or widen a prefix range.
    Index(f"ix_{prefix}slots_prefix", slots.c.ns_key, slot_head(slots.c.slot))
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
        # The digest of (scope, id): see ``unistore_sql._keys.session_key``.
        Column("sid_key", LargeBinary(32), primary_key=True),
        Column("sid", LargeBinary, nullable=False),
        # Empty for the default scope, else the digest of the scope.
        Column("scope_key", LargeBinary(32), nullable=False),
        # The scope's exact bytes; NULL for the default scope.
        Column("scope", LargeBinary, nullable=True),
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
        # Retention: the ttl as given, in whole microseconds, and the
        # deadline it gives the last write; all NULL for a lasting session.
        Column("ttl", Double, nullable=True),
        Column("ttl_us", BigInteger, nullable=True),
        Column("expires_us", BigInteger, nullable=True),
        Index(f"ix_{prefix}sessions_scope", "scope_key", "updated_us"),
        Index(f"ix_{prefix}sessions_base", "base_key"),
        Index(
            f"ix_{prefix}sessions_expires",
            "expires_us",
            sqlite_where=text("expires_us IS NOT NULL"),
            postgresql_where=text("expires_us IS NOT NULL"),
        ),
    )
    messages = Table(
        f"{prefix}messages",
        md,
        Column("sid_key", LargeBinary(32), primary_key=True),
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("body", Text, nullable=False),
    )
    tokens = Table(
        f"{prefix}tokens",
        md,
        # Insertion order (a rowid on SQLite, a sequence on PostgreSQL): the
        # newest tokens of a session are kept, the oldest pruned.
        Column(
            "n",
            BigInteger().with_variant(Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        Column("sid_key", LargeBinary(32), nullable=False),
        Column("token", LargeBinary, nullable=False),
        Column("length", Integer, nullable=False),
        Index(f"ux_{prefix}tokens_token", "sid_key", "token", unique=True),
        Index(f"ix_{prefix}tokens_order", "sid_key", "n"),
    )
    return Tables(prefix, md, meta, slots, fields, sessions, messages, tokens)
