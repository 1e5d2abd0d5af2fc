"""URLs and options: parsing, validation, what the client is built with (no server needed)."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection

import unistore
from unistore.errors import InvalidOptionError, InvalidURLError
from unistore_redis import RedisStore


def _open(url: str, **options: Any) -> RedisStore:
    store = unistore.connect(url, **options)
    assert isinstance(store, RedisStore)
    return store


def _kwargs(store: RedisStore) -> dict[str, Any]:
    return dict(store.client.connection_pool.connection_kwargs)


async def test_driver_is_found_by_entry_point() -> None:
    for scheme in ("redis", "rediss"):
        driver = unistore.get_driver(scheme)
        assert driver.name == "redis"
        assert driver.distribution == "unistore-redis"


async def test_tcp_url() -> None:
    store = _open("redis://user:s3cret@Example.org:6380/7?max_connections=4", key_prefix="kp")
    kwargs = _kwargs(store)
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("example.org", 6380, 7)
    assert (kwargs["username"], kwargs["password"]) == ("user", "s3cret")
    assert store.client.connection_pool.max_connections == 4
    assert store.key_prefix == "kp"
    shown = (repr(store), str(store.url), repr(store.client), repr(store.client.connection_pool))
    for text in shown:
        assert "s3cret" not in text
    await store.aclose()


async def test_defaults() -> None:
    store = _open("redis://")
    kwargs = _kwargs(store)
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("localhost", 6379, 0)
    assert store.key_prefix == "unistore"
    assert kwargs["socket_timeout"] == 5.0
    await store.aclose()


async def test_unix_socket_url() -> None:
    store = _open("redis+unix:///run/redis/redis.sock?db=3&socket_timeout=0.5")
    pool = store.client.connection_pool
    assert pool.connection_class is UnixDomainSocketConnection
    kwargs = _kwargs(store)
    assert kwargs["path"] == "/run/redis/redis.sock"
    assert kwargs["db"] == 3
    assert kwargs["socket_timeout"] == 0.5
    await store.aclose()


async def test_rediss_url_with_tls_options() -> None:
    store = _open(
        "rediss://h:6390/0?ssl_cert_reqs=none&ssl_ca_certs=/ca.pem",
        ssl_certfile="/c.pem",
        ssl_keyfile="/k.pem",
    )
    pool = store.client.connection_pool
    assert pool.connection_class is SSLConnection
    kwargs = _kwargs(store)
    assert kwargs["ssl_cert_reqs"] == "none"
    assert kwargs["ssl_check_hostname"] is False
    assert (kwargs["ssl_ca_certs"], kwargs["ssl_certfile"], kwargs["ssl_keyfile"]) == (
        "/ca.pem",
        "/c.pem",
        "/k.pem",
    )
    await store.aclose()
    default = _open("rediss://h")
    assert _kwargs(default)["ssl_cert_reqs"] == "required"
    assert _kwargs(default)["ssl_check_hostname"] is True
    await default.aclose()


@pytest.mark.parametrize(
    ("url", "options", "error"),
    [
        ("redis://h?nope=1", {}, InvalidOptionError),
        ("redis://h", {"nope": 1}, InvalidOptionError),
        ("redis://h/x", {}, InvalidURLError),
        ("redis+tcp://h", {}, InvalidURLError),
        ("rediss+unix:///s.sock", {}, InvalidURLError),
        ("redis+unix://", {}, InvalidURLError),
        ("redis://h?ssl_cert_reqs=none", {}, InvalidOptionError),
        ("redis://h?max_connections=0", {}, InvalidOptionError),
        ("redis://h?socket_timeout=-1", {}, InvalidOptionError),
        ("redis://h", {"key_prefix": "a{b"}, InvalidOptionError),
        ("redis://h", {"key_prefix": ""}, InvalidOptionError),
        ("redis://h?client=x", {}, InvalidOptionError),
        ("redis://h", {"client": object()}, InvalidOptionError),
    ],
)
def test_bad_configuration(url: str, options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        unistore.connect(url, **options)


async def test_existing_client_is_used_and_not_closed() -> None:
    client = aioredis.Redis(host="127.0.0.1", port=1)
    store = _open("redis://", client=client)
    assert store.client is client
    await store.aclose()
    assert client.connection_pool is not None
    await client.aclose()


async def test_client_with_decoded_responses_is_refused() -> None:
    client = aioredis.Redis(decode_responses=True)
    with pytest.raises(InvalidOptionError):
        unistore.connect("redis://", client=client)
    await client.aclose()
