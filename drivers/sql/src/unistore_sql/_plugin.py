"""Entry point of the sql driver: ``sqlite://`` and ``postgresql://`` URLs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from unistore import StoreURL, hookimpl
from unistore.protocols import KEYWORD_ONLY, Driver, Option, Store
from unistore.sdk import CLOCK_OPTION, CREATE_OPTION
from unistore_sql._schema import check_prefix

__all__ = ["DRIVER", "OPTIONS", "unistore_driver"]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _bool(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError("expected true or false")


def _check_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected a bool, got {type(value).__name__}")
    return value


def _int_at_least(low: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, str):
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected an int, got {type(value).__name__}")
        if value < low:
            raise ValueError(f"must be at least {low}")
        return value

    return check


def _seconds(*, zero: bool) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, str):
            value = float(value.strip())
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected seconds as a number, got {type(value).__name__}")
        if not (value >= 0 if zero else value > 0) or value != value or value == float("inf"):
            raise ValueError("must be a finite number of seconds" + (" >= 0" if zero else " > 0"))
        return float(value)

    return check


def _engine(value: Any) -> Any:
    from sqlalchemy.ext.asyncio import AsyncEngine

    if not isinstance(value, AsyncEngine):
        raise TypeError(f"expected a SQLAlchemy AsyncEngine, got {type(value).__name__}")
    return value


def _ssl(text: Any) -> str:
    modes = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
    if not isinstance(text, str) or text not in modes:
        raise ValueError(f"expected one of {', '.join(modes)}")
    return text


#: PostgreSQL keeps the first 63 bytes of an application_name (NAMEDATALEN - 1).
_APPLICATION_NAME_MAX = 63


def _application_name(text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError(f"expected a str, got {type(text).__name__}")
    # The server turns anything but printable ASCII into '?' and cuts the
    # rest; refusing it keeps the name in pg_stat_activity what was given.
    if not text or len(text) > _APPLICATION_NAME_MAX or not (text.isascii() and text.isprintable()):
        raise ValueError(f"expected 1 to {_APPLICATION_NAME_MAX} printable ASCII characters")
    return text


_COUNT = _int_at_least(1)
_OVERFLOW = _int_at_least(0)
_POSITIVE = _seconds(zero=False)
_NON_NEGATIVE = _seconds(zero=True)

OPTIONS: tuple[Option, ...] = (
    Option(
        "table_prefix",
        check_prefix,
        "unistore_",
        "prefix of the table names (a-z, 0-9, _), so several stores can share a database",
    ),
    Option(
        "create_schema",
        _bool,
        True,
        "create or upgrade the tables on first use; off = fail unless they are current",
        check=_check_bool,
    ),
    Option("pool_size", _COUNT, 5, "connections kept open in the pool", check=_COUNT),
    Option("max_overflow", _OVERFLOW, 10, "connections beyond pool_size", check=_OVERFLOW),
    Option("pool_timeout", _POSITIVE, 30.0, "seconds to wait for a connection", check=_POSITIVE),
    Option(
        "pool_pre_ping",
        _bool,
        True,
        "PostgreSQL: test pooled connections before use (survives server restarts)",
        check=_check_bool,
    ),
    Option(
        "busy_timeout",
        _NON_NEGATIVE,
        30.0,
        "SQLite: seconds a writer waits for another process's lock",
        check=_NON_NEGATIVE,
    ),
    Option(
        "connect_timeout",
        _POSITIVE,
        10.0,
        "PostgreSQL: seconds to open a connection",
        check=_POSITIVE,
    ),
    Option("ssl", _ssl, None, "PostgreSQL: TLS mode (disable ... verify-full)", check=_ssl),
    Option(
        "application_name",
        _application_name,
        None,
        "PostgreSQL: the name the connections report (pg_stat_activity.application_name)",
        check=_application_name,
    ),
    Option(
        "pgbouncer",
        _bool,
        False,
        "PostgreSQL: behind pgbouncer in transaction pool mode (no prepared statements kept)",
        check=_check_bool,
    ),
    Option(
        "sweep_interval",
        _NON_NEGATIVE,
        60.0,
        "seconds between bounded sweeps of expired slots (0 = only store.sweep())",
        check=_NON_NEGATIVE,
    ),
    Option(
        "engine",
        KEYWORD_ONLY,
        None,
        "an existing SQLAlchemy AsyncEngine to use (the store does not dispose it)",
        check=_engine,
    ),
    CLOCK_OPTION,
    CREATE_OPTION,
)


def _open(url: StoreURL, options: Mapping[str, Any]) -> Store:
    from unistore_sql._store import SQLStore

    return SQLStore(url, options)


#: The one declaration of the URLs this driver serves.
DRIVER = Driver(
    name="sql",
    open=_open,
    options=OPTIONS,
    distribution="unistore-sql",
    schemes=("postgresql", "sqlite"),
    aliases={"postgres": "postgresql", "sqlite3": "sqlite"},
)


@hookimpl
def unistore_driver() -> Driver:
    """Provide the sql driver; the registry matches its declared schemes and aliases."""
    return DRIVER
