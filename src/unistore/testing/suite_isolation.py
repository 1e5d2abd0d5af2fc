"""Conformance tests of isolation: hostile ids never reach anything of another id.

Namespaces and session ids are made unique per test by joining a hostile id to a
unique base (``base + id`` and ``id + base``), so that runs sharing a server do
not collide; slots and hash fields are used raw inside a unique namespace. Raw
hostile namespaces are only ever purged and touched, to prove that doing so
reaches nothing else.
"""

from __future__ import annotations

import pytest

from unistore.errors import TransactionConflictError
from unistore.protocols import Capability
from unistore.testing._fixtures import SuiteFixtures
from unistore.testing._support import (
    HOSTILE_IDS,
    LONG_TTL,
    FullStore,
    IdFactory,
    collect_sessions,
    gather,
    require,
)
from unistore.testing.suite_sessions import msgs

__all__ = ["IsolationSuite"]

KV = Capability.KEY_VALUE
LIFECYCLE = Capability.NAMESPACE_LIFECYCLE
SESSIONS = Capability.SESSION_DOCUMENTS

#: Hostile ids that, put in front of a unique base, make a dangerous namespace or id.
HOSTILE_PREFIXES = ("*", "?", "[a-z]", "%", "_", "/", "../", "../x", "./", "..", "\\", "\x00", " ")

#: Suffixes that turn a namespace into a pattern or a prefix of its neighbours. Only
#: these attack in the pairwise purge/touch check; storage collisions between any
#: two ids are caught by the plain read-back tests.
PATTERN_SUFFIXES = (
    "",
    "*",
    "?",
    "[",
    "[a-z]",
    "%",
    "_",
    "\\",
    ".",
    "..",
    ":",
    "/",
    "{",
    "a",
    "A",
    "\x00",
)


def hostile_variants(base: str) -> list[str]:
    """``base`` itself, ``base + h`` for every hostile id, and ``h + base`` for some."""
    return [base, *(base + h for h in HOSTILE_IDS), *(h + base for h in HOSTILE_PREFIXES)]


def value_of(index: int) -> bytes:
    """The distinct value written under the ``index``-th id."""
    return f"value-{index}".encode()


class IsolationSuite(SuiteFixtures):
    """Every id stored exactly, and every operation confined to its own id."""

    @pytest.mark.asyncio
    async def test_hostile_slot_names_are_kept_apart(self, store: FullStore, ns: str) -> None:
        """Each hostile slot name holds its own value; deleting one deletes only it."""
        require(store, KV)
        slots = list(HOSTILE_IDS)
        for i, slot in enumerate(slots):
            await store.set(ns, slot, value_of(i), ttl=LONG_TTL)
        got = await gather(*(store.get(ns, slot) for slot in slots))
        assert got == [value_of(i) for i in range(len(slots))]
        listed = Capability.NAMESPACE_LIFECYCLE in store.capabilities
        if listed:
            assert await store.slots(ns) == sorted(slots)
        remaining = dict(zip(slots, got, strict=True))
        for victim in ("*", "?", "[a-z]", "%", "_", "..", "a", "\x00", " ", "a:*"):
            assert await store.delete(ns, victim) is True, repr(victim)
            del remaining[victim]
            got = await gather(*(store.get(ns, slot) for slot in remaining))
            assert got == list(remaining.values()), f"delete({victim!r}) reached another slot"
            if listed:
                assert await store.slots(ns) == sorted(remaining)
        if listed:
            assert await store.purge(ns) == len(remaining)

    @pytest.mark.asyncio
    async def test_hostile_namespaces_are_kept_apart(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """Each hostile namespace holds its own slots, listed only there."""
        require(store, KV)
        namespaces = [ids.track_ns(name) for name in hostile_variants(ids.ns())]
        assert len(set(namespaces)) == len(namespaces)
        for i, name in enumerate(namespaces):
            await store.set(name, "slot", value_of(i), ttl=LONG_TTL)
            await store.set(name, f"own-{i}", b"x", ttl=LONG_TTL)
        got = await gather(*(store.get(name, "slot") for name in namespaces))
        assert got == [value_of(i) for i in range(len(namespaces))]
        if LIFECYCLE in store.capabilities:
            listed = await gather(*(store.slots(name) for name in namespaces))
            assert listed == [sorted(["slot", f"own-{i}"]) for i in range(len(namespaces))]

    @pytest.mark.asyncio
    async def test_purge_and_touch_stay_inside_their_namespace(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """Purging or touching a namespace, ``*`` included, reaches no other one."""
        require(store, KV, LIFECYCLE)
        with_ttl = Capability.TTL in store.capabilities
        victims = [ids.track_ns(name) for name in hostile_variants(ids.ns())]

        async def write(index: int) -> None:
            await store.set(victims[index], "slot", value_of(index), ttl=LONG_TTL)

        async def check(spared: list[int], attacker: str) -> None:
            if with_ttl:
                # One call per victim shows both: None if purged, too long if touched.
                left = await gather(*(store.get_ttl(victims[i], "slot") for i in spared))
                hit = [
                    victims[i][:60]
                    for i, t in zip(spared, left, strict=True)
                    if t is None or t > LONG_TTL
                ]
            else:
                got = await gather(*(store.get(victims[i], "slot") for i in spared))
                hit = [
                    victims[i][:60] for i, v in zip(spared, got, strict=True) if v != value_of(i)
                ]
            assert not hit, f"purge/touch of {attacker[:60]!r} reached {len(hit)}: {hit[:5]}"

        everyone = list(range(len(victims)))
        await gather(*(write(i) for i in everyone))
        for raw in (*HOSTILE_IDS, "conformance:*", "conformance:", "conformance"):
            await store.touch(raw, ttl=LONG_TTL * 10)
            await store.purge(raw)
        await check(everyone, "a raw hostile namespace")
        base = victims[0]
        patterns = {base + h for h in PATTERN_SUFFIXES} | {h + base for h in HOSTILE_PREFIXES}
        attacked = 0
        for index, attacker in enumerate(victims):
            if attacker not in patterns:
                continue
            attacked += 1
            assert await store.touch(attacker, ttl=LONG_TTL * 10) == 1, repr(attacker[:60])
            assert await store.slots(attacker) == ["slot"], repr(attacker[:60])
            assert await store.purge(attacker) == 1, repr(attacker[:60])
            await check([i for i in everyone if i != index], attacker)
            await write(index)
        assert attacked == len(patterns)
        got = await gather(*(store.get(name, "slot") for name in victims))
        assert got == [value_of(i) for i in everyone]

    @pytest.mark.asyncio
    async def test_namespace_and_slot_joins_do_not_collide(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """``(a:b, c)``, ``(a, b:c)`` and the like are different slots, whatever the separator."""
        require(store, KV)
        base = ids.ns()
        pairs: list[tuple[str, str]] = []
        for sep in (":", "/", "\x00", ".", "|", "::", "}{", "\\"):
            pairs += [
                (base + sep + "a", "b" + sep + "c"),
                (base + sep + "a" + sep + "b", "c"),
                (base, "a" + sep + "b" + sep + "c"),
                (base + sep, "a"),
                (base, sep + "a"),
            ]
        pairs = list(dict.fromkeys(pairs))
        for name, _ in pairs:
            ids.track_ns(name)
        for i, (name, slot) in enumerate(pairs):
            await store.set(name, slot, value_of(i), ttl=LONG_TTL)
        got = await gather(*(store.get(name, slot) for name, slot in pairs))
        assert got == [value_of(i) for i in range(len(pairs))]

    @pytest.mark.asyncio
    async def test_hash_fields_do_not_collide_with_slots(self, store: FullStore, ns: str) -> None:
        """Slot and field names are joined by no separator a hostile name can fake."""
        require(store, Capability.HASH)
        writes = [
            ("s", {"f:g": b"1", "f": b"2", "*": b"3"}),
            ("s:f", {"g": b"4"}),
            ("s:*", {"x": b"5"}),
            ("s\x00f", {"g": b"6"}),
            ("s/f", {"g": b"7"}),
            ("*", {"s": b"8"}),
        ]
        for slot, fields in writes:
            await store.hset(ns, slot, fields, ttl=LONG_TTL)
        for slot, fields in writes:
            assert await store.hgetall(ns, slot) == fields, repr(slot)
        assert await store.hdel(ns, "s", ["*"]) == 1
        assert await store.hgetall(ns, "*") == {"s": b"8"}
        assert await store.hgetall(ns, "s:*") == {"x": b"5"}

    @pytest.mark.asyncio
    async def test_transactions_watch_only_their_own_slot(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """A watch on ``*`` is not triggered by other slots or namespaces, only by ``*``."""
        require(store, Capability.TRANSACTIONS, KV)
        base = ids.ns()
        ns = ids.track_ns(base + "*")
        neighbours = [ids.track_ns(base), ids.track_ns(base + "?"), ids.track_ns(base + "**")]
        await store.set(ns, "*", b"0", ttl=LONG_TTL)
        async with store.transaction(ns, watch=["*"]) as tx:
            tx.set("*", b"mine", ttl=LONG_TTL)
            await store.set(ns, "a", b"x", ttl=LONG_TTL)
            await store.set(ns, "**", b"x", ttl=LONG_TTL)
            for name in neighbours:
                await store.set(name, "*", b"x", ttl=LONG_TTL)
            await tx.commit()
        assert await store.get(ns, "*") == b"mine"
        for name in neighbours:
            assert await store.get(name, "*") == b"x"
        async with store.transaction(ns, watch=["*"]) as tx:
            tx.set("a", b"mine", ttl=LONG_TTL)
            await store.set(ns, "*", b"theirs", ttl=LONG_TTL)
            with pytest.raises(TransactionConflictError):
                await tx.commit()
        assert await store.get(ns, "a") == b"x"

    @pytest.mark.asyncio
    async def test_hostile_session_ids_are_kept_apart(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """Each hostile session id has its own record and messages, listed exactly."""
        require(store, SESSIONS)
        sessions = [ids.track_session(sid) for sid in hostile_variants(ids.session())]
        assert len(set(sessions)) == len(sessions)
        for i, sid in enumerate(sessions):
            await store.create_session(sid, label=str(i))
            await store.append_messages(sid, msgs(str(i)), expected_length=0)
        for i, sid in enumerate(sessions):
            record = await store.get_session(sid)
            assert record is not None, repr(sid[:60])
            assert record.id == sid, repr(sid[:60])
            assert (record.label, record.message_count) == (str(i), 1), repr(sid[:60])
            assert await store.read_messages(sid) == msgs(str(i)), repr(sid[:60])
        listed = await collect_sessions(store, sessions, limit=20)
        assert {r.id: r.label for r in listed} == {sid: str(i) for i, sid in enumerate(sessions)}
        doomed = {sid for sid in sessions[1:] if any(c in sid for c in "*?%_[./")}
        for sid in sorted(doomed):
            assert await store.delete_session(sid) is True
        for i, sid in enumerate(sessions):
            if sid in doomed:
                assert await store.get_session(sid) is None, repr(sid[:60])
            else:
                assert await store.read_messages(sid) == msgs(str(i)), repr(sid[:60])

    @pytest.mark.asyncio
    async def test_forks_between_hostile_session_ids(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """Forks work between hostile ids and survive the deletion of a look-alike parent."""
        require(store, SESSIONS)
        base = ids.session()
        parent = ids.track_session(base + "*")
        child = ids.track_session(base + "*/..")
        lookalike = ids.track_session(base + "?")
        await store.create_session(parent)
        await store.append_messages(parent, msgs("a", "b"), expected_length=0)
        await store.create_session(lookalike)
        await store.append_messages(lookalike, msgs("z"), expected_length=0)
        await store.fork_session(parent, child, at=1)
        await store.delete_session(lookalike)
        assert await store.read_messages(child) == msgs("a")
        await store.delete_session(parent)
        assert await store.read_messages(child) == msgs("a")

    @pytest.mark.asyncio
    async def test_sessions_and_slots_do_not_collide(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """Slots named like a session id never show or touch that session's data."""
        require(store, SESSIONS, KV, LIFECYCLE)
        sid = ids.session()
        await store.create_session(sid, label="kept")
        await store.append_messages(sid, msgs("a", "b"), expected_length=0)
        names = [sid, f"{sid}:messages", f"{sid}:meta", f"session:{sid}", f"sessions:{sid}"]
        namespaces = [ids.track_ns(n) for n in (*names, f"{sid}:", f":{sid}")]
        for name in namespaces:
            for slot in names:
                await store.set(name, slot, b"slot", ttl=LONG_TTL)
        for name in namespaces:
            assert await store.slots(name) == sorted(names)
            assert await store.purge(name) == len(names)
        assert await store.read_messages(sid) == msgs("a", "b")
        record = await store.get_session(sid)
        assert record is not None
        assert (record.label, record.message_count) == ("kept", 2)
