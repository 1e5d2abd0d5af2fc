"""Options of the redis driver and how a URL plus options become a client.

Four URL forms, one per deployment: ``redis://`` / ``rediss://`` (one
server), ``redis+unix:///path.sock``, ``redis+cluster://h1:p1,h2:p2/``
(Redis Cluster, through ``RedisCluster``) and
``redis+sentinel://h1:p1,h2:p2/service[/db]`` (the master that Sentinel
names, through ``Sentinel.master_for``). ``rediss`` gives TLS to each form
but the unix socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

from unistore import StoreURL
from unistore.errors import InvalidOptionError, InvalidURLError
from unistore.protocols import KEYWORD_ONLY, Option
from unistore.sdk import CREATE_OPTION
from unistore_redis._buckets import check_buckets

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from redis.asyncio.cluster import RedisCluster
    from redis.asyncio.connection import AbstractConnection, ConnectionPool

    #: The clients a store runs on: one server (or Sentinel's master) or a cluster.
    Client = aioredis.Redis | RedisCluster

__all__ = ["OPTIONS", "build_client", "effective_options", "hosts", "validate"]

_TLS_OPTIONS = ("ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile")

#: The URL dialects (``redis+<dialect>://``) this driver serves.
_DIALECTS = (None, "unix", "cluster", "sentinel")

_DEFAULT_PORT = 6379
_SENTINEL_PORT = 26379


def _positive_int(text: Any) -> int:
    value = int(text)
    if isinstance(text, bool) or value < 1:
        raise ValueError("expected a positive integer")
    return value


def _non_negative_int(text: Any) -> int:
    value = int(text)
    if isinstance(text, bool) or value < 0:
        raise ValueError("expected an integer >= 0")
    return value


def _positive_float(text: Any) -> float:
    value = float(text)
    if isinstance(text, bool) or not value > 0:
        raise ValueError("expected a number of seconds > 0")
    return value


def _key_prefix(text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError("expected a str")
    if not text:
        raise ValueError("the key prefix must not be empty")
    if any(ch in text for ch in "{}") or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError("the key prefix must not contain '{', '}' or control characters")
    return text


def _cert_reqs(text: Any) -> str:
    if not isinstance(text, str) or text.lower() not in ("none", "optional", "required"):
        raise ValueError("expected 'none', 'optional' or 'required'")
    return text.lower()


def _path(text: Any) -> str:
    if not isinstance(text, str) or not text:
        raise TypeError("expected a file path")
    return text


def _bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    lowered = str(text).lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _secret(text: Any) -> str:
    if not isinstance(text, str) or not text:
        # Never the value: it is a password.
        raise TypeError("expected a non-empty str")
    return text


def _client(value: Any) -> Client:
    import redis.asyncio as aioredis
    from redis.asyncio.cluster import RedisCluster

    client: Client
    if isinstance(value, aioredis.Redis):
        client, decodes = value, value.connection_pool.connection_kwargs.get("decode_responses")
    elif isinstance(value, RedisCluster):
        client, decodes = value, value.get_connection_kwargs().get("decode_responses")
    else:
        raise TypeError(
            "expected a redis.asyncio.Redis or redis.asyncio.cluster.RedisCluster client"
        )
    if decodes:
        raise ValueError("the client must be created with decode_responses=False")
    return client


OPTIONS: tuple[Option, ...] = (
    Option(
        "key_prefix",
        _key_prefix,
        "unistore",
        "Prefix of every key this store writes; stores with different prefixes never meet.",
    ),
    Option(
        "db",
        _non_negative_int,
        None,
        "Database number (overrides the URL path; a cluster has database 0 only).",
    ),
    Option(
        "max_connections",
        _positive_int,
        50,
        "Size of the connection pool (per node on a cluster); callers wait for a free "
        "connection when it is full (a cluster or Sentinel pool fails at once instead).",
    ),
    Option(
        "pool_timeout",
        _positive_float,
        5.0,
        "Seconds to wait for a free pooled connection before failing.",
    ),
    Option("socket_timeout", _positive_float, 5.0, "Seconds to wait for a reply."),
    Option("socket_connect_timeout", _positive_float, 5.0, "Seconds to wait for a connection."),
    Option(
        "retries",
        _non_negative_int,
        3,
        "How often an idempotent command is retried after a connection error or timeout "
        "(non-idempotent writes are never re-sent).",
    ),
    Option(
        "ssl_cert_reqs",
        _cert_reqs,
        None,
        "rediss only: server certificate check, 'required' (default), 'optional' or 'none'.",
    ),
    Option("ssl_ca_certs", _path, None, "rediss only: CA bundle to verify the server with."),
    Option("ssl_certfile", _path, None, "rediss only: client certificate (PEM)."),
    Option("ssl_keyfile", _path, None, "rediss only: client private key (PEM)."),
    Option(
        "ssl_check_hostname",
        _bool,
        None,
        "rediss only: check that the certificate names the host (default true).",
    ),
    Option(
        "sentinel_password",
        _secret,
        None,
        "redis+sentinel only: the password of the sentinels (AUTH), when they have one.",
        secret=True,
    ),
    Option(
        "client",
        KEYWORD_ONLY,
        None,
        "An existing redis.asyncio.Redis or RedisCluster client to use "
        "(keyword only; never closed by the store).",
        check=_client,
    ),
    Option(
        "session_buckets",
        check_buckets,
        64,
        "Buckets sessions are spread over (a power of two up to 1024); fixed once the "
        "store holds sessions.",
        check=check_buckets,
    ),
    CREATE_OPTION,
)


def validate(url: StoreURL, options: Mapping[str, Any]) -> None:
    """Check what the option parsers cannot see alone (no I/O).

    Raises:
        InvalidURLError: The URL is not a redis URL this driver understands.
        InvalidOptionError: The options contradict the URL.
    """
    if url.dialect not in _DIALECTS:
        raise InvalidURLError(
            f"unknown redis URL form {url.drivername!r} in {url}; expected redis://, "
            "rediss://, redis+unix:///path/to.sock, redis+cluster://host:port,.../ "
            "or redis+sentinel://host:port,.../service_name"
        )
    if url.dialect == "unix" and url.scheme != "redis":
        raise InvalidURLError(f"TLS over a unix socket is not supported ({url})")
    if url.dialect == "unix" and not url.path:
        raise InvalidURLError(f"{url} names no socket path; expected redis+unix:///path/to.sock")
    if url.scheme != "rediss" and options.get("client") is None:
        given = [name for name in _TLS_OPTIONS if options.get(name) is not None]
        if given or options.get("ssl_check_hostname") is not None:
            raise InvalidOptionError(
                f"TLS options ({', '.join(given) or 'ssl_check_hostname'}) "
                f"need a rediss:// URL, not {url.scheme}://"
            )
    if options.get("sentinel_password") is not None and url.dialect != "sentinel":
        raise InvalidOptionError(
            f"the sentinel_password option needs a redis+sentinel URL, not {url}"
        )
    if url.dialect in (None, "unix") and len(hosts(url)) > 1:
        raise InvalidURLError(
            f"{url} names several hosts; use redis+cluster:// for a Redis Cluster "
            "or redis+sentinel:// for servers watched by Sentinel"
        )
    if url.dialect is None:
        _db_from_path(url)
    elif url.dialect == "cluster":
        _cluster_db(url, options)
    elif url.dialect == "sentinel":
        _sentinel_path(url)


def hosts(url: StoreURL) -> list[tuple[str, int]]:
    """Return every ``(host, port)`` the URL names, in order, with the default ports filled in.

    A host list is written ``h1:p1,h2:p2``. Where :class:`~unistore.StoreURL`
    keeps such a list (``hosts``), it is read from there; otherwise the URL
    holds one host (or several without ports, which parse as one host name).
    """
    default = _SENTINEL_PORT if url.dialect == "sentinel" else _DEFAULT_PORT
    listed = getattr(url, "hosts", None)
    if listed:
        return [(host or "localhost", port or default) for host, port in listed]
    names = (url.host or "localhost").split(",")
    if len(names) > 1:
        if url.port is not None or not all(names):
            raise InvalidURLError(f"{url} holds an invalid host list; expected h1:p1,h2:p2")
        return [(name, default) for name in names]
    return [(names[0], url.port or default)]


def _cluster_db(url: StoreURL, options: Mapping[str, Any]) -> None:
    text = url.path.strip("/")
    if text not in ("", "0"):
        raise InvalidURLError(
            f"the path of {url} must be empty or /0: a Redis Cluster has database 0 only"
        )
    if options.get("db") not in (None, 0):
        raise InvalidOptionError(
            f"db={options['db']} for {url}: a Redis Cluster has database 0 only"
        )


def _sentinel_path(url: StoreURL) -> tuple[str, int]:
    """Return the service name and database number of a ``redis+sentinel`` URL."""
    parts = url.path.strip("/").split("/")
    if not parts[0]:
        raise InvalidURLError(
            f"{url} names no service; expected redis+sentinel://host:port,.../service_name[/db]"
        )
    if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
        raise InvalidURLError(
            f"the path of {url} must be /service_name or /service_name/db (a database number)"
        )
    return parts[0], int(parts[1]) if len(parts) == 2 else 0


def effective_options(url: StoreURL, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options in effect for ``url``, as ``unistore info`` shows them.

    The database number is the one the client selects (from the URL path
    unless the ``db`` option overrides it; always 0 on a cluster); TLS
    options appear only for ``rediss``, with the certificate and hostname
    checks they default to. A cluster shows its startup nodes, a Sentinel
    URL its sentinels and service (never the sentinels' password). With a
    client passed in, only the key prefix applies.
    """
    if options.get("client") is not None:
        return {"key_prefix": options["key_prefix"], "session_buckets": options["session_buckets"]}
    tls = (*_TLS_OPTIONS, "ssl_check_hostname")
    shown = {
        opt.name: options[opt.name]
        for opt in OPTIONS
        if opt.parse is not KEYWORD_ONLY
        and not opt.secret
        and opt.name != CREATE_OPTION.name  # the open mode, not a setting
        and (url.scheme == "rediss" or opt.name not in tls)
    }
    if url.dialect == "cluster":
        shown["db"] = 0
        shown["startup_nodes"] = [f"{host}:{port}" for host, port in hosts(url)]
    elif url.dialect == "sentinel":
        service, db = _sentinel_path(url)
        shown["db"] = db if shown["db"] is None else shown["db"]
        shown["sentinels"] = [f"{host}:{port}" for host, port in hosts(url)]
        shown["service_name"] = service
    elif shown["db"] is None:
        shown["db"] = _db_from_path(url) if url.dialect is None else 0
    if url.scheme == "rediss":
        shown["ssl_cert_reqs"] = shown["ssl_cert_reqs"] or "required"
        if shown["ssl_check_hostname"] is None:
            shown["ssl_check_hostname"] = shown["ssl_cert_reqs"] != "none"
    return shown


def _db_from_path(url: StoreURL) -> int:
    text = url.path.strip("/")
    if not text:
        return 0
    if not text.isdigit():
        raise InvalidURLError(f"the path of {url} must be a database number, e.g. /0")
    return int(text)


def _tls_kwargs(options: Mapping[str, Any]) -> dict[str, Any]:
    cert_reqs = options["ssl_cert_reqs"] or "required"
    check_hostname = options["ssl_check_hostname"]
    if check_hostname is None:
        # Python's ssl refuses a hostname check without certificate checks.
        check_hostname = cert_reqs != "none"
    return {
        "ssl_cert_reqs": cert_reqs,
        "ssl_ca_certs": options["ssl_ca_certs"],
        "ssl_certfile": options["ssl_certfile"],
        "ssl_keyfile": options["ssl_keyfile"],
        "ssl_check_hostname": check_hostname,
    }


def build_client(url: StoreURL, options: Mapping[str, Any]) -> Client:
    """Create (without connecting) the client for ``url`` and ``options``."""
    # redis-py is imported when a store is opened, not when the scheme is resolved.
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialWithJitterBackoff

    common: dict[str, Any] = {
        "username": url.username,
        "password": url.password,
        "socket_timeout": options["socket_timeout"],
        "socket_connect_timeout": options["socket_connect_timeout"],
        "retry": Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.01), options["retries"]),
    }
    if url.dialect == "cluster":
        return _cluster_client(url, options, common)
    if url.dialect == "sentinel":
        return _sentinel_client(url, options, common)
    return _server_client(url, options, common)


def _server_client(
    url: StoreURL, options: Mapping[str, Any], kwargs: dict[str, Any]
) -> aioredis.Redis:
    import redis.asyncio as aioredis
    from redis.asyncio.connection import (
        Connection,
        SSLConnection,
        UnixDomainSocketConnection,
    )

    from unistore_redis._pool import BoundedPool

    db = options["db"] if options["db"] is not None else 0
    connection_class: type[AbstractConnection]
    if url.dialect == "unix":
        connection_class = UnixDomainSocketConnection
        kwargs["path"] = url.path
    else:
        if options["db"] is None:
            db = _db_from_path(url)
        connection_class = Connection
        ((host, port),) = hosts(url)
        kwargs.update(host=host, port=port)
        if url.scheme == "rediss":
            connection_class = SSLConnection
            kwargs.update(_tls_kwargs(options))
    pool: ConnectionPool = BoundedPool(
        max_connections=options["max_connections"],
        timeout=options["pool_timeout"],
        connection_class=connection_class,
        db=db,
        # Each new connection checks that the server is no cluster node.
        redis_connect_func=_refuse_cluster_node,
        **kwargs,
    )
    return aioredis.Redis.from_pool(pool)


async def _refuse_cluster_node(connection: AbstractConnection) -> None:
    """Connect as redis-py does, then refuse a server that is a Redis Cluster node.

    A plain client on a cluster node runs the commands on keys of that node's
    slots and gets ``MOVED`` for all others: a store that half works. One
    ``INFO cluster`` per new connection (not per command) tells it at once.
    """
    from redis.exceptions import ResponseError

    from unistore_redis._errors import ClusterNodeError

    await connection.on_connect()
    await connection.send_command("INFO", "cluster", check_health=False)
    try:
        reply = await connection.read_response()
    except ResponseError:
        # A user without the right to run INFO: nothing can be told; the
        # commands will answer MOVED if this is a cluster node.
        return
    if isinstance(reply, bytes) and b"cluster_enabled:1" in reply:
        raise ClusterNodeError(
            "the server is a Redis Cluster node (INFO cluster: cluster_enabled:1); "
            "open it with a redis+cluster:// URL"
        )


def _cluster_client(
    url: StoreURL, options: Mapping[str, Any], kwargs: dict[str, Any]
) -> RedisCluster:
    from redis.asyncio.cluster import ClusterNode

    if url.scheme == "rediss":
        kwargs.update(ssl=True, **_tls_kwargs(options))
    return _ready_cluster()(
        startup_nodes=[ClusterNode(host, port) for host, port in hosts(url)],
        max_connections=options["max_connections"],
        pool_timeout=options["pool_timeout"],
        # While a failover is in progress some slots have no master; the
        # others must stay usable, so a partial slot map is accepted.
        require_full_coverage=False,
        **kwargs,
    )


@functools.cache
def _ready_cluster() -> Callable[..., RedisCluster]:
    """``RedisCluster`` that learns the slot map before it routes a command.

    redis-py 8.1 decides how to route a command before it loads the slot map:
    the first commands of a new client (and those after a failover made it
    drop the map) go to a random node and come back ``MOVED``, and a burst of
    ``MOVED`` makes it close every connection, also those other tasks are
    using. Loading the map first (at once when it is loaded) avoids both.
    """
    from redis._parsers.commands import AsyncCommandsParser
    from redis.asyncio.cluster import ClusterNode, RedisCluster

    from unistore_redis._once import closed_before_send

    # The command table (COMMAND: some hundred KB, parsed in about 0.1 s) of
    # each node, loaded once per process rather than once per store.
    tables: dict[str, dict[str, Any]] = {}

    class SharedCommandsParser(AsyncCommandsParser):
        """Reads a node's command table once for every client of the process."""

        async def initialize(self, node: ClusterNode | None = None) -> None:
            if node is not None:
                self.node = node
            known = tables.get(self.node.name)
            if known is not None and not self.commands:
                self.commands = known
                return
            # A refresh (a command the table lacks) reads the node again.
            await super().initialize()
            tables[self.node.name] = self.commands

    class ReadyRedisCluster(RedisCluster):
        """A ``RedisCluster`` whose commands wait for the slot map and for a free connection.

        A node's pool of ``RedisCluster`` fails at once when all its
        connections are busy; this client lets at most ``max_connections``
        calls run at a time (so no node runs out) and makes the others wait
        up to ``pool_timeout``, as the pool of ``redis://`` does.
        """

        def __init__(self, *args: Any, pool_timeout: float, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.commands_parser = SharedCommandsParser()
            self.pool_timeout = pool_timeout
            self.turns = asyncio.Semaphore(kwargs["max_connections"])

        @contextlib.asynccontextmanager
        async def connection_turn(self) -> AsyncIterator[None]:
            """Wait (up to ``pool_timeout``) until a connection may be taken."""
            from redis.exceptions import ConnectionError as NoConnection

            try:
                async with asyncio.timeout(self.pool_timeout):
                    await self.turns.acquire()
            except TimeoutError:
                # The wording of redis-py's blocking pool, which the error table maps.
                raise NoConnection("No connection available.") from None
            try:
                yield
            finally:
                self.turns.release()

        async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
            async with self.connection_turn():
                await self.initialize()
                try:
                    return await super().execute_command(*args, **kwargs)
                except AttributeError as exc:
                    closed = closed_before_send(exc)
                    if closed is None:
                        raise
                    raise closed from exc

    return ReadyRedisCluster


def _sentinel_client(
    url: StoreURL, options: Mapping[str, Any], kwargs: dict[str, Any]
) -> aioredis.Redis:
    import redis.asyncio as aioredis
    from redis.asyncio.sentinel import Sentinel

    from unistore_redis._pool import bounded_sentinel_pool

    service, db = _sentinel_path(url)
    if options["db"] is not None:
        db = options["db"]
    sentinel_kwargs: dict[str, Any] = {
        "password": options["sentinel_password"],
        "socket_timeout": options["socket_timeout"],
        "socket_connect_timeout": options["socket_connect_timeout"],
    }
    if url.scheme == "rediss":
        tls = _tls_kwargs(options)
        kwargs.update(ssl=True, **tls)
        sentinel_kwargs.update(ssl=True, **tls)
    sentinel = Sentinel(hosts(url), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
    # Reads go to the master too: a replica may not have a write yet, and
    # every caller expects to read what it wrote.
    client: aioredis.Redis = sentinel.master_for(
        service,
        redis_class=aioredis.Redis,
        connection_pool_class=bounded_sentinel_pool(),
        timeout=options["pool_timeout"],
        db=db,
        max_connections=options["max_connections"],
        **kwargs,
    )
    return client
