"""The redis driver's error table: redis-py exceptions and the unistore errors they become.

The SDK applies it around every primitive (the message follows the store's
redacted URL; the password is scrubbed from it). Rows are tried in order.

Cluster and Sentinel replies that mean "not now" (``CLUSTERDOWN``,
``TRYAGAIN``, a slot without a master, no master known to the sentinels)
become :class:`~unistore.errors.StoreUnavailableError`: nothing was applied
and a later call may succeed. ``RedisCluster`` follows ``MOVED`` and ``ASK``
itself; one that still surfaces is reported the same way.
"""

from __future__ import annotations

import redis.exceptions as rex
from redis.asyncio.sentinel import MasterNotFoundError

from unistore.errors import (
    AuthenticationError,
    CapacityError,
    DriverError,
    InvalidURLError,
    SlotKindError,
    StoreTimeoutError,
    StoreUnavailableError,
    ValidationError,
)
from unistore.sdk import ErrorRule, ErrorTable
from unistore_redis._once import UncertainWriteError

__all__ = ["ERRORS", "ClusterNodeError"]

_REFUSED = "the server refused the credentials"
_OOM = "the server is out of memory (maxmemory reached)"
_AUTH_ERRORS = (rex.AuthenticationError, rex.AuthorizationError, rex.NoPermissionError)
_FAILOVER = "a failover may be in progress; nothing was applied, try again"


class ClusterNodeError(rex.RedisError):
    """A plain ``redis://`` client reached a Redis Cluster node."""


def _cluster_problem(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith("Redis Cluster cannot be connected"):
        return f"cannot reach any node of the cluster ({text})"
    return f"the cluster cannot serve the call ({text}); {_FAILOVER}"


ERRORS = ErrorTable(
    # First: it is a timeout whose message must say the write may have landed.
    ErrorRule(UncertainWriteError, StoreTimeoutError, str),
    ErrorRule(ClusterNodeError, InvalidURLError, str),
    ErrorRule(
        rex.RedisClusterException,
        InvalidURLError,
        "the server is not a Redis Cluster node; open it with a redis:// URL",
        when=lambda exc: "Cluster mode is not enabled" in str(exc),
    ),
    ErrorRule(
        rex.RedisClusterException,
        AuthenticationError,
        lambda exc: f"{_REFUSED} ({exc.__cause__})",
        # The cluster client reports refused credentials as "cannot be connected".
        when=lambda exc: isinstance(exc.__cause__, _AUTH_ERRORS),
    ),
    ErrorRule(
        rex.SlotNotCoveredError,
        StoreUnavailableError,
        f"no cluster node serves the namespace's slot; {_FAILOVER}",
    ),
    ErrorRule(rex.RedisClusterException, StoreUnavailableError, _cluster_problem),
    ErrorRule(
        rex.ClusterDownError,
        StoreUnavailableError,
        lambda exc: f"the cluster is down or the master unreachable ({exc}); {_FAILOVER}",
    ),
    ErrorRule(
        rex.TryAgainError,
        StoreUnavailableError,
        f"the cluster is moving the namespace's slot (TRYAGAIN); {_FAILOVER}",
    ),
    ErrorRule(
        rex.AskError,  # MOVED too
        StoreUnavailableError,
        "the server answered MOVED/ASK: the slot is served by another cluster node "
        "(a Redis Cluster must be opened with redis+cluster://)",
    ),
    ErrorRule(
        MasterNotFoundError,
        StoreUnavailableError,
        f"no sentinel names a master for the service (a wrong service name, or {_FAILOVER})",
    ),
    ErrorRule(
        rex.MaxConnectionsError,
        StoreTimeoutError,
        "every pooled connection to the cluster node is busy (raise max_connections)",
    ),
    ErrorRule(
        rex.ClusterError,
        StoreUnavailableError,
        lambda exc: f"the cluster cannot serve the call ({exc}); {_FAILOVER}",
    ),
    ErrorRule(
        _AUTH_ERRORS,
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
