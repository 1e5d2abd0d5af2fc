"""The redis driver's error table: redis-py exceptions and the unistore errors they become.

The SDK applies it around every primitive (the message follows the store's
redacted URL; the password is scrubbed from it). Rows are tried in order.
"""

from __future__ import annotations

import redis.exceptions as rex

from unistore.errors import (
    AuthenticationError,
    CapacityError,
    DriverError,
    SlotKindError,
    StoreTimeoutError,
    StoreUnavailableError,
    ValidationError,
)
from unistore.sdk import ErrorRule, ErrorTable
from unistore_redis._once import UncertainWriteError

__all__ = ["ERRORS"]

_REFUSED = "the server refused the credentials"
_OOM = "the server is out of memory (maxmemory reached)"


ERRORS = ErrorTable(
    # First: it is a timeout whose message must say the write may have landed.
    ErrorRule(UncertainWriteError, StoreTimeoutError, str),
    ErrorRule(
        (rex.AuthenticationError, rex.AuthorizationError, rex.NoPermissionError),
        AuthenticationError,
        lambda exc: f"{_REFUSED} ({exc})",
    ),
    ErrorRule(
        (rex.TimeoutError, TimeoutError), StoreTimeoutError, "the server did not answer in time"
    ),
    ErrorRule(
        rex.ConnectionError,
        StoreTimeoutError,
        # redis-py's blocking pool gave up waiting: every pooled connection is busy.
        "no pooled connection became free within pool_timeout "
        "(raise max_connections, or hold transactions for less time)",
        when=lambda exc: str(exc).startswith("No connection available"),
    ),
    ErrorRule(rex.BusyLoadingError, StoreUnavailableError, "the server is loading its data set"),
    ErrorRule(
        (rex.ConnectionError, ConnectionError),
        StoreUnavailableError,
        lambda exc: f"cannot reach the server ({exc})",
    ),
    ErrorRule(rex.OutOfMemoryError, CapacityError, _OOM),
    ErrorRule(rex.ReadOnlyError, StoreUnavailableError, "the server is a read-only replica"),
    ErrorRule(
        rex.ResponseError,
        SlotKindError,
        "the slot holds another kind of value",
        when=lambda exc: str(exc).startswith("WRONGTYPE"),
    ),
    # INCRBY on a value that is not a canonical decimal int64.
    ErrorRule(
        rex.ResponseError,
        SlotKindError,
        "the slot holds a value that is not an integer",
        when=lambda exc: "not an integer" in str(exc),
    ),
    # INCRBY past the int64 range: Redis changes nothing.
    ErrorRule(
        rex.ResponseError,
        ValidationError,
        "incr would overflow a 64-bit integer",
        when=lambda exc: "would overflow" in str(exc),
    ),
    ErrorRule(
        rex.ResponseError,
        AuthenticationError,
        _REFUSED,
        when=lambda exc: str(exc).startswith(("NOAUTH", "WRONGPASS")),
    ),
    ErrorRule(rex.ResponseError, CapacityError, _OOM, when=lambda exc: str(exc).startswith("OOM")),
    fallback=ErrorRule(rex.RedisError, DriverError, lambda exc: f"{type(exc).__name__}: {exc}"),
)
