"""Session buckets on a real Redis Cluster (three masters, three replicas)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from servers import RedisCluster

import unistore
from unistore import StoreURL
from unistore.errors import ConfigurationError
from unistore_redis import RedisStore
from unistore_redis._migrate import migrate

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def msgs(*names: str) -> list[str]:
    return [json.dumps({"m": name}) for name in names]


def _keys_per_master(cluster: RedisCluster, prefix: str) -> list[int]:
    counts = []
    for port in cluster.masters():
        with redis.Redis(host="127.0.0.1", port=port) as client:
            counts.append(sum(1 for _ in client.scan_iter(match=f"{prefix}:*", count=5000)))
    return counts


async def test_sessions_spread_over_the_masters(
    cluster_store: RedisStore, cluster_servers: RedisCluster
) -> None:
    ids = [f"user-{i}" for i in range(10_000)]
    for start in range(0, len(ids), 40):
        batch = ids[start : start + 40]
        await asyncio.gather(*(cluster_store.create_session(s, messages=['"m"']) for s in batch))
    counts = _keys_per_master(cluster_servers, cluster_store.key_prefix)
    assert len(counts) == 3
    mean = sum(counts) / 3
    assert all(abs(n - mean) <= 0.2 * mean for n in counts), counts


async def test_forks_edits_and_listing_across_slots(cluster_store: RedisStore) -> None:
    store = cluster_store
    await store.create_session("root", messages=msgs("1", "2", "3"))
    chain = ["root"]
    for i in range(6):
        child = f"fork-{i}"
        await store.fork_session(chain[-1], child)
        await store.append_messages(child, msgs(f"f{i}"))
        chain.append(child)
    assert await store.read_messages(chain[-1], last=2) == msgs("f4", "f5")
    # Edits and pops below the forks, and the parent's deletion, leave them as they were.
    await store.replace_messages("root", 1, msgs("x"), expected_length=3)
    assert await store.pop_messages("fork-2", 2) == msgs("f1", "f2")
    await store.delete_session("fork-0")
    assert await store.read_messages("fork-5") == msgs("1", "2", "3", *(f"f{i}" for i in range(6)))
    assert await store.read_messages("fork-2") == msgs("1", "2", "3", "f0")
    assert await store.read_messages("root") == msgs("1", "x")
    seen, cursor = [], None
    while True:
        page = await store.list_sessions(limit=2, cursor=cursor)
        seen += [record.id for record in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["fork-2", "root", "fork-5", "fork-4", "fork-3", "fork-1"]
    for sid in seen:
        await store.delete_session(sid)
    assert (await store.list_sessions()).items == []


async def _state(store: Any, sessions: list[tuple[str | None, str]]) -> list[Any]:
    return [
        (await store.get_session(sid, scope=scope), await store.read_messages(sid, scope=scope))
        for scope, sid in sessions
    ]


async def test_old_sessions_on_a_cluster_move_with_the_migrate_command(
    cluster_servers: RedisCluster,
) -> None:
    path = Path(__file__).with_name("old_layout.py")
    spec = importlib.util.spec_from_file_location("unistore_redis_old_layout", path)
    assert spec is not None
    assert spec.loader is not None
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    prefix = f"t-{uuid.uuid4().hex[:12]}"
    writer = old.OldLayoutStore(StoreURL.parse(cluster_servers.url), {"key_prefix": prefix})
    sessions = [(scope, sid) for scope in (None, "a:{b}") for sid in ("p", "c", "g", "t")]
    async with writer:
        for scope in (None, "a:{b}"):
            await writer.create_session("p", scope=scope, label="p", metadata={"k": 1})
            await writer.append_messages("p", msgs("1", "2", "3"), scope=scope, token="tok")
            await writer.fork_session("p", "c", scope=scope, at=2)
            await writer.append_messages("c", msgs("c2"), scope=scope)
            await writer.fork_session("c", "g", scope=scope)
            await writer.create_session("t", scope=scope, ttl=3600)
        before = [
            (
                await writer.get_session(sid, scope=scope),
                await writer.read_messages(sid, scope=scope),
            )
            for scope, sid in sessions
        ]
        listed = [(await writer.list_sessions(scope=scope)).items for scope in (None, "a:{b}")]
    store = unistore.connect(cluster_servers.url, key_prefix=prefix)
    assert isinstance(store, RedisStore)
    async with store:
        try:
            with pytest.raises(ConfigurationError, match="unistore migrate"):
                await store.get_session("p")
            assert await migrate(store) == len(sessions)
            assert await migrate(store) == 0
            after = [
                (
                    await store.get_session(sid, scope=scope),
                    await store.read_messages(sid, scope=scope),
                )
                for scope, sid in sessions
            ]
            assert after == before
            assert [(await store.list_sessions(scope=s)).items for s in (None, "a:{b}")] == listed
            assert await store.append_messages("p", msgs("x"), token="tok") == 3
            await store.delete_session("p")
            assert await store.read_messages("g") == msgs("1", "2", "c2")
        finally:
            await store.destroy()
