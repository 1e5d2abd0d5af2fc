"""The one place where SQLAlchemy, sqlite3, asyncpg and psycopg errors become unistore's.

:data:`ERRORS` is the store's :class:`~unistore.sdk.ErrorTable`: the SDK maps
every primitive's failure through it. Messages give a reason plus the error's
class and code, never the database's own text: PostgreSQL and SQLite quote
offending values in theirs, and stored values must not reach messages or logs.
:func:`retry_kind` tells the retry loop which failures may run again.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from sqlalchemy import exc as sa_exc

from unistore.errors import (
    AuthenticationError,
    CapacityError,
    ConfigurationError,
    ConflictError,
    CorruptionError,
    DriverError,
    StoreTimeoutError,
    StoreUnavailableError,
    UnistoreError,
    ValidationError,
)
from unistore.sdk import ErrorRule, ErrorTable

__all__ = ["ERRORS", "MAPPED", "Retry", "mark_uncertain", "retry_kind"]

#: Exceptions the table understands; anything else propagates untouched.
#: (``asyncio.TimeoutError`` is the built-in ``TimeoutError``, an ``OSError``.)
MAPPED: tuple[type[BaseException], ...] = (sa_exc.SQLAlchemyError, OSError)


class Retry(enum.Enum):
    """Whether an operation that failed this way may run again."""

    NO = "no"
    #: SQLite's lock is held by another connection: nothing was written.
    BUSY = "busy"
    #: PostgreSQL rolled the transaction back (serialization, deadlock).
    ROLLED_BACK = "rolled_back"
    #: The connection broke; whether a write landed is unknown.
    DISCONNECTED = "disconnected"


_SQLITE_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")


def _orig(exc: BaseException) -> BaseException:
    orig = getattr(exc, "orig", None)
    return orig if isinstance(orig, BaseException) else exc


def _sqlstate(exc: BaseException) -> str | None:
    err: BaseException | None = _orig(exc)
    while err is not None:
        code = getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)
        if isinstance(code, str) and code:
            return code
        err = err.__cause__
    return None


def _sqlite_name(exc: BaseException) -> str | None:
    name = getattr(_orig(exc), "sqlite_errorname", None)
    return name if isinstance(name, str) else None


def _sqlite_family(exc: BaseException) -> str | None:
    name = _sqlite_name(exc)
    return None if name is None else "_".join(name.split("_", 2)[:2])


def _is_sqlite_busy(exc: BaseException) -> bool:
    name = _sqlite_name(exc)
    if name is not None:
        return name.startswith(_SQLITE_BUSY)
    text = str(_orig(exc)).lower()
    return "database is locked" in text or "database table is locked" in text


_UNCERTAIN = "_unistore_uncertain_write"


def mark_uncertain(exc: BaseException) -> None:
    """Note that ``exc`` broke a write that is not repeated: it may have been applied."""
    setattr(exc, _UNCERTAIN, True)


def _uncertain(exc: BaseException) -> bool:
    return getattr(exc, _UNCERTAIN, False) is True


def retry_kind(exc: BaseException) -> Retry:
    """Classify a failure for the retry loop."""
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return Retry.DISCONNECTED
        if _is_sqlite_busy(exc):
            return Retry.BUSY
        state = _sqlstate(exc)
        if state in ("40001", "40P01"):
            return Retry.ROLLED_BACK
        if state is not None and (state.startswith("08") or state in ("57P01", "57P02", "57P03")):
            return Retry.DISCONNECTED
    if isinstance(exc, ConnectionError):
        return Retry.DISCONNECTED
    return Retry.NO


def _describe(exc: BaseException) -> str:
    orig = _orig(exc)
    parts = [type(orig).__name__]
    state = _sqlstate(exc)
    if state:
        parts.append(f"SQLSTATE {state}")
    name = _sqlite_name(exc)
    if name:
        parts.append(name)
    if isinstance(orig, OSError) and orig.strerror:
        parts.append(orig.strerror)
    return ", ".join(parts)


# -- predicates of the table's rows ---------------------------------------------------


def _sqlite(*families: str) -> Callable[[BaseException], bool]:
    return lambda exc: _sqlite_family(exc) in families


def _state(*prefixes: str) -> Callable[[BaseException], bool]:
    def test(exc: BaseException) -> bool:
        state = _sqlstate(exc)
        return state is not None and state.startswith(prefixes)

    return test


def _no_state(cls: type[BaseException], *phrases: str) -> Callable[[BaseException], bool]:
    # psycopg reports connection failures without a SQLSTATE; only the
    # server's text tells them apart (it is inspected, never shown).
    def test(exc: BaseException) -> bool:
        if not isinstance(exc, cls) or _sqlstate(exc) is not None:
            return False
        text = str(_orig(exc)).lower()
        return not phrases or any(all(w in text for w in p.split("&")) for p in phrases)

    return test


def _no_table(exc: BaseException) -> bool:
    return _sqlite_name(exc) is not None and "no such table" in str(_orig(exc))


def _invalidated(exc: BaseException) -> bool:
    return isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated


def _row(
    error: type[UnistoreError],
    reason: str,
    when: Callable[[BaseException], bool] | None = None,
    catch: type[BaseException] | tuple[type[BaseException], ...] = MAPPED,
) -> ErrorRule:
    return ErrorRule(catch, error, lambda exc: f"{reason} ({_describe(exc)})", when)


_UNUSABLE = "the database file cannot be used"
_REFUSED = "the server refused the credentials"
_COLLIDED = "a concurrent write collided"

#: The sql driver's error table, most specific row first.
ERRORS = ErrorTable(
    # Said first: whatever broke the connection, the caller must know that
    # repeating the write (without an idempotency token) may apply it twice.
    _row(
        StoreUnavailableError,
        "the connection broke during a write, which may have been applied",
        _uncertain,
    ),
    # SQLAlchemy's TimeoutError is the pool's: every connection stayed in use.
    _row(
        StoreTimeoutError,
        "no pooled connection came free within pool_timeout "
        "(pool_size + max_overflow connections all in use)",
        catch=sa_exc.TimeoutError,
    ),
    _row(StoreTimeoutError, "timed out", catch=TimeoutError),
    _row(StoreTimeoutError, "the database stayed locked longer than busy_timeout", _is_sqlite_busy),
    _row(CapacityError, _UNUSABLE, _sqlite("SQLITE_FULL", "SQLITE_NOMEM")),
    _row(CorruptionError, _UNUSABLE, _sqlite("SQLITE_CORRUPT", "SQLITE_NOTADB")),
    _row(
        StoreUnavailableError,
        _UNUSABLE,
        _sqlite("SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_READONLY", "SQLITE_IOERR"),
    ),
    _row(AuthenticationError, _UNUSABLE, _sqlite("SQLITE_AUTH")),
    _row(ValidationError, "a value is too large for SQLite", _sqlite("SQLITE_TOOBIG")),
    _row(ConflictError, _COLLIDED, _sqlite("SQLITE_CONSTRAINT")),
    _row(ConfigurationError, "the store's tables are missing", _no_table),
    _row(AuthenticationError, _REFUSED, _state("28")),
    _row(StoreUnavailableError, "the database does not exist", _state("3D000")),
    _row(StoreUnavailableError, "the server is unreachable or shutting down", _state("08", "57P")),
    _row(StoreTimeoutError, "the statement was cancelled (statement timeout)", _state("57014")),
    _row(CapacityError, "the server is out of resources", _state("53")),
    _row(ConflictError, "a concurrent transaction won", _state("40001", "40P01")),
    _row(ConflictError, _COLLIDED, _state("23")),
    _row(ValidationError, "the database rejected a value", _state("22", "54")),
    _row(ConfigurationError, "the store's tables are missing", _state("42P01")),
    # A prepared statement missing (26000) or already taken (42P05): the
    # session changed under the client, which is what a pooler in
    # transaction mode does; the driver itself never names a statement.
    _row(
        ConfigurationError,
        "a prepared statement was lost between round trips, as behind pgbouncer in "
        "transaction pool mode; open the store with pgbouncer=true",
        _state("26000", "42P05"),
    ),
    _row(CorruptionError, "the server reports corrupted data", _state("XX")),
    # Refused by the client library before reaching the server (psycopg will
    # not send a NUL inside text): the value, not the database.
    _row(ValidationError, "the database client rejected a value", _no_state(sa_exc.DataError)),
    _row(
        AuthenticationError,
        _REFUSED,
        _no_state(
            sa_exc.OperationalError,
            "authentication failed",
            "no pg_hba.conf entry",
            "role&does not exist",
        ),
    ),
    _row(
        StoreUnavailableError,
        "the database does not exist",
        _no_state(sa_exc.OperationalError, "database&does not exist"),
    ),
    _row(
        StoreTimeoutError,
        "timed out connecting",
        _no_state(sa_exc.OperationalError, "timeout expired"),
    ),
    _row(StoreUnavailableError, "the connection to the database was lost", _invalidated),
    _row(StoreUnavailableError, "cannot reach the database", catch=OSError),
    _row(
        StoreUnavailableError,
        "the database is unavailable",
        catch=(sa_exc.InterfaceError, sa_exc.OperationalError),
    ),
    fallback=_row(DriverError, "the database failed"),
)
