"""redis+cluster and redis+sentinel URLs and options: validation, clients, secrets (no server)."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import SSLConnection
from redis.asyncio.sentinel import SentinelConnectionPool

import unistore
from unistore import StoreURL
from unistore.errors import InvalidOptionError, InvalidURLError, UnistoreError
from unistore_redis import RedisStore
from unistore_redis._config import hosts

SECRET = "s3cr3t-pw"
SENTINEL_SECRET = "sent1nel-pw"


def _open(url: str, **options: Any) -> RedisStore:
    store = unistore.connect(url, **options)
    assert isinstance(store, RedisStore)
    return store


def _shown(store: RedisStore) -> list[str]:
    """Every text about the store a user or a log may see."""
    return [
        repr(store),
        str(store),
        str(store.url),
        repr(store.url),
        repr(store.client),
        repr(dict(store.effective_options())),
    ]


async def test_cluster_url_builds_a_cluster_client() -> None:
    store = _open(f"redis+cluster://user:{SECRET}@Node-A:7000/?max_connections=7", key_prefix="kp")
    client = store.client
    assert isinstance(client, RedisCluster)
    assert [(node.host, node.port) for node in client.startup_nodes] == [("node-a", 7000)]
    kwargs = client.get_connection_kwargs()
    assert (kwargs["username"], kwargs["password"]) == ("user", SECRET)
    assert kwargs["max_connections"] == 7
    shown = store.effective_options()
    assert shown["db"] == 0
    assert shown["startup_nodes"] == ["node-a:7000"]
    assert shown["key_prefix"] == "kp"
    for text in _shown(store):
        assert SECRET not in text
    await store.aclose()


async def test_rediss_cluster_url_uses_tls() -> None:
    store = _open("rediss+cluster://h:7000/0?ssl_cert_reqs=none")
    client = store.client
    assert isinstance(client, RedisCluster)
    kwargs = client.get_connection_kwargs()
    assert kwargs["connection_class"] is SSLConnection
    assert kwargs["ssl_cert_reqs"] == "none"
    assert kwargs["ssl_check_hostname"] is False
    await store.aclose()


async def test_a_host_list_with_ports_gives_every_startup_node() -> None:
    store = _open(f"redis+cluster://u:{SECRET}@n1:7000,n2:7001,[::1]:7002/")
    client = store.client
    assert isinstance(client, RedisCluster)
    nodes = [(node.host, node.port) for node in client.startup_nodes]
    assert nodes == [("n1", 7000), ("n2", 7001), ("::1", 7002)]
    assert store.effective_options()["startup_nodes"] == ["n1:7000", "n2:7001", "::1:7002"]
    for text in _shown(store):
        assert SECRET not in text
    await store.aclose()
    assert hosts(StoreURL.parse("redis+sentinel://s1:5000,s2/main")) == [
        ("s1", 5000),
        ("s2", 26379),
    ]


def test_host_lists_without_ports_take_the_default_port() -> None:
    assert hosts(StoreURL.parse("redis+cluster://a,b,c/")) == [
        ("a", 6379),
        ("b", 6379),
        ("c", 6379),
    ]
    assert hosts(StoreURL.parse("redis+sentinel://s1,s2/main")) == [("s1", 26379), ("s2", 26379)]
    assert hosts(StoreURL.parse("redis+sentinel://s1:5000/main")) == [("s1", 5000)]


async def test_sentinel_url_builds_a_master_client() -> None:
    store = _open(
        f"redis+sentinel://:{SECRET}@s1:26380/main-service/3?sentinel_password={SENTINEL_SECRET}"
    )
    client = store.client
    assert isinstance(client, aioredis.Redis)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "main-service"
    assert pool.is_master
    assert pool.connection_kwargs["db"] == 3
    assert pool.connection_kwargs["password"] == SECRET
    (watcher,) = pool.sentinel_manager.sentinels
    watched = watcher.connection_pool.connection_kwargs
    assert (watched["host"], watched["port"], watched["password"]) == ("s1", 26380, SENTINEL_SECRET)
    shown = store.effective_options()
    assert shown["service_name"] == "main-service"
    assert shown["sentinels"] == ["s1:26380"]
    assert shown["db"] == 3
    assert "sentinel_password" not in shown
    for text in _shown(store):
        assert SECRET not in text
        assert SENTINEL_SECRET not in text
    await store.aclose()


async def test_sentinel_password_as_keyword_is_never_shown() -> None:
    store = _open("redis+sentinel://s1/main", sentinel_password=SENTINEL_SECRET)
    client = store.client
    assert isinstance(client, aioredis.Redis)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    (watcher,) = pool.sentinel_manager.sentinels
    assert watcher.connection_pool.connection_kwargs["password"] == SENTINEL_SECRET
    for text in _shown(store):
        assert SENTINEL_SECRET not in text
    await store.aclose()


@pytest.mark.parametrize(
    ("url", "options", "error"),
    [
        ("redis+cluster://h:7000/1", {}, InvalidURLError),
        ("redis+cluster://h:7000/x", {}, InvalidURLError),
        ("redis+cluster://h:7000/", {"db": 2}, InvalidOptionError),
        ("redis+cluster://h:7000/?ssl_cert_reqs=none", {}, InvalidOptionError),
        ("redis+cluster://h:7000/", {"sentinel_password": "x"}, InvalidOptionError),
        ("redis+sentinel://s1:26379", {}, InvalidURLError),
        ("redis+sentinel://s1:26379/", {}, InvalidURLError),
        ("redis+sentinel://s1:26379/main/x", {}, InvalidURLError),
        ("redis+sentinel://s1:26379/main/1/2", {}, InvalidURLError),
        ("redis://h", {"sentinel_password": "x"}, InvalidOptionError),
        ("redis://h?sentinel_password=x", {}, InvalidOptionError),
        ("redis://a,b/0", {}, InvalidURLError),
        ("redis+cluster://a,,b/", {}, InvalidURLError),
        ("redis+shard://h", {}, InvalidURLError),
    ],
)
def test_bad_cluster_and_sentinel_configuration(
    url: str, options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        unistore.connect(url, **options)


@pytest.mark.parametrize(
    "url",
    [
        f"redis+cluster://user:{SECRET}@h:7000/1",
        f"redis+cluster://user:{SECRET}@h1:7000,h2:{SECRET}/",
        f"redis+cluster://user:{SECRET}@h1:7000,,h2:7001/",
        f"redis+cluster://user:{SECRET}@h:7000/?nope=1",
        f"redis+sentinel://:{SECRET}@s1:26379",
        f"redis+sentinel://:{SECRET}@s1:26379/main/x?sentinel_password={SENTINEL_SECRET}",
        f"redis+sentinel://s1:26379/main/x?sentinel_password={SENTINEL_SECRET}",
        f"redis+tls://u:{SECRET}@h/",
    ],
)
def test_errors_about_malformed_urls_hide_the_passwords(url: str) -> None:
    with pytest.raises(UnistoreError) as info:
        unistore.connect(url)
    for text in (str(info.value), repr(info.value)):
        assert SECRET not in text
        assert SENTINEL_SECRET not in text


def test_an_unknown_form_names_the_cluster_and_sentinel_forms() -> None:
    with pytest.raises(InvalidURLError) as info:
        unistore.connect("redis+shard://h")
    assert "redis+cluster://" in str(info.value)
    assert "redis+sentinel://" in str(info.value)


async def test_an_existing_cluster_client_is_used_and_not_closed() -> None:
    client = RedisCluster(host="127.0.0.1", port=1)
    store = _open("redis+cluster://127.0.0.1:1/", client=client)
    assert store.client is client
    shown = store.effective_options()
    # With a client passed in, the connection options do not apply.
    assert shown["key_prefix"] == "unistore"
    assert not {"startup_nodes", "max_connections", "db"} & set(shown)
    await store.aclose()
    assert client.nodes_manager.startup_nodes  # not torn down by the store
    await client.aclose()


async def test_a_cluster_client_with_decoded_responses_is_refused() -> None:
    client = RedisCluster(host="127.0.0.1", port=1, decode_responses=True)
    with pytest.raises(InvalidOptionError):
        unistore.connect("redis+cluster://127.0.0.1:1/", client=client)
    await client.aclose()
