"""Forks across buckets: generations, pins, their collection, and reads that stop early."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from typing import Any

import pytest
import redis

import unistore
from unistore.errors import UnistoreError
from unistore_redis import RedisStore
from unistore_redis import _lua_sessions as lua
from unistore_redis._buckets import SessionLayout

pytestmark = pytest.mark.redis

Counts = Callable[[redis.Redis], dict[str, int]]


def msgs(*names: str) -> list[str]:
    return [json.dumps({"m": name}) for name in names]


def keys_of(raw: redis.Redis, stem: bytes) -> set[bytes]:
    """Every key of one session stem (its record, generations, pins, tokens)."""
    pattern = stem.replace(b"[", b"\\[").replace(b"*", b"\\*") + b":*"
    return set(raw.scan_iter(match=pattern, count=1000))


def apart(layout: SessionLayout, count: int, stem: str = "s") -> list[str]:
    """Return ``count`` ids of the default scope, each in a bucket of its own."""
    ids: dict[int, str] = {}
    for i in itertools.count():
        sid = f"{stem}{i}"
        ids.setdefault(layout.bucket(sid, ""), sid)
        if len(ids) == count:
            return list(ids.values())
    raise AssertionError("unreachable")


def generation(raw: redis.Redis, layout: SessionLayout, sid: str) -> bytes:
    value = raw.hget(layout.stem(sid, "") + b":r", "g")
    assert value is not None
    return value


async def test_edit_under_a_fork_keeps_what_it_reads(store: RedisStore, raw: redis.Redis) -> None:
    layout = await store._layout()
    parent, fork = apart(layout, 2)
    await store.create_session(parent, messages=msgs("1", "2", "3"))
    await store.fork_session(parent, fork, at=2)
    first = generation(raw, layout, parent)
    # A cut at or past every fork point trims in place.
    await store.replace_messages(parent, 2, msgs("y"), expected_length=3)
    assert generation(raw, layout, parent) == first
    # A cut below a fork point starts a generation; the pinned one stays as it was.
    await store.replace_messages(parent, 1, msgs("x"), expected_length=3)
    second = generation(raw, layout, parent)
    assert second != first
    assert await store.read_messages(parent) == msgs("1", "x")
    assert await store.read_messages(fork) == msgs("1", "2")
    stem = layout.stem(parent, "")
    assert raw.lrange(stem + b":m:" + first, 0, -1) == [m.encode() for m in msgs("1", "2", "y")]
    # The fork goes: its pin goes, and the generation nobody reads is collected.
    await store.delete_session(fork)
    assert keys_of(raw, stem) == {stem + b":r", stem + b":m:" + second}


async def test_pop_under_a_fork(store: RedisStore, raw: redis.Redis) -> None:
    layout = await store._layout()
    parent, fork, other = apart(layout, 3)
    await store.create_session(parent, messages=msgs("1", "2", "3", "4"))
    await store.fork_session(parent, fork)
    await store.fork_session(parent, other, at=1)
    assert await store.pop_messages(parent, 2) == msgs("3", "4")
    assert await store.read_messages(parent) == msgs("1", "2")
    assert await store.read_messages(fork) == msgs("1", "2", "3", "4")
    assert await store.read_messages(other) == msgs("1")
    # A pop that reaches into what a fork shares with its own base.
    assert await store.pop_messages(fork, 3) == msgs("2", "3", "4")
    assert await store.pop_messages(fork, 5) == msgs("1")
    record = raw.hgetall(layout.stem(fork, "") + b":r")
    assert b"base" not in record  # it shares nothing any more, and unpinned
    await store.delete_session(other)
    stem = layout.stem(parent, "")
    assert keys_of(raw, stem) == {stem + b":r", stem + b":m:" + generation(raw, layout, parent)}


async def test_deleting_a_parent_keeps_what_forks_pin(store: RedisStore, raw: redis.Redis) -> None:
    layout = await store._layout()
    parent, fork, grandchild = apart(layout, 3)
    await store.create_session(parent, messages=msgs("1", "2", "3"))
    await store.fork_session(parent, fork, at=2)
    await store.append_messages(fork, msgs("f3"))
    await store.fork_session(fork, grandchild, at=3)
    pinned = generation(raw, layout, parent)
    assert await store.delete_session(parent)
    # Gone at once from reads and the listing; the forks read on.
    assert await store.get_session(parent) is None
    listed = [r.id for r in (await store.list_sessions()).items]
    assert parent not in listed
    assert sorted(listed) == sorted([fork, grandchild])
    assert await store.read_messages(grandchild) == msgs("1", "2", "f3")
    stem = layout.stem(parent, "")
    assert keys_of(raw, stem) == {stem + b":p", stem + b":m:" + pinned}
    # The id is free again; the new session never meets the old one's messages.
    await store.create_session(parent, messages=msgs("new"))
    assert await store.read_messages(parent) == msgs("new")
    assert await store.read_messages(fork) == msgs("1", "2", "f3")
    await store.delete_session(parent)
    await store.delete_session(fork)
    assert await store.read_messages(grandchild) == msgs("1", "2", "f3")
    await store.delete_session(grandchild)
    # The last pin went: nothing of any of them is left.
    for sid in (parent, fork, grandchild):
        assert keys_of(raw, layout.stem(sid, "")) == set()


async def test_a_fork_inside_its_parents_prefix_pins_the_base(
    store: RedisStore, raw: redis.Redis
) -> None:
    layout = await store._layout()
    base, middle, leaf = apart(layout, 3)
    await store.create_session(base, messages=msgs("1", "2", "3"))
    await store.fork_session(base, middle)
    await store.append_messages(middle, msgs("m4"))
    await store.fork_session(middle, leaf, at=2)
    record = raw.hgetall(layout.stem(leaf, "") + b":r")
    # The leaf reads nothing of the middle session: it pins the base directly.
    assert record[b"base"] == layout.stem(base, "")
    assert (record[b"parent"], record[b"fp"]) == (middle.encode(), b"2")
    await store.delete_session(middle)
    assert await store.read_messages(leaf) == msgs("1", "2")


async def test_reading_the_last_messages_stops_walking_the_chain(
    private_store: RedisStore, private_raw: redis.Redis, command_counts: Counts
) -> None:
    store = private_store
    layout = await store._layout()
    chain = apart(layout, 12, "c")
    await store.create_session(chain[0], messages=msgs("0"))
    for i, (parent, child) in enumerate(itertools.pairwise(chain), start=1):
        await store.fork_session(parent, child)
        await store.append_messages(child, msgs(str(i)))
    await store.read_messages(chain[0])  # loads the scripts: no NOSCRIPT below
    await store.read_messages(chain[1])
    private_raw.config_resetstat()
    assert await store.read_messages(chain[-1], last=1) == msgs("11")
    assert command_counts(private_raw)["evalsha"] == 1
    private_raw.config_resetstat()
    assert await store.read_messages(chain[-1], last=3) == msgs("9", "10", "11")
    assert command_counts(private_raw)["evalsha"] == 3  # one script per bucket read
    assert await store.read_messages(chain[-1]) == msgs(*map(str, range(12)))


async def test_a_pin_without_a_fork_is_reclaimed(store: RedisStore, raw: redis.Redis) -> None:
    layout = await store._layout()
    parent, ghost = apart(layout, 2)
    await store.create_session(parent, messages=msgs("1", "2", "3"))
    stem, ghost_stem = layout.stem(parent, ""), layout.stem(ghost, "")
    # A fork that pinned and never got created (its client died in between).
    bucket = layout.bucket(parent, "")
    reply = await lua.FORK_PIN.run(
        store.client, layout.script_keys(bucket, ""), [stem, b"", b"n0nce", ghost_stem]
    )
    assert reply[0] == 1
    first = generation(raw, layout, parent)
    await store.replace_messages(parent, 0, msgs("x"), expected_length=3)
    # The edit kept the pinned generation, found no fork behind the pin, and dropped both.
    assert keys_of(raw, stem) == {stem + b":r", stem + b":m:" + generation(raw, layout, parent)}
    assert raw.exists(stem + b":m:" + first) == 0
    # A creation still on its way is refused (it would read a collected generation).
    args = [ghost_stem, ghost.encode(), parent.encode(), 3, b"0", b"", b"{}", b"", 0, stem]
    args += [first, b"n0nce"]
    created = await lua.FORK_CREATE.run(
        store.client, layout.script_keys(layout.bucket(ghost, ""), ""), args
    )
    assert created[0] == -4
    assert await store.get_session(ghost) is None


async def test_pins_of_live_forks_are_checked_once(
    private_store: RedisStore, private_raw: redis.Redis, command_counts: Counts
) -> None:
    store = private_store
    layout = await store._layout()
    parent, fork, warm, warm_fork = apart(layout, 4)
    for sid in (warm, parent):
        await store.create_session(sid, messages=msgs("1", "2", "3", "4"))
    await store.fork_session(warm, warm_fork)  # loads the scripts: no NOSCRIPT below
    await store.replace_messages(warm, 1, msgs("w"), expected_length=4)
    await store.fork_session(parent, fork)
    stem = layout.stem(parent, "")
    private_raw.config_resetstat()
    await store.replace_messages(parent, 2, msgs("x"), expected_length=4)
    # The edit kept the pinned generation; its pin was checked and marked alive.
    assert command_counts(private_raw)["evalsha"] == 3
    (pin,) = [v for f, v in private_raw.hgetall(stem + b":p").items() if f.startswith(b"c")]
    assert pin.endswith(b" 1")
    private_raw.config_resetstat()
    await store.replace_messages(parent, 1, msgs("y"), expected_length=3)
    assert command_counts(private_raw)["evalsha"] == 1  # nothing pins the new generation
    assert await store.read_messages(fork) == msgs("1", "2", "3", "4")


async def _apply(store: Any, op: tuple[Any, ...]) -> Any:
    """Run one operation; return its result or the name of the error it raised."""
    name, sid, *rest = op
    try:
        if name == "create":
            return (await store.create_session(sid, messages=rest[0])).message_count
        if name == "append":
            return await store.append_messages(sid, rest[0])
        if name == "replace":
            record = await store.get_session(sid)
            start = min(rest[0], record.message_count) if record else 0
            length = record.message_count if record else 0
            return await store.replace_messages(sid, start, rest[1], expected_length=length)
        if name == "pop":
            return await store.pop_messages(sid, rest[0])
        if name == "fork":
            record = await store.get_session(sid)
            at = min(rest[1], record.message_count) if record else 0
            return (await store.fork_session(sid, rest[0], at=at)).fork_point
        if name == "delete":
            return await store.delete_session(sid)
        if name == "read":
            return await store.read_messages(sid, last=rest[0])
        raise AssertionError(name)
    except UnistoreError as exc:
        return type(exc).__name__


def _script(seed: int, count: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    ids = [f"s{i}" for i in range(12)]
    ops: list[tuple[Any, ...]] = []
    for n in range(count):
        sid = rng.choice(ids)
        kind = rng.choices(
            ["create", "append", "replace", "pop", "fork", "delete", "read"],
            [3, 4, 2, 2, 3, 1, 4],
        )[0]
        new = [json.dumps(f"{n}.{i}") for i in range(rng.randint(0, 3))]
        if kind in ("create", "append"):
            ops.append((kind, sid, new))
        elif kind == "replace":
            ops.append((kind, sid, rng.randint(0, 6), new))
        elif kind == "pop":
            ops.append((kind, sid, rng.randint(1, 4)))
        elif kind == "fork":
            ops.append((kind, sid, rng.choice(ids), rng.randint(0, 8)))
        elif kind == "read":
            ops.append((kind, sid, rng.choice([None, 1, 2, 5])))
        else:
            ops.append((kind, sid))
    return ops


@pytest.mark.parametrize("buckets", [1, 4, 64])
async def test_random_histories_read_as_on_the_memory_driver(
    url: str, prefix: str, buckets: int
) -> None:
    reference = unistore.connect("memory://")
    store = unistore.connect(url, key_prefix=prefix, session_buckets=buckets)
    async with reference, store:
        try:
            for step, op in enumerate(_script(buckets, 400)):
                assert await _apply(store, op) == await _apply(reference, op), (step, op)
            for i in range(12):
                sid = f"s{i}"
                assert await _apply(store, ("read", sid, None)) == await _apply(
                    reference, ("read", sid, None)
                )
            mine = [
                (r.id, r.parent_id, r.message_count)
                for r in (await store.list_sessions(limit=50)).items
            ]
            theirs = [
                (r.id, r.parent_id, r.message_count)
                for r in (await reference.list_sessions(limit=50)).items
            ]
            assert mine == theirs
            # Every session gone, every generation and pin went with them.
            for i in range(12):
                await store.delete_session(f"s{i}")
            left = [key async for key in store.client.scan_iter(match=store._keys.glob())]
            assert [key for key in left if b":s:" in key] == []
        finally:
            await store.destroy()  # type: ignore[attr-defined]
