"""The check of a pooled PostgreSQL connection before use (the ``pool_pre_ping`` option).

SQLAlchemy's own pre-ping costs a round trip on every checkout, and three
with asyncpg outside a transaction (``BEGIN``, the ping, ``ROLLBACK``): more
than a primary-key read itself. This check costs none on the common path:

* a connection the server closed (a restart, ``pg_terminate_backend``) is
  known to the client without asking: asyncpg reads its socket on the event
  loop and marks the connection closed; for psycopg, whose socket nobody
  reads between calls, data waiting on an idle connection (the server's
  goodbye, or the end of the stream) shows with a poll of the descriptor;
* a connection idle for over :data:`IDLE_PING` seconds may have died
  silently (a middlebox dropped it): it gets a real ping;
* a connection made for this checkout is not checked at all.

A connection that fails the check is replaced by the pool before the
operation runs (SQLAlchemy's ``DisconnectionError`` protocol), so a restarted
server costs no error, not even for a write that must not be repeated.
"""

from __future__ import annotations

import select
import time
from typing import Any, Final

from sqlalchemy import event, exc
from sqlalchemy.engine import Dialect, Engine

__all__ = ["IDLE_PING", "watch_connections"]

#: Seconds a pooled connection may stay idle before its next use pings it.
IDLE_PING: Final = 5.0
#: Where a connection's pool entry keeps when it was last returned (cleared
#: by SQLAlchemy when the connection is replaced: a new one has no entry).
_RETURNED: Final = "unistore_returned_at"


def watch_connections(engine: Engine) -> None:
    """Check each connection ``engine``'s pool hands out, replacing dead ones first."""
    dialect = engine.dialect

    def returned(dbapi_connection: Any, entry: Any) -> None:
        if dbapi_connection is not None:  # None: invalidated, and replaced on next use
            entry.info[_RETURNED] = time.monotonic()

    def handed_out(dbapi_connection: Any, entry: Any, proxy: Any) -> None:
        since = entry.info.get(_RETURNED)
        if since is None:
            return  # made for this checkout
        if _closed(dbapi_connection.driver_connection) or time.monotonic() - since > IDLE_PING:
            _ping(dialect, dbapi_connection)

    event.listen(engine, "checkin", returned)
    event.listen(engine, "checkout", handed_out)


def _closed(raw: Any) -> bool:
    """Whether the client already knows, or can see without a round trip, that ``raw`` ended."""
    is_closed = getattr(raw, "is_closed", None)
    if is_closed is not None:  # asyncpg
        return bool(is_closed())
    if raw.closed:  # psycopg
        return True
    try:
        ready, _, _ = select.select([raw.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    # Nothing was asked: anything to read is the server ending the session
    # (or a notice, which the ping then consumes).
    return bool(ready)


def _ping(dialect: Dialect, dbapi_connection: Any) -> None:
    """Ping the connection; a failed ping makes the pool replace it."""
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as error:
        raise exc.DisconnectionError("the pooled connection failed its ping") from error
