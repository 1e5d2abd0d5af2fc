"""Session buckets: the tag table, the spread over cluster slots, the merged listing."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
import redis
from redis.crc import key_slot

import unistore
from unistore.errors import InvalidOptionError
from unistore_redis import RedisStore
from unistore_redis import _sessions as sessions_module
from unistore_redis._buckets import MAX_BUCKETS, TAGS, SessionLayout

Counts = Callable[[redis.Redis], dict[str, int]]
RoundTrips = Callable[[], AbstractContextManager[list[int]]]

SLOTS = 16384


@pytest.fixture(params=["one script", "pipelined"])
def merge(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where the buckets' listings merge: in one script (one server) or here (a cluster)."""
    if request.param == "pipelined":
        monkeypatch.setattr(sessions_module, "is_cluster", lambda client: True)
    return str(request.param)


def test_each_tag_lands_on_its_slot() -> None:
    assert len(TAGS) == MAX_BUCKETS
    assert len(set(TAGS)) == MAX_BUCKETS
    for i, code in enumerate(TAGS):
        assert key_slot(b"x:{:b" + code.encode() + b"}:list") == 16 * i


@pytest.mark.parametrize("buckets", [1 << k for k in range(11)])
def test_buckets_are_evenly_spaced_over_the_slots(buckets: int) -> None:
    layout = SessionLayout(b"p", buckets)
    slots = [key_slot(tag + b":clock") for tag in layout.tags]
    assert slots == [b * SLOTS // buckets for b in range(buckets)]
    stem = layout.stem("s", "scope")
    keys = [stem + b":r", stem + b":m:3", stem + b":p"]
    keys.append(layout.listing(layout.bucket("s", "scope"), "scope"))
    assert {key_slot(key) for key in keys} == {slots[layout.bucket("s", "scope")]}


def test_the_bucket_of_a_session_is_stable() -> None:
    # crc32 of the escaped scope and id: the same in every process and version.
    layout = SessionLayout(b"p", 64)
    assert [layout.bucket(sid, scope) for sid, scope in [("s", ""), ("s", "a"), ("", "")]] == [
        0,
        58,
        63,
    ]
    assert layout.bucket("é", "x") == 40


def _masters(count: int) -> list[range]:
    """The slot ranges ``redis-cli --cluster create`` gives ``count`` masters."""
    share = SLOTS / count
    bounds = [round(share * i) for i in range(count)] + [SLOTS]
    return [range(bounds[i], bounds[i + 1]) for i in range(count)]


@pytest.mark.redis
async def test_ten_thousand_sessions_spread_over_the_masters(
    store: RedisStore, raw: redis.Redis
) -> None:
    ids = [f"user-{i}" for i in range(10_000)]
    for start in range(0, len(ids), 200):
        batch = ids[start : start + 200]
        await asyncio.gather(*(store.create_session(sid, messages=['"m"']) for sid in batch))
    slots = Counter(key_slot(key) for key in raw.scan_iter(match=store._keys.glob(), count=5000))
    for masters in (3, 6):
        per_master = [sum(n for slot, n in slots.items() if slot in r) for r in _masters(masters)]
        mean = sum(per_master) / masters
        assert all(abs(n - mean) <= 0.2 * mean for n in per_master), per_master


@pytest.mark.redis
async def test_listing_pages_across_buckets_with_ties(
    store: RedisStore, raw: redis.Redis, merge: str
) -> None:
    layout = await store._layout()
    ids = [f"s{i}" for i in range(30)]
    for sid in ids:
        await store.create_session(sid)
    # Every second session gets one and the same update time: ties across buckets.
    tie = int(raw.hget(layout.stem(ids[-1], "") + b":r", "u") or 0) + 1
    for sid in ids[::2]:
        stem = layout.stem(sid, "")
        listing = layout.listing(layout.bucket(sid, ""), "")
        old = int(raw.hget(stem + b":r", "u") or 0)
        raw.zrem(listing, b"%020d" % old + stem)
        raw.zadd(listing, {b"%020d" % tie + stem: 0})
        raw.hset(stem + b":r", "u", tie)
    stamps = {sid: int(raw.hget(layout.stem(sid, "") + b":r", "u") or 0) for sid in ids}
    expected = sorted(ids, key=lambda sid: (stamps[sid], layout.stem(sid, "")), reverse=True)
    for limit in (1, 2, 7, 30, 31):
        seen, cursor = [], None
        while True:
            page = await store.list_sessions(limit=limit, cursor=cursor)
            assert len(page.items) <= limit
            seen += [record.id for record in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == expected, limit


@pytest.mark.redis
async def test_a_page_held_by_one_bucket_is_refilled(
    store: RedisStore, round_trips: RoundTrips, merge: str
) -> None:
    layout = await store._layout()
    for i in range(40):
        await store.create_session(f"old{i}")
    crowd = layout.bucket("crowd", "")
    newest = list(
        itertools.islice(
            (f"n{i}" for i in itertools.count() if layout.bucket(f"n{i}", "") == crowd), 25
        )
    )
    for sid in newest:
        await store.create_session(sid)
    await store.list_sessions(limit=1)  # loads the script: no NOSCRIPT below
    with round_trips() as sent:
        page = await store.list_sessions(limit=20)
    assert [record.id for record in page.items] == newest[::-1][:20]
    # One script; or every bucket once, one refill of the crowded bucket, the records.
    assert sent[0] == (1 if merge == "one script" else 3)
    rest = await store.list_sessions(limit=10, cursor=page.next_cursor)
    assert [record.id for record in rest.items][:5] == newest[::-1][20:]


@pytest.mark.redis
async def test_a_scope_lists_without_scanning(
    private_store: RedisStore, private_raw: redis.Redis, command_counts: Counts, merge: str
) -> None:
    for scope in ("a", "b"):
        for i in range(5):
            await private_store.create_session(f"s{i}", scope=scope)
    private_raw.config_resetstat()
    page = await private_store.list_sessions(scope="a", limit=3)
    assert [r.scope for r in page.items] == ["a"] * 3
    assert "scan" not in command_counts(private_raw)


@pytest.mark.redis
async def test_creating_with_messages_is_one_script(
    store: RedisStore, round_trips: RoundTrips
) -> None:
    await store.create_session("warm")  # the layout check (and record) of a new store object
    with round_trips() as sent:
        record = await store.create_session("s", messages=['"a"', '"b"'], label="l")
    assert sent[0] == 1
    assert record.message_count == 2
    assert await store.read_messages("s") == ['"a"', '"b"']


@pytest.mark.redis
async def test_a_mismatching_bucket_count_is_refused(store: RedisStore, url: str) -> None:
    await store.create_session("s")
    other = unistore.connect(url, key_prefix=store.key_prefix, session_buckets=8)
    async with other:
        with pytest.raises(InvalidOptionError) as info:
            await other.get_session("s")
    assert "session_buckets=8" in str(info.value)
    assert "session_buckets=64" in str(info.value)
    same = unistore.connect(url, key_prefix=store.key_prefix, session_buckets=64)
    async with same:
        assert await same.get_session("s") is not None


@pytest.mark.parametrize("value", [0, 3, 2048, "x", True])
def test_bucket_counts_are_powers_of_two(value: object) -> None:
    with pytest.raises(InvalidOptionError, match="session_buckets"):
        unistore.connect("redis://127.0.0.1:1/0", session_buckets=value)


def _tag(key: bytes) -> bytes:
    """Return the part of ``key`` Redis Cluster hashes (its first non-empty ``{...}``)."""
    start = key.index(b"{")
    return key[start + 1 : key.index(b"}", start + 1)]


@pytest.mark.redis
async def test_every_key_of_a_session_carries_its_bucket_tag(
    store: RedisStore, raw: redis.Redis
) -> None:
    # Each script touches one session's keys and its bucket's listing, clock
    # and expiry index: on Redis Cluster they must all hash to one slot.
    await store.create_session("p{x}", ttl=60)
    await store.append_messages("p{x}", ['"a"', '"b"'], expected_length=0, token="t")
    await store.fork_session("p{x}", "c:1", at=1)
    await store.append_messages("c:1", ['"c"'], expected_length=1)
    await store.replace_messages("p{x}", 0, ['"z"'], expected_length=2)
    layout = await store._layout()
    keys = set(raw.scan_iter(match=store._keys.glob(), count=1000))
    for sid in ("p{x}", "c:1"):
        bucket = layout.bucket(sid, "")
        stem = layout.stem(sid, "")
        mine = {key for key in keys if key.startswith(stem + b":")}
        mine |= {layout.listing(bucket, ""), layout.clock(bucket)}
        assert {_tag(key) for key in mine} == {_tag(layout.tags[bucket])}
    assert keys - {layout.meta} == {
        key for key in keys if _tag(key) in {_tag(tag) for tag in layout.tags}
    }
    assert await store.read_messages("c:1") == ['"a"', '"c"']


@pytest.mark.redis
async def test_reads_record_no_bucket_count_and_a_write_does(
    store: RedisStore, raw: redis.Redis
) -> None:
    assert await store.get_session("none") is None
    assert (await store.list_sessions()).items == []
    assert not raw.exists(store._keys.prefix + b":{:meta}:sessions")
    await store.create_session("s")
    assert raw.exists(store._keys.prefix + b":{:meta}:sessions")
