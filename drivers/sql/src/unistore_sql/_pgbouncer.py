"""Running PostgreSQL through pgbouncer in transaction pool mode (``pgbouncer=true``).

In transaction pool mode pgbouncer lends a server connection to a client for
one transaction only, or outside a transaction for one round trip: the next
one may reach another server connection, and a third client may meanwhile be
lent the first. Whatever a client leaves on a server session is therefore
lost, or found by someone else. For the client libraries that is prepared
statements: asyncpg and SQLAlchemy's asyncpg dialect prepare and cache every
statement under a per-connection counter name (``__asyncpg_stmt_1__``, the
same on every connection), psycopg prepares a statement once it ran five
times.

The option turns every statement cache off and has asyncpg use the unnamed
statement only. With its cache off asyncpg sends an unnamed statement's
parse again in the same round trip as its bind and execute, so no statement
outlives its round trip: none can be missing, clash or pile up on a server
session. (Unique names per statement, the other known remedy, still need a
transaction around asyncpg's separate prepare and execute round trips, and
leave the last statement of a unit behind on its server session: asyncpg
closes it only with its next statement, which may reach another one.)
psycopg never prepares with it; it sends each statement as one round trip.

The driver keeps nothing else on a session: its only lock is
``pg_advisory_xact_lock`` (released at commit), and it issues no session
``SET``, ``LISTEN`` or temporary table. Detection is not attempted: pgbouncer
answers its ``SHOW`` commands on its admin console only, and on an ordinary
connection it looks like the server.
"""

from __future__ import annotations

from typing import Any

__all__ = ["pgbouncer_connect_args"]


def _unnamed_statement() -> str:
    # asyncpg takes a name given as a string as is; "" is PostgreSQL's
    # unnamed statement, which the next parse on that session replaces.
    return ""


def pgbouncer_connect_args(driver: str) -> dict[str, Any]:
    """The connect arguments that keep ``driver``'s prepared statements off server sessions.

    Args:
        driver: ``"asyncpg"`` or ``"psycopg"``.
    """
    if driver == "asyncpg":
        return {
            # asyncpg's own statement cache; at 0 it also re-parses an
            # unnamed statement together with its execution.
            "statement_cache_size": 0,
            # SQLAlchemy's cache of asyncpg prepared statements.
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": _unnamed_statement,
        }
    # psycopg: prepare nothing, whatever the number of executions.
    return {"prepare_threshold": None}
