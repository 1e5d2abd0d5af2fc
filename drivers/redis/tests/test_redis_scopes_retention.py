"""Scopes, retention and idempotency tokens of sessions, seen in the Redis keys."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator

import pytest
import redis

import unistore
from unistore_redis import RedisStore
from unistore_redis._buckets import SessionLayout
from unistore_redis._lua_session_helpers import SWEEP_BATCH

pytestmark = pytest.mark.redis

HOSTILE_SCOPES = ["a", ":", "a:s:b", "a:list", "{x}", "}", "*", "%", "%3A", "S", "s:x", "é", "\n"]
HOSTILE_IDS = ["x", "", ":", "s:x", "list", "x:r", "*", "%3A"]


def msgs(*names: str) -> list[str]:
    return [json.dumps({"m": name}) for name in names]


def _keys(raw: redis.Redis, store: RedisStore) -> set[bytes]:
    return set(raw.scan_iter(match=store._keys.glob(), count=1000))


def _neighbour(layout: SessionLayout, sid: str, scope: str, stem: str) -> str:
    """Return an id starting with ``stem`` whose session shares the bucket of ``sid``."""
    want = layout.bucket(sid, scope)
    return next(
        f"{stem}{i}" for i in itertools.count() if layout.bucket(f"{stem}{i}", scope) == want
    )


@pytest.fixture
async def one_bucket(url: str, prefix: str) -> AsyncIterator[RedisStore]:
    """A store whose sessions all share one bucket (one sweep sees them all)."""
    opened = unistore.connect(url, key_prefix=prefix, session_buckets=1)
    assert isinstance(opened, RedisStore)
    async with opened:
        try:
            yield opened
        finally:
            await opened.destroy()


async def test_a_session_keys_share_its_bucket_tag(store: RedisStore, raw: redis.Redis) -> None:
    p = store.key_prefix.encode()
    await store.create_session("s:1")
    await store.append_messages("s:1", msgs("a"))
    layout = await store._layout()
    tag = layout.tags[layout.bucket("s:1", "")]
    generation = raw.hget(tag + b":s:s%3A1:r", "g")
    assert generation is not None
    assert _keys(raw, store) == {
        tag + b":s:s%3A1:r",
        tag + b":s:s%3A1:m:" + generation,
        tag + b":list",
        tag + b":clock",
        tag + b":gen",
        p + b":{:meta}:sessions",
    }
    assert set(raw.hkeys(tag + b":s:s%3A1:r")) == {b"id", b"meta", b"c", b"u", b"n", b"g"}


async def test_scoped_sessions_have_keys_of_their_own(store: RedisStore, raw: redis.Redis) -> None:
    p = store.key_prefix.encode()
    await store.create_session("s", scope="t:{1}*")
    await store.append_messages("s", msgs("a"), scope="t:{1}*", token="tok")
    layout = await store._layout()
    tag = layout.tags[layout.bucket("s", "t:{1}*")]
    base = tag + b":S:t%3A%7B1%7D%2A"
    generation = raw.hget(base + b":s:s:r", "g")
    assert generation is not None
    assert _keys(raw, store) == {
        base + b":s:s:r",
        base + b":s:s:m:" + generation,
        base + b":s:s:t",
        base + b":s:s:q",
        base + b":list",
        tag + b":clock",
        tag + b":gen",
        p + b":{:meta}:sessions",
    }
    assert await store.get_session("s") is None
    record = await store.get_session("s", scope="t:{1}*")
    assert record is not None
    assert record.scope == "t:{1}*"


async def test_hostile_scopes_and_ids_never_meet(store: RedisStore) -> None:
    pairs = list(itertools.product([None, *HOSTILE_SCOPES], HOSTILE_IDS))
    for scope, sid in pairs:
        await store.create_session(sid, scope=scope, label=f"{scope}|{sid}")
        await store.append_messages(sid, [json.dumps([scope, sid])], scope=scope)
    for scope, sid in pairs:
        record = await store.get_session(sid, scope=scope)
        assert record is not None
        assert record.label == f"{scope}|{sid}"
        assert await store.read_messages(sid, scope=scope) == [json.dumps([scope, sid])]
    for scope in [None, *HOSTILE_SCOPES]:
        page = await store.list_sessions(scope=scope, limit=100)
        assert sorted(r.id for r in page.items) == sorted(HOSTILE_IDS)
        assert {r.scope for r in page.items} == {scope}
    assert sorted([s async for s in store.iter_scopes()], key=str) == sorted(
        [None, *HOSTILE_SCOPES], key=str
    )
    for sid in HOSTILE_IDS:
        assert await store.delete_session(sid, scope=":")
    assert [r async for r in store.iter_scopes() if r == ":"] == []


async def test_sessions_written_by_the_first_layout_load(
    store: RedisStore, raw: redis.Redis
) -> None:
    # Records, lists, fork sets and listing members as the previous version wrote them.
    keys = store._keys
    parent, child = keys.session_stem("p"), keys.session_stem("c")
    raw.hset(parent + b":r", mapping={"id": "p", "meta": '{"k": 1}', "c": 10, "u": 20, "n": 2})
    raw.hset(parent + b":r", "label", "old")
    raw.rpush(parent + b":m", '"1"', '"2"')
    raw.hset(
        child + b":r",
        mapping={"id": "c", "parent": "p", "fp": 1, "n": 2, "meta": "{}", "c": 30, "u": 40},
    )
    raw.hset(child + b":r", mapping={"base": parent, "bp": 1})
    raw.rpush(child + b":m", '"c2"')
    raw.sadd(parent + b":f", child)
    raw.zadd(keys.listing, {b"%020d" % 20 + parent: 0, b"%020d" % 40 + child: 0})
    raw.set(keys.clock, 40)
    record = await store.get_session("p")
    assert record is not None
    assert (record.label, record.metadata, record.message_count) == ("old", {"k": 1}, 2)
    assert (record.scope, record.ttl, record.expires_at) == (None, None, None)
    assert await store.read_messages("c") == ['"1"', '"c2"']
    assert [r.id for r in (await store.list_sessions()).items] == ["c", "p"]
    assert await store.append_messages("p", msgs("3"), token="t") == 3
    assert await store.pop_messages("p", 3) == ['"1"', '"2"', *msgs("3")]
    assert await store.read_messages("c") == ['"1"', '"c2"']  # materialised before the pop
    assert [s async for s in store.iter_scopes()] == [None]


async def test_retention_sweep_reclaims_every_key(store: RedisStore, raw: redis.Redis) -> None:
    layout = await store._layout()
    for scope in (None, "x"):
        await store.create_session("gone", scope=scope, ttl=0.2)
        await store.append_messages("gone", msgs("a", "b"), scope=scope, token="t")
    await store.fork_session("gone", "fork", scope="x", at=1)
    keep = {scope: _neighbour(layout, "gone", scope, "keep") for scope in ("", "x")}
    for scope, sid in keep.items():
        await store.create_session(sid, scope=scope or None)
    before = _keys(raw, store)
    expiries = {layout.expiry(layout.bucket("gone", scope)) for scope in ("", "x")}
    assert sum(raw.zcard(key) for key in expiries) == 2
    await asyncio.sleep(0.3)
    # Invisible at once, before any sweep; a fork still reads the shared message.
    assert await store.get_session("gone") is None
    assert await store.read_messages("fork", scope="x") == msgs("a")
    assert _keys(raw, store) == before
    for scope, sid in keep.items():
        await store.append_messages(sid, msgs("w"), scope=scope or None)  # sweeps its bucket
    gone = {scope: layout.stem("gone", scope) for scope in ("", "x")}
    left = _keys(raw, store)
    assert not any(key.startswith(gone[""] + b":") for key in left)
    # What the fork pins stays, and nothing else of the expired session.
    kept = {key[len(gone["x"]) :] for key in left if key.startswith(gone["x"] + b":")}
    assert {key.split(b":")[1] for key in kept} == {b"m", b"p"}
    assert all(raw.exists(key) == 0 for key in expiries)
    fork_bucket = layout.bucket("fork", "x")
    assert [m[20:] for m in raw.zrange(layout.listing(fork_bucket, "x"), 0, -1)] == [
        layout.stem("fork", "x")
    ] + ([layout.stem(keep["x"], "x")] if layout.bucket(keep["x"], "x") == fork_bucket else [])
    assert await store.read_messages("fork", scope="x") == msgs("a")
    await store.create_session("gone", scope="x")  # the id is free again
    assert await store.read_messages("gone", scope="x") == []
    assert await store.read_messages("fork", scope="x") == msgs("a")
    assert await store.delete_session("fork", scope="x")
    # The last pin gone, the expired session's generation goes with it.
    left = _keys(raw, store)
    assert {key for key in left if key.startswith(gone["x"] + b":")} == {gone["x"] + b":r"}


async def test_sweeps_are_bounded_and_catch_up(one_bucket: RedisStore, raw: redis.Redis) -> None:
    store = one_bucket
    layout = await store._layout()
    count = 2 * SWEEP_BATCH + 3
    for i in range(count):
        await store.create_session(f"e{i}", scope="s", ttl=0.5)
    await asyncio.sleep(0.6)
    await store.create_session("w")
    assert raw.zcard(layout.expiry(0)) == count - SWEEP_BATCH
    assert (await store.list_sessions(scope="s")).items == []  # listing skips the expired
    for _ in range(2):
        await store.update_session("w", label="again")
    assert raw.zcard(layout.expiry(0)) == 0
    assert raw.exists(layout.listing(0, "s")) == 0


async def test_writes_slide_the_expiry_and_reads_do_not(
    store: RedisStore, raw: redis.Redis
) -> None:
    created = await store.create_session("s", ttl=30)
    assert created.ttl == 30
    assert created.expires_at is not None
    layout = await store._layout()
    stem, expiry = layout.stem("s", ""), layout.expiry(layout.bucket("s", ""))
    first = raw.zscore(expiry, stem)
    assert first is not None
    await asyncio.sleep(0.01)
    await store.read_messages("s")
    await store.get_session("s")
    assert raw.zscore(expiry, stem) == first
    await store.pop_messages("s")  # a pop of nothing still writes
    slid = raw.zscore(expiry, stem)
    assert slid is not None
    assert slid > first
    record = await store.get_session("s")
    assert record is not None
    assert record.expires_at is not None
    assert record.expires_at > created.expires_at
    # No key ever carries a native expiry: forks may share the messages.
    assert all(raw.pttl(key) == -1 for key in _keys(raw, store))


async def test_tokens_keep_the_latest_hundred(store: RedisStore, raw: redis.Redis) -> None:
    await store.create_session("s")
    for i in range(120):
        assert await store.append_messages("s", msgs(str(i)), token=f"t{i}") == i + 1
    stem = (await store._layout()).stem("s", "")
    assert raw.hlen(stem + b":t") == raw.llen(stem + b":q") == 100
    assert await store.append_messages("s", msgs("x"), token="t20") == 21  # still known
    assert await store.append_messages("s", msgs("x"), token="t19") == 121  # forgotten
    # Recalled before the length check, and not inherited by a fork.
    assert await store.append_messages("s", msgs("y"), expected_length=0, token="t119") == 120
    await store.fork_session("s", "f")
    assert await store.append_messages("f", msgs("z"), token="t119") == 122
    await store.delete_session("s")
    assert not raw.exists(stem + b":t", stem + b":q")
