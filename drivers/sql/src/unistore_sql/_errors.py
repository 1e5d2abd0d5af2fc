"""The one place where SQLAlchemy, sqlite3, asyncpg and psycopg errors become unistore's.

Messages carry the redacted store URL, the failing operation and the error's
class and code, never the database's own text: PostgreSQL and SQLite quote
offending values in theirs, and stored values must not reach messages or logs.
"""

from __future__ import annotations

import asyncio
import enum

from sqlalchemy import exc as sa_exc

from unistore._url import StoreURL
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

#: Exceptions the mapper understands; anything else propagates untouched.
MAPPED: tuple[type[BaseException], ...] = (
    sa_exc.SQLAlchemyError,
    OSError,
    asyncio.TimeoutError,
)


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
_SQLITE_MAP: dict[str, type[DriverError]] = {
    "SQLITE_FULL": CapacityError,
    "SQLITE_NOMEM": CapacityError,
    "SQLITE_CORRUPT": CorruptionError,
    "SQLITE_NOTADB": CorruptionError,
    "SQLITE_CANTOPEN": StoreUnavailableError,
    "SQLITE_PERM": StoreUnavailableError,
    "SQLITE_READONLY": StoreUnavailableError,
    "SQLITE_IOERR": StoreUnavailableError,
    "SQLITE_AUTH": AuthenticationError,
}


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


def _is_sqlite_busy(exc: BaseException) -> bool:
    name = _sqlite_name(exc)
    if name is not None:
        return name.startswith(_SQLITE_BUSY)
    text = str(_orig(exc)).lower()
    return "database is locked" in text or "database table is locked" in text


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


def _class_for(exc: BaseException) -> tuple[type[UnistoreError], str]:
    if isinstance(exc, sa_exc.TimeoutError | asyncio.TimeoutError | TimeoutError):
        return StoreTimeoutError, "timed out"
    if _is_sqlite_busy(exc):
        return StoreTimeoutError, "the database stayed locked longer than busy_timeout"
    name = _sqlite_name(exc)
    if name is not None:
        base = name.split("_", 2)
        family = "_".join(base[:2])
        if family in _SQLITE_MAP:
            return _SQLITE_MAP[family], "the database file cannot be used"
        if family == "SQLITE_TOOBIG":
            return ValidationError, "a value is too large for SQLite"
        if family == "SQLITE_CONSTRAINT":
            return ConflictError, "a concurrent write collided"
        if "no such table" in str(_orig(exc)):
            return ConfigurationError, "the store's tables are missing"
    state = _sqlstate(exc)
    if state is not None:
        if state.startswith("28"):
            return AuthenticationError, "the server refused the credentials"
        if state == "3D000":
            return StoreUnavailableError, "the database does not exist"
        if state.startswith(("08", "57P")):
            return StoreUnavailableError, "the server is unreachable or shutting down"
        if state == "57014":
            return StoreTimeoutError, "the statement was cancelled (statement timeout)"
        if state.startswith("53"):
            return CapacityError, "the server is out of resources"
        if state in ("40001", "40P01"):
            return ConflictError, "a concurrent transaction won"
        if state.startswith("23"):
            return ConflictError, "a concurrent write collided"
        if state.startswith(("22", "54")):
            return ValidationError, "the database rejected a value"
        if state == "42P01":
            return ConfigurationError, "the store's tables are missing"
        if state.startswith("XX"):
            return CorruptionError, "the server reports corrupted data"
    if state is None and isinstance(exc, sa_exc.DataError):
        # Refused by the client library before reaching the server (psycopg
        # will not send a NUL inside text): the value, not the database.
        return ValidationError, "the database client rejected a value"
    if state is None and isinstance(exc, sa_exc.OperationalError):
        # psycopg reports connection failures without a SQLSTATE; only the
        # server's text tells them apart (it is inspected, never shown).
        found = _connect_failure(str(_orig(exc)).lower())
        if found is not None:
            return found
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return StoreUnavailableError, "the connection to the database was lost"
    if isinstance(exc, OSError):
        return StoreUnavailableError, "cannot reach the database"
    if isinstance(exc, sa_exc.InterfaceError | sa_exc.OperationalError):
        return StoreUnavailableError, "the database is unavailable"
    return DriverError, "the database failed"


def _connect_failure(text: str) -> tuple[type[UnistoreError], str] | None:
    if "authentication failed" in text or "no pg_hba.conf entry" in text:
        return AuthenticationError, "the server refused the credentials"
    if "role" in text and "does not exist" in text:
        return AuthenticationError, "the server refused the credentials"
    if "database" in text and "does not exist" in text:
        return StoreUnavailableError, "the database does not exist"
    if "timeout expired" in text:
        return StoreTimeoutError, "timed out connecting"
    return None


def map_error(exc: BaseException, url: StoreURL, operation: str) -> UnistoreError:
    """Return the unistore error for ``exc``; raise it ``from exc``."""
    cls, reason = _class_for(exc)
    message = f"{operation} failed on {url}: {reason} ({_describe(exc)})"
    return cls(message)
