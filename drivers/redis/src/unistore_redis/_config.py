"""Options of the redis driver and how a URL plus options become a client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from unistore import StoreURL
from unistore.errors import InvalidOptionError, InvalidURLError
from unistore.protocols import KEYWORD_ONLY, Option
from unistore.sdk import CREATE_OPTION

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["OPTIONS", "build_client", "effective_options", "validate"]

_TLS_OPTIONS = ("ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile")


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


def _client(value: Any) -> aioredis.Redis:
    import redis.asyncio as aioredis

    if not isinstance(value, aioredis.Redis):
        raise TypeError("expected a redis.asyncio.Redis client")
    if value.connection_pool.connection_kwargs.get("decode_responses"):
        raise ValueError("the client must be created with decode_responses=False")
    return value


OPTIONS: tuple[Option, ...] = (
    Option(
        "key_prefix",
        _key_prefix,
        "unistore",
        "Prefix of every key this store writes; stores with different prefixes never meet.",
    ),
    Option("db", _non_negative_int, None, "Database number (overrides the URL path)."),
    Option(
        "max_connections",
        _positive_int,
        50,
        "Size of the connection pool; callers wait for a free connection when it is full.",
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
        "client",
        KEYWORD_ONLY,
        None,
        "An existing redis.asyncio.Redis client to use (keyword only; never closed by the store).",
        check=_client,
    ),
    CREATE_OPTION,
)


def validate(url: StoreURL, options: Mapping[str, Any]) -> None:
    """Check what the option parsers cannot see alone (no I/O).

    Raises:
        InvalidURLError: The URL is not a redis URL this driver understands.
        InvalidOptionError: The options contradict the URL.
    """
    if url.dialect not in (None, "unix"):
        raise InvalidURLError(
            f"unknown redis URL form {url.drivername!r} in {url}; "
            "expected redis://, rediss:// or redis+unix:///path/to.sock"
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
    if url.dialect is None:
        _db_from_path(url)


def effective_options(url: StoreURL, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options in effect for ``url``, as ``unistore info`` shows them.

    The database number is the one the client selects (from the URL path
    unless the ``db`` option overrides it); TLS options appear only for
    ``rediss://``, with the certificate and hostname checks they default to.
    With a client passed in, only the key prefix applies.
    """
    if options.get("client") is not None:
        return {"key_prefix": options["key_prefix"]}
    tls = (*_TLS_OPTIONS, "ssl_check_hostname")
    shown = {
        opt.name: options[opt.name]
        for opt in OPTIONS
        if opt.parse is not KEYWORD_ONLY
        and opt.name != CREATE_OPTION.name  # the open mode, not a setting
        and (url.scheme == "rediss" or opt.name not in tls)
    }
    if shown["db"] is None:
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


def build_client(url: StoreURL, options: Mapping[str, Any]) -> aioredis.Redis:
    """Create (without connecting) the client for ``url`` and ``options``."""
    # redis-py is imported when a store is opened, not when the scheme is resolved.
    import redis.asyncio as aioredis
    from redis.asyncio.connection import (
        AbstractConnection,
        BlockingConnectionPool,
        Connection,
        SSLConnection,
        UnixDomainSocketConnection,
    )
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialWithJitterBackoff

    db = options["db"] if options["db"] is not None else 0
    kwargs: dict[str, Any] = {
        "username": url.username,
        "password": url.password,
        "socket_timeout": options["socket_timeout"],
        "socket_connect_timeout": options["socket_connect_timeout"],
        "retry": Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.01), options["retries"]),
    }
    connection_class: type[AbstractConnection]
    if url.dialect == "unix":
        connection_class = UnixDomainSocketConnection
        kwargs["path"] = url.path
    else:
        if options["db"] is None:
            db = _db_from_path(url)
        connection_class = Connection
        kwargs.update(
            host=url.host or "localhost",
            port=url.port or 6379,
        )
        if url.scheme == "rediss":
            connection_class = SSLConnection
            cert_reqs = options["ssl_cert_reqs"] or "required"
            check_hostname = options["ssl_check_hostname"]
            if check_hostname is None:
                # Python's ssl refuses a hostname check without certificate checks.
                check_hostname = cert_reqs != "none"
            kwargs.update(
                ssl_cert_reqs=cert_reqs,
                ssl_ca_certs=options["ssl_ca_certs"],
                ssl_certfile=options["ssl_certfile"],
                ssl_keyfile=options["ssl_keyfile"],
                ssl_check_hostname=check_hostname,
            )
    pool = BlockingConnectionPool(
        max_connections=options["max_connections"],
        timeout=options["pool_timeout"],
        connection_class=connection_class,
        db=db,
        **kwargs,
    )
    return aioredis.Redis.from_pool(pool)
