"""Edge cases: bad argument types, cancelled transactions, hash tags of session keys."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis

import unistore
from unistore.errors import ValidationError
from unistore_redis import RedisStore

pytestmark = pytest.mark.redis

TTL = 60.0


async def test_unhashable_namespace_is_a_validation_error(store: RedisStore) -> None:
    bad: Any = ["ns"]
    with pytest.raises(ValidationError, match="namespace must be a str"):
        await store.get(bad, "a")
    with pytest.raises(ValidationError, match="namespace must be a str"):
        await store.set(bad, "a", b"1", ttl=TTL)
    with pytest.raises(ValidationError, match="namespace must be a str"):
        async with store.transaction(bad, ["a"]):
            pass


async def test_hset_needs_a_mapping(store: RedisStore) -> None:
    pairs: Any = [("f", b"1")]
    with pytest.raises(ValidationError, match="mapping"):
        await store.hset("ns", "h", pairs, ttl=TTL)
    async with store.transaction("ns", ["h"]) as tx:
        with pytest.raises(ValidationError, match="mapping"):
            tx.hset("h", pairs, ttl=TTL)
    assert await store.slots("ns") == []


async def _enter_transaction(store: RedisStore) -> None:
    async with store.transaction("ns", ["a"]):
        pass


async def test_cancelled_transaction_entry_releases_its_connection(
    prefix: str, server_factory: Any
) -> None:
    server = server_factory("--enable-debug-command", "yes")
    server.start()
    store = unistore.connect(
        server.url, key_prefix=prefix, max_connections=1, pool_timeout=0.5, retries=0
    )
    assert isinstance(store, RedisStore)
    sleeper = aioredis.Redis.from_url(server.url)
    try:
        async with store:
            await store.set("ns", "a", b"1", ttl=TTL)
            busy = asyncio.create_task(sleeper.execute_command("DEBUG", "SLEEP", "0.4"))  # type: ignore[no-untyped-call]
            await asyncio.sleep(0.05)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(_enter_transaction(store), timeout=0.1)
            await busy
            # The only pooled connection must be back: a leak would time out here.
            assert await store.get("ns", "a") == b"1"
    finally:
        await sleeper.aclose()


async def test_hdel_rejects_unhashable_field_names(store: RedisStore) -> None:
    await store.hset("ns", "h", {"f": b"1"}, ttl=TTL)
    fields: Any = [["f"]]
    with pytest.raises(ValidationError, match="field name must be a str"):
        await store.hdel("ns", "h", fields)
    assert await store.hdel("ns", "h", ["f", "f"]) == 1
    assert await store.slots("ns") == []
