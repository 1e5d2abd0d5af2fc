"""copy_store and ``unistore copy``: every pair of shipped drivers, read back through the other.

Each test seeds a source store through the library, copies with the command
(or the function) and checks the destination through its own driver: slot
kinds, values and remaining TTLs; sessions with labels, metadata, forks kept
as forks, hostile ids, listing order; and that a second run skips what is
already there.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import unistore
from unistore import (
    Capability,
    CopyProgress,
    CopyReport,
    NotSupportedError,
    SlotKind,
    StoreURL,
    ValidationError,
    copy_store,
)
from unistore._cli._app import cli
from unistore.protocols import NamespaceListing
from unistore.sdk import CREATE_OPTION
from unistore_test_support import destroy_url, make_store_url

DRIVERS = ["memory", "sqlite", "file", "redis", "postgresql"]
_MARKS = {"redis": pytest.mark.redis, "postgresql": pytest.mark.postgres}

TEN_KB = ("copy-0123456789/:*?[]{}%" * 500)[:10240]
HOSTILE_NS = "x:*?[a-z]{t}/../%2F\x00\n"
HOSTILE_SESSION = "s:*?[]{t}/../\x00\n\u00e9"
HOSTILE_FORK = "f\x00*\n"


@pytest.fixture
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    src_driver, dst_driver = request.param
    src = make_store_url(src_driver, tmp_path, "src", shared=True)
    dst = make_store_url(dst_driver, tmp_path, "dst", shared=True)
    yield src, dst
    destroy_url(src)
    destroy_url(dst)


def _pairs() -> list[Any]:
    return [
        pytest.param(
            (src, dst),
            id=f"{src}-{dst}",
            marks=[_MARKS[d] for d in {src, dst} if d in _MARKS],
        )
        for src in DRIVERS
        for dst in DRIVERS
    ]


def _message(tag: str) -> str:
    return json.dumps({"role": "user", "content": f"{tag} \u00e9\U0001f600"}, ensure_ascii=False)


SLOTS: dict[tuple[str, str], tuple[SlotKind, Any, float]] = {
    ("app:1", "name"): (SlotKind.SCALAR, b"Ana", 600.0),
    ("app:1", "basket"): (SlotKind.HASH, {"a": b"1", "b*": b"2"}, 300.0),
    ("app:1", "views"): (SlotKind.SCALAR, b"5", 900.0),
    (HOSTILE_NS, "s*\n"): (SlotKind.SCALAR, b"\xff\x00bin", 120.0),
    (HOSTILE_NS, "h"): (SlotKind.HASH, {"\x00": b"", "f": b"\xfe"}, 200.0),
    (TEN_KB, TEN_KB[:500]): (SlotKind.SCALAR, b"long", 400.0),
}


async def _seed(src: Any, dst: Any) -> None:
    await src.set("app:1", "name", b"Ana", ttl=600)
    await src.hset("app:1", "basket", {"a": b"1", "b*": b"2"}, ttl=300)
    await src.incr("app:1", "views", 5, ttl=900)
    await src.set(HOSTILE_NS, "s*\n", b"\xff\x00bin", ttl=120)
    await src.hset(HOSTILE_NS, "h", {"\x00": b"", "f": b"\xfe"}, ttl=200)
    await src.set(TEN_KB, TEN_KB[:500], b"long", ttl=400)
    # The destination already holds other versions of two slots: they are overwritten.
    await dst.hset("app:1", "name", {"old": b"kind"}, ttl=50)
    await dst.hset("app:1", "basket", {"zzz": b"stale"}, ttl=50)

    await src.create_session("root", label="Root", metadata={"k": [1, "two"], "u": "\u00e9"})
    await src.append_messages("root", [_message(f"m{i}") for i in range(4)], expected_length=0)
    await src.fork_session("root", "fork", at=2, label="Fork")
    await src.append_messages("fork", [_message("f0")], expected_length=2)
    await src.fork_session("fork", "fork2", at=3, metadata={"depth": 2})
    await src.append_messages("fork2", [_message("g0")], expected_length=3)
    await src.fork_session("root", "edited", at=3)
    await src.append_messages("edited", [_message("e0")], expected_length=3)
    # Editing the root after the forks: "edited" no longer matches it past message 2.
    await src.replace_messages("root", 2, [_message("r2")], expected_length=4)
    await src.append_messages("root", [_message("r3")], expected_length=3)
    await src.create_session(HOSTILE_SESSION, label="hostile\nlabel")
    await src.append_messages(HOSTILE_SESSION, [_message("h0"), _message("h1")], expected_length=0)
    await src.fork_session(HOSTILE_SESSION, HOSTILE_FORK, at=1)
    await src.append_messages(HOSTILE_FORK, [_message("hf")], expected_length=1)
    await src.create_session("gone")
    await src.append_messages("gone", [_message("x0"), _message("x1")], expected_length=0)
    await src.fork_session("gone", "orphan", at=2, label="orphan")
    await src.append_messages("orphan", [_message("o0")], expected_length=2)
    await src.delete_session("gone")


SESSION_IDS = {"root", "fork", "fork2", "edited", HOSTILE_SESSION, HOSTILE_FORK, "orphan"}


async def _listing(store: Any) -> list[Any]:
    records: list[Any] = []
    cursor = None
    while True:
        page = await store.list_sessions(limit=3, cursor=cursor)
        records += page.items
        if page.next_cursor is None:
            return records
        cursor = page.next_cursor


def _can_list(store: Any) -> bool:
    return Capability.NAMESPACE_LISTING in store.capabilities and isinstance(
        store, NamespaceListing
    )


async def _check_copy(src_url: str, dst_url: str, namespaces: bool) -> None:
    async with unistore.connect(src_url) as src, unistore.connect(dst_url) as dst:
        s: Any = src
        d: Any = dst
        if namespaces:
            for (ns, slot), (kind, value, ttl) in SLOTS.items():
                assert await d.slot_kind(ns, slot) is kind, (ns[:20], slot[:20])
                if kind is SlotKind.HASH:
                    assert await d.hgetall(ns, slot) == value
                else:
                    assert await d.get(ns, slot) == value
                left = await d.get_ttl(ns, slot)
                assert left is not None
                assert ttl - 60 < left <= ttl
            assert await d.incr("app:1", "views", 1, ttl=10) == 6  # still a counter
        src_order = [r.id for r in await _listing(s)]
        dst_records = {r.id: r for r in await _listing(d)}
        assert set(dst_records) == SESSION_IDS
        for session_id in SESSION_IDS:
            original = await s.get_session(session_id)
            copied = dst_records[session_id]
            assert await d.read_messages(session_id) == await s.read_messages(session_id)
            assert copied.label == original.label
            assert dict(copied.metadata) == dict(original.metadata)
            assert copied.message_count == original.message_count
            if session_id == "orphan":
                assert copied.parent_id is None  # its parent is gone: lineage cannot be made
            else:
                assert (copied.parent_id, copied.fork_point) == (
                    original.parent_id,
                    original.fork_point,
                )
        dst_order = [r.id for r in await _listing(d)]
        assert dst_order == src_order


def _copy_cli(*args: str) -> dict[str, int]:
    result = CliRunner().invoke(cli, ["copy", *args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    report: dict[str, int] = json.loads(result.stdout)
    return report


@pytest.mark.parametrize("stores", _pairs(), indirect=True)
def test_copy_between_every_pair_of_drivers(stores: tuple[str, str]) -> None:
    src_url, dst_url = stores

    async def seed() -> bool:
        async with unistore.connect(src_url) as src, unistore.connect(dst_url) as dst:
            await _seed(src, dst)
            return _can_list(src)

    namespaces = asyncio.run(seed())
    flag = "--namespaces" if namespaces else "--no-namespaces"
    first = _copy_cli(src_url, dst_url, flag)
    assert first["sessions"] == len(SESSION_IDS)
    assert first["forks"] == len(SESSION_IDS) - 3  # root, hostile root and orphan are not
    assert first["sessions_skipped"] == 0
    if namespaces:
        assert (first["namespaces"], first["slots"]) == (3, len(SLOTS))
    asyncio.run(_check_copy(src_url, dst_url, namespaces))

    again = _copy_cli(src_url, dst_url, flag)
    assert again["sessions"] == 0
    assert again["sessions_updated"] == 0
    assert again["sessions_skipped"] == len(SESSION_IDS)
    assert again["messages"] == 0
    if namespaces:
        assert again["slots"] == len(SLOTS)  # slots are simply overwritten
    asyncio.run(_check_copy(src_url, dst_url, namespaces))


def test_copy_from_a_driver_that_cannot_list_namespaces_says_so(tmp_path: Path) -> None:
    from unistore._memory import MemoryStore

    class NoListing(MemoryStore):
        CAPABILITIES = frozenset(Capability) - {Capability.NAMESPACE_LISTING}

    unistore.register(
        "nolisting",
        lambda url, options: NoListing(StoreURL.parse("memory://")),
        options=(CREATE_OPTION,),
    )
    try:
        result = CliRunner().invoke(cli, ["copy", "nolisting://", "memory://nl-dst"])
        assert result.exit_code == 1
        assert result.stderr.startswith("error: cannot copy namespaces")
        assert "copy sessions only" in result.stderr
        sessions_only = CliRunner().invoke(
            cli, ["copy", "nolisting://", "memory://nl-dst", "--no-namespaces"]
        )
        assert sessions_only.exit_code == 0, sessions_only.output
    finally:
        unistore.unregister("nolisting")


def test_copy_prints_a_summary_table() -> None:
    async def seed() -> None:
        async with unistore.connect("memory://table-src") as src:
            s: Any = src
            await s.set("a:1", "x", b"1", ttl=60)
            await s.create_session("one")
            await s.fork_session("one", "two")

    asyncio.run(seed())
    result = CliRunner().invoke(cli, ["copy", "memory://table-src", "memory://table-dst"])
    assert result.exit_code == 0, result.output
    assert "copied memory://table-src -> memory://table-dst" in result.stdout
    assert "2 (1 as forks)" in result.stdout
    again = CliRunner().invoke(cli, ["copy", "memory://table-src", "memory://table-dst"])
    assert "2 already there" in again.stdout
    same = CliRunner().invoke(cli, ["copy", "memory://table-src", "memory://table-src"])
    assert same.exit_code == 2
    assert "the same store" in same.stderr


@pytest.mark.slow
def test_copy_a_10000_message_session_memory_to_sqlite(tmp_path: Path) -> None:
    src_url = "memory://big-src"
    dst_url = make_store_url("sqlite", tmp_path, "big")
    messages = [_message(f"message {i}") for i in range(10_000)]

    async def seed() -> None:
        async with unistore.connect(src_url) as src:
            s: Any = src
            await s.create_session("big", label="big", metadata={"n": 10_000})
            await s.append_messages("big", messages, expected_length=0)
            await s.fork_session("big", "big-fork", at=9_000)
            await s.append_messages("big-fork", [_message("branch")], expected_length=9_000)

    asyncio.run(seed())
    started = time.perf_counter()
    report = _copy_cli(src_url, dst_url, "--no-namespaces")
    elapsed = time.perf_counter() - started
    assert report["sessions"] == 2
    assert report["forks"] == 1
    assert report["messages"] == 10_001  # the fork shares its 9,000 messages
    assert elapsed < 20, elapsed

    async def check() -> None:
        async with unistore.connect(dst_url) as dst:
            d: Any = dst
            assert await d.read_messages("big") == messages
            fork = await d.get_session("big-fork")
            assert (fork.parent_id, fork.fork_point, fork.message_count) == ("big", 9_000, 9_001)
            assert await d.read_messages("big-fork", last=2) == [
                messages[8_999],
                _message("branch"),
            ]
            assert (await d.get_session("big")).metadata == {"n": 10_000}

    asyncio.run(check())
    again = _copy_cli(src_url, dst_url, "--no-namespaces")
    assert again["sessions_skipped"] == 2


# -- the library function ----------------------------------------------------------------


async def test_copy_store_reports_progress_and_filters_by_prefix() -> None:
    async with unistore.connect("memory://") as src, unistore.connect("memory://") as dst:
        s: Any = src
        d: Any = dst
        await s.set("keep:1", "a", b"1", ttl=60)
        await s.set("keep:2", "a", b"2", ttl=60)
        await s.set("skip:1", "a", b"3", ttl=60)
        await s.create_session("one")
        steps: list[CopyProgress] = []
        report = await copy_store(s, d, prefix="keep:", progress=steps.append)
        assert isinstance(report, CopyReport)
        assert (report.namespaces, report.slots, report.sessions) == (2, 2, 1)
        assert await d.get("skip:1", "a") is None
        assert await d.get("keep:2", "a") == b"2"
        assert [(p.phase, p.done, p.total) for p in steps] == [
            ("namespaces", 0, 2),
            ("namespaces", 1, 2),
            ("namespaces", 2, 2),
            ("sessions", 0, 1),
            ("sessions", 1, 1),
        ]
        assert steps[1].item == "keep:1"
        assert report.as_dict()["slots"] == 2


async def test_copy_store_resumes_a_partial_or_diverged_session() -> None:
    async with unistore.connect("memory://") as src, unistore.connect("memory://") as dst:
        s: Any = src
        d: Any = dst
        full = [_message(str(i)) for i in range(6)]
        for session_id in ("partial", "diverged"):
            await s.create_session(session_id, label="new label")
            await s.append_messages(session_id, full, expected_length=0)
        await d.create_session("partial", label="old")
        await d.append_messages("partial", full[:3], expected_length=0)
        await d.create_session("diverged")
        await d.append_messages("diverged", [*full[:2], _message("other")], expected_length=0)
        report = await copy_store(s, d, namespaces=False)
        assert report.sessions_updated == 2
        assert report.messages == 3 + 4
        for session_id in ("partial", "diverged"):
            assert await d.read_messages(session_id) == full
            assert (await d.get_session(session_id)).label == "new label"


async def test_copy_store_skips_slots_that_expire_meanwhile() -> None:
    async with unistore.connect("memory://") as src, unistore.connect("memory://") as dst:
        s: Any = src
        await s.set("ns", "a", b"1", ttl=60)
        await s.set("ns", "b", b"2", ttl=60)

        async def vanished(ns: str, slot: str) -> float | None:
            return None if slot == "b" else 60.0

        s.get_ttl = vanished
        report = await copy_store(s, dst, sessions=False)
        assert (report.slots, report.slots_skipped) == (1, 1)


async def test_copy_store_opens_and_closes_urls_and_refuses_itself() -> None:
    async with unistore.connect("memory://lib-src") as src:
        s: Any = src
        await s.create_session("x")
        with pytest.raises(ValidationError):
            await copy_store(s, s)
    report = await copy_store("memory://lib-src", "memory://lib-dst")
    assert report.sessions == 1
    from unistore._memory import MemoryStore

    class NoSessions(MemoryStore):
        CAPABILITIES = frozenset(Capability) - {Capability.SESSION_DOCUMENTS}

    target = NoSessions(StoreURL.parse("memory://"))
    with pytest.raises(NotSupportedError, match="cannot copy sessions"):
        await copy_store("memory://lib-src", target, namespaces=False)


# -- scopes, session retention and slots without expiry ----------------------------------

#: Scopes that a driver could mistake for a pattern, a path or a key separator.
HOSTILE_SCOPES = ["*", "a/b", "..", ":"]
TENANT = "tenant \u00e9"
SCOPED_TTL = 3600.25
FORK_TTL = 1800.5


def _focused_pairs() -> list[Any]:
    # Each driver once as source and once as destination, both servers included.
    chosen = [
        ("memory", "sqlite"),
        ("sqlite", "file"),
        ("redis", "postgresql"),
        ("postgresql", "redis"),
        ("file", "memory"),
    ]
    return [
        pytest.param(
            (src, dst),
            id=f"{src}-{dst}",
            marks=[_MARKS[d] for d in {src, dst} if d in _MARKS],
        )
        for src, dst in chosen
    ]


async def _seed_scoped(src: Any, dst: Any) -> None:
    # The same id in the default scope, in a tenant scope and in every hostile scope, each a
    # different session: a copy that mixes them up shows in labels and messages.
    await src.create_session("same", label="default")
    await src.append_messages("same", [_message("default")], expected_length=0)
    await src.create_session("same", scope=TENANT, label="tenant", ttl=SCOPED_TTL)
    await src.append_messages(
        "same", [_message(f"t{i}") for i in range(4)], expected_length=0, scope=TENANT
    )
    # Forks inside the scope: the parent is looked up there, not in the default scope
    # (whose "same" has a single message, so at=3 could not be made from it).
    await src.fork_session(
        "same", "child", at=3, scope=TENANT, label="child", metadata={"k": 1}, ttl=FORK_TTL
    )
    await src.append_messages("child", [_message("c0")], expected_length=3, scope=TENANT)
    await src.fork_session("child", "grandchild", at=4, scope=TENANT)
    await src.append_messages("grandchild", [_message("g0")], expected_length=4, scope=TENANT)
    # The parent written after its forks lists after them: the copy restores that order.
    await src.append_messages("same", [_message("t4")], expected_length=4, scope=TENANT)
    for number, scope in enumerate(HOSTILE_SCOPES):
        await src.create_session("same", scope=scope, label=f"hostile {scope}")
        await src.append_messages(
            "same", [_message(f"{scope}{i}") for i in range(number + 1)], scope=scope
        )
        await src.fork_session("same", HOSTILE_FORK, at=1, scope=scope, ttl=SCOPED_TTL)
    # Slots without expiry, next to one with expiry. The destination's old versions have an
    # expiry: the copy must leave the copied slots without one.
    await src.set(HOSTILE_NS, "forever", b"\x00kept", ttl=None)
    await src.hset(HOSTILE_NS, "forever-hash", {"f": b"1", "*": b"2"}, ttl=None)
    await src.incr(HOSTILE_NS, "forever-count", 7, ttl=None)
    await src.set(HOSTILE_NS, "brief", b"soon", ttl=300)
    await dst.set(HOSTILE_NS, "forever", b"old", ttl=50)
    await dst.hset(HOSTILE_NS, "forever-hash", {"stale": b"x"}, ttl=50)


#: Every session the seed makes, as (scope, id).
SCOPED_SESSIONS = {
    (None, "same"),
    (TENANT, "same"),
    (TENANT, "child"),
    (TENANT, "grandchild"),
    *((scope, "same") for scope in HOSTILE_SCOPES),
    *((scope, HOSTILE_FORK) for scope in HOSTILE_SCOPES),
}
SCOPED_FORKS = 2 + len(HOSTILE_SCOPES)


async def _scoped_listing(store: Any, scope: str | None) -> list[Any]:
    records: list[Any] = []
    cursor = None
    while True:
        page = await store.list_sessions(scope=scope, limit=2, cursor=cursor)
        records += page.items
        if page.next_cursor is None:
            return records
        cursor = page.next_cursor


async def _scopes(store: Any) -> set[str | None]:
    return {scope async for scope in store.iter_scopes()}


async def _check_scoped_copy(src_url: str, dst_url: str) -> None:
    async with unistore.connect(src_url) as src, unistore.connect(dst_url) as dst:
        s: Any = src
        d: Any = dst
        expected_scopes = {scope for scope, _ in SCOPED_SESSIONS}
        assert await _scopes(s) == expected_scopes
        assert await _scopes(d) == expected_scopes
        now = time.time()
        for scope in expected_scopes:
            src_listing = await _scoped_listing(s, scope)
            dst_listing = await _scoped_listing(d, scope)
            # Each scope lists its own sessions only, in the source's order.
            assert [r.id for r in dst_listing] == [r.id for r in src_listing], scope
            assert {(scope, r.id) for r in dst_listing} == {
                key for key in SCOPED_SESSIONS if key[0] == scope
            }
            for original in src_listing:
                copied = await d.get_session(original.id, scope=scope)
                assert copied is not None, (scope, original.id)
                assert copied.scope == scope
                assert await d.read_messages(original.id, scope=scope) == await s.read_messages(
                    original.id, scope=scope
                )
                assert copied.label == original.label
                assert dict(copied.metadata) == dict(original.metadata)
                assert copied.message_count == original.message_count
                assert (copied.parent_id, copied.fork_point) == (
                    original.parent_id,
                    original.fork_point,
                )
                assert copied.ttl == original.ttl, (scope, original.id)
                if original.ttl is None:
                    assert copied.expires_at is None
                else:
                    # Written just now: it expires a full ttl from the copy, not before.
                    left = copied.expires_at.timestamp() - now
                    assert original.ttl - 60 < left <= original.ttl + 60, (scope, original.id)
        # The tenant's "child" and "grandchild" are not in the default scope.
        assert await d.get_session("child") is None
        assert (await d.get_session("same")).label == "default"
        assert (await d.get_session("grandchild", scope=TENANT)).ttl is None
        assert (await d.get_session("child", scope=TENANT)).ttl == FORK_TTL
        # Slots without expiry stay without expiry; the others keep theirs.
        assert await d.get(HOSTILE_NS, "forever") == b"\x00kept"
        assert await d.hgetall(HOSTILE_NS, "forever-hash") == {"f": b"1", "*": b"2"}
        assert await d.get(HOSTILE_NS, "forever-count") == b"7"
        for slot in ("forever", "forever-hash", "forever-count"):
            assert await d.get_ttl(HOSTILE_NS, slot) == math.inf, slot
        brief = await d.get_ttl(HOSTILE_NS, "brief")
        assert brief is not None
        assert 240 < brief <= 300


@pytest.mark.parametrize("stores", _focused_pairs(), indirect=True)
def test_copy_keeps_scopes_forks_session_ttls_and_slots_without_expiry(
    stores: tuple[str, str],
) -> None:
    src_url, dst_url = stores

    async def seed() -> None:
        async with unistore.connect(src_url) as src, unistore.connect(dst_url) as dst:
            await _seed_scoped(src, dst)

    asyncio.run(seed())
    first = asyncio.run(copy_store(src_url, dst_url))
    assert first.sessions == len(SCOPED_SESSIONS)
    assert first.forks == SCOPED_FORKS
    assert (first.sessions_skipped, first.sessions_updated) == (0, 0)
    assert first.slots == 4
    asyncio.run(_check_scoped_copy(src_url, dst_url))

    again = _copy_cli(src_url, dst_url)
    assert again["sessions"] == 0
    assert again["sessions_updated"] == 0
    assert again["sessions_skipped"] == len(SCOPED_SESSIONS)
    assert again["messages"] == 0
    asyncio.run(_check_scoped_copy(src_url, dst_url))


async def test_copy_store_finishes_an_interrupted_scoped_session() -> None:
    async with unistore.connect("memory://") as src, unistore.connect("memory://") as dst:
        s: Any = src
        d: Any = dst
        full = [_message(str(i)) for i in range(5)]
        await s.create_session("x", scope=TENANT, label="new", ttl=SCOPED_TTL)
        await s.append_messages("x", full, scope=TENANT)
        # The same id in the destination's default scope is another session: left alone.
        await d.create_session("x", label="default")
        await d.append_messages("x", full[:1])
        await d.create_session("x", scope=TENANT, label="old", ttl=SCOPED_TTL)
        await d.append_messages("x", full[:2], scope=TENANT)
        report = await copy_store(s, d, namespaces=False)
        assert (report.sessions, report.sessions_updated, report.messages) == (0, 1, 3)
        assert await d.read_messages("x", scope=TENANT) == full
        assert (await d.get_session("x", scope=TENANT)).label == "new"
        assert await d.read_messages("x") == full[:1]
        assert (await d.get_session("x")).label == "default"


async def test_copy_store_skips_sessions_that_expired() -> None:
    async with unistore.connect("memory://") as src, unistore.connect("memory://") as dst:
        s: Any = src
        d: Any = dst
        await s.create_session("brief", scope=TENANT, ttl=0.05)
        await s.create_session("kept", scope=TENANT, ttl=SCOPED_TTL)
        await asyncio.sleep(0.2)
        report = await copy_store(s, d, namespaces=False)
        assert report.sessions == 1
        assert await d.get_session("brief", scope=TENANT) is None
        assert (await d.get_session("kept", scope=TENANT)).ttl == SCOPED_TTL


async def test_copy_store_goes_on_when_a_session_expires_during_the_copy() -> None:
    from unistore._memory import MemoryStore

    now = [time.time()]
    src = MemoryStore(StoreURL.parse("memory://"), clock=lambda: now[0])
    async with src, unistore.connect("memory://") as dst:
        d: Any = dst
        await src.create_session("brief", scope=TENANT, ttl=10)
        await src.append_messages("brief", [_message("b")], scope=TENANT)
        await src.create_session("kept", scope=TENANT)

        def expire_after_listing(step: CopyProgress) -> None:
            if step.phase == "sessions" and step.done == 0:
                now[0] += 20

        report = await copy_store(src, d, namespaces=False, progress=expire_after_listing)
        assert (report.sessions, report.sessions_vanished) == (1, 1)
        assert await d.get_session("kept", scope=TENANT) is not None
        assert await d.get_session("brief", scope=TENANT) is None
