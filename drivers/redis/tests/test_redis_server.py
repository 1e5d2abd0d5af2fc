"""Against private redis-servers: errors, restarts, round trips, no keyspace scans."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager as ContextManager
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

import unistore
from unistore.errors import (
    AuthenticationError,
    CapacityError,
    StoreTimeoutError,
    StoreUnavailableError,
)
from unistore_redis import RedisStore

pytestmark = pytest.mark.redis

TTL = 60.0


def _open(url: str, prefix: str, **options: Any) -> RedisStore:
    store = unistore.connect(url, key_prefix=prefix, **options)
    assert isinstance(store, RedisStore)
    return store


async def test_unreachable_server(prefix: str, server_factory: Any) -> None:
    port = server_factory().port  # a free port nobody listens on (never started)
    store = _open(f"redis://user:hunter2@127.0.0.1:{port}/0", prefix, retries=0)
    async with store:
        with pytest.raises(StoreUnavailableError) as info:
            await store.get("ns", "a")
    message = str(info.value)
    assert "hunter2" not in message
    assert f"redis://user:***@127.0.0.1:{port}/0" in message
    assert isinstance(info.value.__cause__, redis.exceptions.ConnectionError)


async def test_wrong_password(prefix: str, server_factory: Any) -> None:
    server = server_factory("--requirepass", "right-one")
    server.start()
    for url in (
        f"redis://:wrong-one@127.0.0.1:{server.port}/0",
        f"redis://127.0.0.1:{server.port}/0",
    ):
        async with _open(url, prefix, retries=0) as store:
            with pytest.raises(AuthenticationError) as info:
                await store.set("ns", "a", b"1", ttl=TTL)
            assert "wrong-one" not in str(info.value)
    async with _open(f"redis://:right-one@127.0.0.1:{server.port}/0", prefix) as store:
        await store.set("ns", "a", b"1", ttl=TTL)
        assert await store.get("ns", "a") == b"1"


async def test_timeout(prefix: str, server_factory: Any) -> None:
    server = server_factory("--enable-debug-command", "yes")
    server.start()
    store = _open(server.url, prefix, socket_timeout=0.2, retries=0)
    sleeper = aioredis.Redis.from_url(server.url)
    async with store:
        await store.set("ns", "a", b"1", ttl=TTL)
        busy = asyncio.create_task(sleeper.execute_command("DEBUG", "SLEEP", "0.6"))  # type: ignore[no-untyped-call]
        await asyncio.sleep(0.05)
        with pytest.raises(StoreTimeoutError):
            await store.get("ns", "a")
        await busy
        assert await store.get("ns", "a") == b"1"
    await sleeper.aclose()


async def test_out_of_memory(prefix: str, server_factory: Any) -> None:
    server = server_factory("--maxmemory", "3mb", "--maxmemory-policy", "noeviction")
    server.start()
    async with _open(server.url, prefix) as store:

        async def fill() -> None:
            for i in range(200):
                await store.set("ns", f"s{i}", b"x" * 100_000, ttl=TTL)

        with pytest.raises(CapacityError):
            await fill()


async def test_same_store_survives_a_restart(prefix: str, server_factory: Any) -> None:
    server = server_factory()
    server.start()
    store = _open(server.url, prefix, retries=1)
    async with store:
        await store.set("ns", "a", b"1", ttl=TTL)
        await store.create_session("s")
        async with store.transaction("ns", ["a"]) as tx:
            tx.set("a", b"2", ttl=TTL)
            await tx.commit()
        server.stop()
        with pytest.raises(StoreUnavailableError):
            await store.get("ns", "a")
        with pytest.raises(StoreUnavailableError):
            async with store.transaction("ns", ["a"]):
                pass
        server.start()  # same port, empty data set, no scripts loaded
        assert await store.get("ns", "a") is None
        await store.set("ns", "a", b"3", ttl=TTL)  # EVALSHA -> NOSCRIPT -> reloaded
        assert await store.incr("ns", "c", ttl=TTL) == 1
        async with store.transaction("ns", ["a"]) as tx:
            assert await tx.get("a") == b"3"
            tx.set("a", b"4", ttl=TTL)
            await tx.commit()
        assert await store.get("ns", "a") == b"4"
        assert await store.slots("ns") == ["a", "c"]
        await store.create_session("s")
        await store.append_messages("s", ['"m"'], expected_length=0)
        assert await store.read_messages("s") == ['"m"']


async def test_existing_client_is_left_open(url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(url)
    store = _open(url, prefix, client=client)
    async with store:
        await store.set("ns", "a", b"1", ttl=TTL)
        await store.destroy()
    assert await client.ping()
    await client.aclose()


async def test_namespace_operations_never_scan(
    private_store: RedisStore,
    private_raw: redis.Redis,
    command_counts: Callable[[redis.Redis], dict[str, int]],
) -> None:
    store = private_store
    for i in range(20):
        await store.set("*", f"s{i}", b"1", ttl=TTL)
        await store.set("other", f"s{i}", b"1", ttl=TTL)
    private_raw.config_resetstat()
    assert len(await store.slots("*")) == 20
    assert await store.touch("*", ttl=TTL) == 20
    assert await store.purge("*") == 20
    counts = command_counts(private_raw)
    assert counts.get("scan", 0) == 0
    assert counts.get("keys", 0) == 0
    assert len(await store.slots("other")) == 20


async def test_each_operation_is_one_round_trip(
    store: RedisStore, round_trips: Callable[[], ContextManager[list[int]]]
) -> None:
    await store.set("ns", "warm", b"1", ttl=TTL)  # connects and loads the script
    await store.create_session("warm")
    operations: dict[str, Callable[[], Awaitable[Any]]] = {
        "set": lambda: store.set("ns", "a", b"1", ttl=TTL),
        "get": lambda: store.get("ns", "a"),
        "set_many": lambda: store.set_many("ns", {"m1": b"1", "m2": b"2"}, ttl=None),
        "get_many": lambda: store.get_many("ns", ["m1", "m2", "a"]),
        "delete_many": lambda: store.delete_many("ns", ["m1", "m2"]),
        "hset": lambda: store.hset("ns", "h", {"f": b"1", "g": b"2"}, ttl=TTL),
        "hget": lambda: store.hget("ns", "h", "f"),
        "hgetall": lambda: store.hgetall("ns", "h"),
        "hkeys": lambda: store.hkeys("ns", "h"),
        "hdel": lambda: store.hdel("ns", "h", ["g"]),
        "incr": lambda: store.incr("ns", "c", ttl=TTL),
        "get_ttl": lambda: store.get_ttl("ns", "a"),
        "expire": lambda: store.expire("ns", "a", TTL),
        "slot_kind": lambda: store.slot_kind("ns", "a"),
        "slots": lambda: store.slots("ns"),
        "slots_prefix": lambda: store.slots("ns", "a"),
        "touch": lambda: store.touch("ns", ttl=TTL),
        "delete": lambda: store.delete("ns", "a"),
        "purge": lambda: store.purge("ns"),
        "create_session": lambda: store.create_session("s"),
        "create_with_messages": lambda: store.create_session("s2", messages=['"a"', '"b"']),
        "append_messages": lambda: store.append_messages("s", ['"a"', '"b"'], expected_length=0),
        "append_unconditional": lambda: store.append_messages("s", ['"u"']),
        "append_token": lambda: store.append_messages("s", ['"t"'], token="t"),
        "pop_messages": lambda: store.pop_messages("s", 2),
        "fork_session": lambda: store.fork_session("s", "f", at=1),
        "replace_messages": lambda: store.replace_messages("s", 0, ['"c"'], expected_length=2),
        "read_messages": lambda: store.read_messages("f"),
        "get_session": lambda: store.get_session("f"),
        "list_sessions": lambda: store.list_sessions(),
        "update_session": lambda: store.update_session("f", label="x"),
        "delete_session": lambda: store.delete_session("s"),
        "create_scoped": lambda: store.create_session("s", scope="x", ttl=TTL),
        "list_scoped": lambda: store.list_sessions(scope="x"),
        "delete_scoped": lambda: store.delete_session("s", scope="x"),
    }
    for _ in range(2):  # the first pass loads every script once
        trips = {}
        for name, operation in operations.items():
            with round_trips() as sent:
                await operation()
            trips[name] = sent[0]
        await store.delete_session("f")
        await store.delete_session("s2")
    # A fork pins the generation it shares in its parent's bucket, then is
    # created in its own; its read takes the shared part from the parent's
    # bucket; the parent's first edit after the fork checks the new pin.
    across = {"fork_session": 2, "read_messages": 2, "replace_messages": 3}
    assert trips == dict.fromkeys(operations, 1) | across


async def test_unix_socket(prefix: str, server_factory: Any, tmp_path: Any) -> None:
    path = tmp_path / "redis.sock"
    server = server_factory("--unixsocket", str(path), "--unixsocketperm", "700")
    server.start()
    async with _open(f"redis+unix://{path}?db=2", prefix) as store:
        await store.set("ns", "a", b"over a socket", ttl=TTL)
        assert await store.get("ns", "a") == b"over a socket"
    with redis.Redis(unix_socket_path=str(path), db=2) as check:
        assert check.dbsize() == 3  # the slot and its two namespace indexes, in database 2


async def test_exhausted_pool_times_out(url: str, prefix: str) -> None:
    async with _open(url, prefix, max_connections=1, pool_timeout=0.1) as store:
        async with store.transaction("ns", ["a"]):  # holds the only connection
            with pytest.raises(StoreTimeoutError, match="pool_timeout"):
                await store.get("ns", "a")
        assert await store.get("ns", "a") is None
        await store.destroy()
