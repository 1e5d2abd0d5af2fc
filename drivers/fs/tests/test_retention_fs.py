"""Retention on files: expired sessions vanish, their folders are reclaimed, forks keep theirs.

Slots that never expire are never touched by the sweep.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from unistore import SessionNotFoundError, StoreURL
from unistore_fs import FileStore
from unistore_fs._names import scope_dir_name

START = 1_800_000_000.0


class _Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


@pytest_asyncio.fixture
async def timed(root: Path, clock: _Clock) -> AsyncIterator[FileStore]:
    """A store on the manual clock, with the periodic sweep off (tests call it)."""
    url = StoreURL.parse(f"file://{root}")
    async with FileStore(url, path=str(root), clock=clock, sweep_every=0) as store:
        yield store


def _sessions(root: Path, scope: str | None = None) -> list[str]:
    folder = root / "sessions" if scope is None else root / "scopes" / scope_dir_name(scope)
    if scope is not None:
        folder /= "sessions"
    return sorted(p.name for p in folder.iterdir())


async def test_expired_sessions_are_invisible_then_reclaimed_by_the_sweep(
    timed: FileStore, clock: _Clock, root: Path
) -> None:
    for scope in (None, "tenant"):
        await timed.create_session("short", scope=scope, ttl=10)
        await timed.create_session("kept", scope=scope)
    record = await timed.get_session("short", scope="tenant")
    assert record is not None
    assert record.ttl == 10
    assert record.expires_at is not None
    assert record.expires_at.timestamp() == pytest.approx(START + 10)
    clock.now += 10.5
    for scope in (None, "tenant"):
        assert await timed.get_session("short", scope=scope) is None
        assert [r.id for r in (await timed.list_sessions(scope=scope)).items] == ["kept"]
        with pytest.raises(SessionNotFoundError):
            await timed.read_messages("short", scope=scope)
        assert _sessions(root, scope) == ["kept", "short"]  # invisible, not yet reclaimed
    assert await timed.sweep() == 2
    for scope in (None, "tenant"):
        assert _sessions(root, scope) == ["kept"]
    # The id is free again, with nothing of the old session left.
    await timed.create_session("short", scope="tenant")
    assert await timed.read_messages("short", scope="tenant") == []


async def test_every_write_slides_the_expiry_and_reads_do_not(
    timed: FileStore, clock: _Clock
) -> None:
    await timed.create_session("s", ttl=10)
    for write in (
        timed.append_messages("s", ["a", "b"]),
        timed.replace_messages("s", 1, ["c"], expected_length=2),
        timed.pop_messages("s"),
        timed.update_session("s", label="later"),
    ):
        clock.now += 8
        await write
        record = await timed.get_session("s")
        assert record is not None
        assert record.expires_at is not None
        assert record.expires_at.timestamp() == pytest.approx(clock.now + 10)
    clock.now += 8
    assert await timed.read_messages("s") == ["a"]
    clock.now += 2.5
    assert await timed.get_session("s") is None


async def test_a_write_to_an_expired_session_reclaims_it(
    timed: FileStore, clock: _Clock, root: Path
) -> None:
    await timed.create_session("s", ttl=5)
    await timed.append_messages("s", ["a"])
    clock.now += 6
    with pytest.raises(SessionNotFoundError):
        await timed.append_messages("s", ["b"])
    assert _sessions(root) == []
    await timed.create_session("t", ttl=5)
    clock.now += 6
    assert not await timed.delete_session("t")
    assert _sessions(root) == []


async def test_forks_keep_their_shared_messages_when_the_parent_expires(
    timed: FileStore, clock: _Clock, root: Path
) -> None:
    await timed.create_session("parent", scope="t", ttl=5)
    await timed.append_messages("parent", ["a", "b", "c"], scope="t")
    await timed.fork_session("parent", "child", at=2, scope="t")
    await timed.fork_session("child", "grandchild", scope="t", ttl=1000)
    await timed.append_messages("grandchild", ["g"], scope="t")
    record = await timed.get_session("child", scope="t")
    assert record is not None
    assert record.ttl is None  # a fork gets only the ttl given to the fork
    clock.now += 6
    assert await timed.get_session("parent", scope="t") is None
    assert await timed.read_messages("child", scope="t") == ["a", "b"]
    assert await timed.sweep() == 1
    assert _sessions(root, "t") == ["child", "grandchild"]
    assert await timed.read_messages("child", scope="t") == ["a", "b"]
    assert await timed.read_messages("grandchild", scope="t") == ["a", "b", "g"]
    folder = root / "scopes" / scope_dir_name("t") / "sessions" / "child"
    assert json.loads((folder / "meta.json").read_text())["base"] is None


async def test_an_expired_fork_is_reclaimed_not_copied(
    timed: FileStore, clock: _Clock, root: Path
) -> None:
    await timed.create_session("parent")
    await timed.append_messages("parent", ["a", "b"])
    await timed.fork_session("parent", "brief", ttl=5)
    clock.now += 6
    # The edit would have to give the fork its own copy; an expired one just goes.
    await timed.replace_messages("parent", 0, ["x"], expected_length=2)
    assert _sessions(root) == ["parent"]
    assert json.loads((root / "sessions" / "parent" / "meta.json").read_text())["forks"] == []


async def test_an_expired_id_can_be_forked_into(timed: FileStore, clock: _Clock) -> None:
    await timed.create_session("old", ttl=5)
    await timed.append_messages("old", ["o1", "o2"])
    await timed.fork_session("old", "parent")  # "parent" is a fork of what expires
    clock.now += 6
    await timed.fork_session("parent", "old")
    assert await timed.read_messages("old") == ["o1", "o2"]
    assert await timed.read_messages("parent") == ["o1", "o2"]


async def test_slots_without_expiry_survive_the_sweep(
    root: Path, clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("unistore_fs._ns_ops.SWEEP_GRACE", 0.0)
    url = StoreURL.parse(f"file://{root}")
    async with FileStore(url, path=str(root), clock=clock, sweep_every=1) as store:
        await store.set("n", "scalar", b"v", ttl=None)
        await store.hset("n", "hash", {"f": b"v"}, ttl=None)
        assert await store.incr("n", "counter", ttl=None) == 1
        await store.set_many("n", {"a": b"1", "b": b"2"}, ttl=None)
        async with store.transaction("n", watch=["tx"]) as tx:
            tx.set("tx", b"t", ttl=None)
            tx.hset("tx-hash", {"f": b"t"}, ttl=None)
            await tx.commit()
        await store.set("n", "was-short", b"v", ttl=1)
        await store.set("n", "was-short", b"v", ttl=None)  # drops the old expiry
        await store.set("n", "short", b"v", ttl=1)
        slot = json.loads((root / "ns" / "n" / "scalar.json").read_text())
        assert slot["expires_at"] is None
        clock.now += 100 * 365 * 86400.0
        for _ in range(3):
            await store.sweep()
        names = ["a", "b", "counter", "hash", "scalar", "tx", "tx-hash", "was-short"]
        assert await store.slots("n") == names
        assert sorted(p.name for p in (root / "ns" / "n").iterdir()) == sorted(
            [".lock", *(f"{name}.json" for name in names)]
        )
        assert await store.get_ttl("n", "scalar") == math.inf
        assert await store.get_ttl("n", "hash") == math.inf
        assert await store.incr("n", "counter", ttl=5) == 2
        assert await store.get_ttl("n", "counter") == math.inf
        assert await store.get_many("n", ["a", "b", "tx", "hash"]) == [b"1", b"2", b"t", None]
