"""The one place where redis-py exceptions become unistore errors."""

from __future__ import annotations

import redis.exceptions as rex

from unistore._url import StoreURL
from unistore.errors import (
    AuthenticationError,
    CapacityError,
    DriverError,
    SlotKindError,
    StoreTimeoutError,
    StoreUnavailableError,
    UnistoreError,
)

__all__ = ["map_error"]


def map_error(exc: BaseException, url: StoreURL) -> UnistoreError:
    """Return the unistore error for a redis-py exception (raise it ``from exc``).

    The message names the redacted URL and the kind of failure, never a value.
    """
    where = f"redis store {url}"
    if isinstance(exc, rex.AuthenticationError | rex.AuthorizationError | rex.NoPermissionError):
        return AuthenticationError(f"{where}: the server refused the credentials ({exc})")
    if isinstance(exc, rex.TimeoutError | TimeoutError):
        return StoreTimeoutError(f"{where}: the server did not answer in time")
    if isinstance(exc, rex.ConnectionError) and str(exc).startswith("No connection available"):
        # redis-py's blocking pool gave up waiting: every pooled connection is busy.
        return StoreTimeoutError(
            f"{where}: no pooled connection became free within pool_timeout "
            "(raise max_connections, or hold transactions for less time)"
        )
    if isinstance(exc, rex.BusyLoadingError):
        return StoreUnavailableError(f"{where}: the server is loading its data set")
    if isinstance(exc, rex.ConnectionError | ConnectionError):
        return StoreUnavailableError(f"{where}: cannot reach the server ({exc})")
    if isinstance(exc, rex.OutOfMemoryError):
        return CapacityError(f"{where}: the server is out of memory (maxmemory reached)")
    if isinstance(exc, rex.ReadOnlyError):
        return StoreUnavailableError(f"{where}: the server is a read-only replica")
    message = str(exc)
    if isinstance(exc, rex.ResponseError):
        if message.startswith("WRONGTYPE"):
            return SlotKindError(f"the slot holds another kind of value ({where})")
        if message.startswith(("NOAUTH", "WRONGPASS")):
            return AuthenticationError(f"{where}: the server refused the credentials")
        if message.startswith("OOM"):
            return CapacityError(f"{where}: the server is out of memory (maxmemory reached)")
    return DriverError(f"{where}: {type(exc).__name__}: {message}")
