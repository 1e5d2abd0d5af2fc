"""The store on a Redis Cluster and on Sentinel: routing, scripts, listing, fail fast, auth."""

from __future__ import annotations

import asyncio
import gc
import uuid
import warnings
from typing import Any

import pytest
import redis
from redis.asyncio.cluster import RedisCluster as ClusterClient
from servers import RedisCluster, SentinelSet

import unistore
from unistore.errors import (
    AuthenticationError,
    InvalidURLError,
    StoreUnavailableError,
    TransactionConflictError,
)
from unistore_redis import RedisStore

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

TTL = 60.0


def _open(url: str, **options: Any) -> RedisStore:
    store = unistore.connect(url, key_prefix=f"t-{uuid.uuid4().hex[:12]}", **options)
    assert isinstance(store, RedisStore)
    return store


def _masters_holding(cluster: RedisCluster, prefix: str) -> dict[int, int]:
    """How many keys under the key prefix each master holds."""
    counts = {}
    for port in cluster.masters():
        with redis.Redis(host="127.0.0.1", port=port) as client:
            counts[port] = sum(1 for _ in client.scan_iter(match=f"{prefix}:*", count=1000))
    return counts


async def test_namespaces_spread_over_every_master_are_listed_and_destroyed(
    cluster_servers: RedisCluster,
) -> None:
    async with _open(cluster_servers.url) as store:
        names = [f"ns-{i}" for i in range(60)]
        for name in names:
            await store.set(name, "a", b"1", ttl=TTL)
        spread = _masters_holding(cluster_servers, store.key_prefix)
        assert len(spread) == 3
        assert all(count > 0 for count in spread.values()), spread
        listed = [ns async for ns in store.iter_namespaces("ns-")]
        assert sorted(listed) == sorted(names)
        await store.destroy()
        assert set(_masters_holding(cluster_servers, store.key_prefix).values()) == {0}


async def test_a_master_that_lost_its_scripts_gets_them_again(
    cluster_servers: RedisCluster, cluster_store: RedisStore
) -> None:
    names = [f"ns-{i}" for i in range(12)]
    for name in names:
        await cluster_store.incr(name, "n", ttl=TTL)
    for port in cluster_servers.masters():
        with redis.Redis(host="127.0.0.1", port=port) as client:
            client.script_flush()
    # Counters are sent once (execute_once) and other writes by EVALSHA:
    # both must reload the script on whichever master answers NOSCRIPT.
    for name in names:
        assert await cluster_store.incr(name, "n", ttl=TTL) == 2
        await cluster_store.set(name, "s", b"v", ttl=TTL)
        assert await cluster_store.get(name, "s") == b"v"


async def test_transactions_run_on_the_namespace_master(cluster_store: RedisStore) -> None:
    for index in range(6):
        ns = f"tx-{index}"
        await cluster_store.set(ns, "a", b"1", ttl=TTL)
        async with cluster_store.transaction(ns, ["a"]) as tx:
            assert await tx.get("a") == b"1"
            tx.set("a", b"2", ttl=TTL)
            tx.hset("h", {"f": b"x"}, ttl=TTL)
            await tx.commit()
        assert await cluster_store.get(ns, "a") == b"2"
        assert await cluster_store.hgetall(ns, "h") == {"f": b"x"}
        # A change after the watch is a conflict, on a cluster too.
        async with cluster_store.transaction(ns, ["a"]) as tx:
            await cluster_store.set(ns, "a", b"3", ttl=TTL)
            tx.set("a", b"4", ttl=TTL)
            with pytest.raises(TransactionConflictError):
                await tx.commit()
        assert await cluster_store.get(ns, "a") == b"3"


async def test_an_existing_cluster_client(cluster_servers: RedisCluster) -> None:
    port = cluster_servers.ports[0]
    client = ClusterClient(host="127.0.0.1", port=port)
    try:
        async with _open(cluster_servers.url, client=client) as store:
            await store.set("ns", "a", b"1", ttl=TTL)
            assert await store.get("ns", "a") == b"1"
            await store.destroy()
        # The store did not close the client it was given.
        assert await client.ping()
    finally:
        await client.aclose()


async def test_a_plain_url_to_a_cluster_node_fails_fast(cluster_servers: RedisCluster) -> None:
    for port in cluster_servers.ports[:2]:
        async with _open(f"redis://:pw-never-shown@127.0.0.1:{port}/0", retries=0) as store:
            # Whatever the key, also one this node serves: the first call says why.
            with pytest.raises(InvalidURLError) as info:
                await store.get("ns", "a")
            assert "redis+cluster://" in str(info.value)
            assert "pw-never-shown" not in str(info.value)


async def test_a_cluster_url_to_a_plain_server_is_refused(private_server: Any) -> None:
    url = f"redis+cluster://127.0.0.1:{private_server.port}/"
    async with _open(url) as store:
        with pytest.raises(InvalidURLError) as info:
            await store.get("ns", "a")
        assert "not a Redis Cluster node" in str(info.value)


async def test_an_unreachable_cluster_is_unavailable() -> None:
    async with _open("redis+cluster://user:hunter2@127.0.0.1:1/", retries=0) as store:
        with pytest.raises(StoreUnavailableError) as info:
            await store.get("ns", "a")
    assert "hunter2" not in str(info.value)


async def test_wrong_cluster_credentials_are_refused(cluster_servers: RedisCluster) -> None:
    url = cluster_servers.url.replace("redis+cluster://", "redis+cluster://nobody:bad-secret@")
    async with _open(url, retries=0) as store:
        with pytest.raises(AuthenticationError) as info:
            await store.get("ns", "a")
    assert "bad-secret" not in str(info.value)


async def test_sentinels_with_a_password() -> None:
    with SentinelSet(sentinel_password="sentinel-secret") as servers:
        async with _open(servers.url, sentinel_password="sentinel-secret") as store:
            await store.set("ns", "a", b"1", ttl=TTL)
            assert await store.get("ns", "a") == b"1"
            await store.destroy()
        async with _open(servers.url + "?sentinel_password=wrong-secret", retries=0) as store:
            with pytest.raises((AuthenticationError, StoreUnavailableError)) as info:
                await store.get("ns", "a")
            assert "wrong-secret" not in str(info.value)
            assert "sentinel-secret" not in str(info.value)


async def test_an_unknown_service_is_unavailable(sentinel_servers: SentinelSet) -> None:
    url = sentinel_servers.url.rsplit("/", 1)[0] + "/no-such-service"
    async with _open(url, retries=0) as store:
        with pytest.raises(StoreUnavailableError) as info:
            await store.get("ns", "a")
    assert "service" in str(info.value)


def _open_sockets(store: RedisStore) -> list[Any]:
    client = store.client
    if isinstance(client, ClusterClient):
        return [c for node in client.get_nodes() for c in node._connections if c.is_connected]
    pool = client.connection_pool
    return [c for c in pool._available_connections if c.is_connected]


@pytest.mark.parametrize("form", ["cluster", "sentinel"])
async def test_a_dropped_store_closes_its_connections(
    form: str, cluster_servers: RedisCluster, sentinel_servers: SentinelSet
) -> None:
    url = cluster_servers.url if form == "cluster" else sentinel_servers.url
    store = _open(url)
    await store.set("ns", "a", b"1", ttl=TTL)
    await store.destroy()
    connections = _open_sockets(store)
    assert connections
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del store
        gc.collect()
    # The store's own warning only: redis-py found no socket left open.
    assert [(w.category, str(w.message)[:15]) for w in caught] == [
        (ResourceWarning, "unclosed store ")
    ]
    assert not any(connection.is_connected for connection in connections)
    await asyncio.sleep(0)  # let the transports finish closing
