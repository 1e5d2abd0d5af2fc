"""Conformance tests of slots without expiry: ``ttl=None`` means "never expires".

``set``, ``hset``, ``set_many`` and queued transaction writes with ``None``
remove an existing expiry (as Redis's ``SET`` without ``PX`` does); ``incr``
with ``None`` only matters when it creates the counter. ``get_ttl`` reports
``math.inf`` for such a slot, and it is listed, touched and purged as any
other. On a manual clock, :func:`~unistore.testing.pass_a_long_time` moves time
by more than a year, which a driver storing "never" as a long TTL does not survive.
"""

from __future__ import annotations

import math

import pytest

from unistore.protocols import Capability, NamespaceListing, SlotKind
from unistore.testing._clock import ManualClock, pass_a_long_time
from unistore.testing._fixtures import SuiteFixtures
from unistore.testing._support import LONG_TTL, FullStore, IdFactory, require

__all__ = ["PersistentSlotsSuite"]

KV = Capability.KEY_VALUE
HASH = Capability.HASH
COUNTER = Capability.COUNTER
TTL = Capability.TTL
TX = Capability.TRANSACTIONS
LIFECYCLE = Capability.NAMESPACE_LIFECYCLE
LISTING = Capability.NAMESPACE_LISTING


async def _assert_ttl_about(store: FullStore, ns: str, slot: str, ttl: float) -> None:
    left = await store.get_ttl(ns, slot)
    assert left is not None, f"{slot!r} is absent"
    assert left != math.inf, f"{slot!r} still never expires after a write with ttl={ttl}"
    assert ttl * 0.9 < left <= ttl, f"get_ttl({slot!r}) = {left}, expected about {ttl}"


async def _assert_persistent(store: FullStore, ns: str, slot: str) -> None:
    left = await store.get_ttl(ns, slot)
    assert left == math.inf, f"get_ttl({slot!r}) = {left!r}, expected math.inf (no expiry)"
    assert isinstance(left, float)


async def _write_persistent(store: FullStore, ns: str) -> dict[str, str]:
    """Write one never-expiring slot per declared way of writing; return slot -> how."""
    caps = store.capabilities
    written: dict[str, str] = {}
    if KV in caps:
        await store.set(ns, "set", b"v", ttl=None)
        await store.set(ns, "set-after-ttl", b"v", ttl=0.1)
        await store.set(ns, "set-after-ttl", b"v", ttl=None)
        await store.set_many(ns, {"set_many-1": b"v", "set_many-2": b"v"}, ttl=None)
        written |= {
            "set": "set",
            "set-after-ttl": "set over a TTL",
            "set_many-1": "set_many",
            "set_many-2": "set_many",
        }
    if HASH in caps:
        await store.hset(ns, "hset", {"f": b"v"}, ttl=None)
        await store.hset(ns, "hset-after-ttl", {"f": b"v"}, ttl=0.1)
        await store.hset(ns, "hset-after-ttl", {"g": b"w"}, ttl=None)
        written |= {"hset": "hset", "hset-after-ttl": "hset over a TTL"}
    if COUNTER in caps:
        await store.incr(ns, "incr", 5, ttl=None)
        written["incr"] = "incr"
    if TX in caps and KV in caps and HASH in caps:
        async with store.transaction(ns, watch=["tx-set"]) as tx:
            tx.set("tx-set", b"v", ttl=None)
            tx.hset("tx-hset", {"f": b"v"}, ttl=None)
            await tx.commit()
        written |= {"tx-set": "a queued set", "tx-hset": "a queued hset"}
    if not written:
        pytest.skip("no capability that writes slots")
    return written


class PersistentSlotsSuite(SuiteFixtures):
    """ttl=None on every write, get_ttl of math.inf, and survival as time passes."""

    @pytest.mark.asyncio
    async def test_writes_without_ttl_report_an_infinite_ttl(
        self, store: FullStore, ns: str
    ) -> None:
        """set, set_many, hset, incr and queued writes with ttl=None: get_ttl is math.inf."""
        require(store, TTL)
        written = await _write_persistent(store, ns)
        for slot in written:
            await _assert_persistent(store, ns, slot)
        assert await store.get_ttl(ns, "missing") is None

    @pytest.mark.asyncio
    async def test_persistent_values_read_back(self, store: FullStore, ns: str) -> None:
        """A slot written without expiry holds its value like any other."""
        written = await _write_persistent(store, ns)
        caps = store.capabilities
        if KV in caps:
            assert await store.get(ns, "set") == b"v"
            assert await store.get_many(ns, ["set_many-1", "set_many-2"]) == [b"v", b"v"]
        if HASH in caps:
            assert await store.hgetall(ns, "hset-after-ttl") == {"f": b"v", "g": b"w"}
        if "incr" in written:
            assert await store.incr(ns, "incr", ttl=None) == 6
        if "tx-hset" in written:
            assert await store.hgetall(ns, "tx-hset") == {"f": b"v"}

    @pytest.mark.asyncio
    async def test_a_ttl_after_none_expires_again_and_none_after_a_ttl_persists(
        self, store: FullStore, ns: str
    ) -> None:
        """Each set, set_many and hset applies its own expiry: a TTL, or none at all."""
        require(store, TTL)
        caps = store.capabilities
        if not caps & {KV, HASH}:
            pytest.skip("the driver declares neither key_value nor hash")
        if KV in caps:
            await store.set(ns, "s", b"v", ttl=None)
            await store.set(ns, "s", b"v", ttl=100)
            await _assert_ttl_about(store, ns, "s", 100)
            await store.set(ns, "s", b"v", ttl=None)
            await _assert_persistent(store, ns, "s")
            await store.set_many(ns, {"s": b"w", "m": b"w"}, ttl=50)
            await _assert_ttl_about(store, ns, "s", 50)
            await store.set_many(ns, {"s": b"x"}, ttl=None)
            await _assert_persistent(store, ns, "s")
            await _assert_ttl_about(store, ns, "m", 50)
        if HASH in caps:
            await store.hset(ns, "h", {"f": b"v"}, ttl=None)
            await store.hset(ns, "h", {"g": b"v"}, ttl=100)
            await _assert_ttl_about(store, ns, "h", 100)
            await store.hset(ns, "h", {}, ttl=None)
            await _assert_persistent(store, ns, "h")
            assert await store.hgetall(ns, "h") == {"f": b"v", "g": b"v"}
        if TX in caps and KV in caps and HASH in caps:
            async with store.transaction(ns, watch=["t"]) as tx:
                tx.set("t", b"v", ttl=100)
                tx.hset("th", {"f": b"v"}, ttl=None)
                await tx.commit()
            async with store.transaction(ns, watch=["t", "th"]) as tx:
                tx.set("t", b"w", ttl=None)
                tx.hset("th", {"g": b"w"}, ttl=100)
                await tx.commit()
            await _assert_persistent(store, ns, "t")
            await _assert_ttl_about(store, ns, "th", 100)

    @pytest.mark.asyncio
    async def test_incr_without_ttl_only_matters_when_it_creates(
        self, store: FullStore, ns: str
    ) -> None:
        """An existing counter keeps its expiry (or its lack of one) whatever incr passes."""
        require(store, COUNTER, TTL)
        assert await store.incr(ns, "forever", ttl=None) == 1
        assert await store.incr(ns, "forever", ttl=100) == 2
        await _assert_persistent(store, ns, "forever")
        assert await store.incr(ns, "timed", ttl=100) == 1
        assert await store.incr(ns, "timed", ttl=None) == 2
        await _assert_ttl_about(store, ns, "timed", 100)

    @pytest.mark.asyncio
    async def test_expire_and_touch_give_a_persistent_slot_an_expiry(
        self, store: FullStore, ns: str
    ) -> None:
        """Both expire and touch give a slot without expiry a TTL."""
        require(store, TTL, KV)
        await store.set(ns, "s", b"v", ttl=None)
        assert await store.expire(ns, "s", 100) is True
        await _assert_ttl_about(store, ns, "s", 100)
        if LIFECYCLE in store.capabilities:
            await store.set(ns, "s", b"v", ttl=None)
            await store.set(ns, "t", b"v", ttl=None)
            assert await store.touch(ns, ttl=50) == 2
            await _assert_ttl_about(store, ns, "s", 50)
            await _assert_ttl_about(store, ns, "t", 50)

    @pytest.mark.asyncio
    async def test_persistent_slots_survive_time_passing(
        self, store: FullStore, ns: str, clock: ManualClock | None
    ) -> None:
        """A long while later (a year on a manual clock) every slot without expiry is there.

        A slot with a short TTL, written alongside, proves that time did pass.
        """
        written = await _write_persistent(store, ns)
        caps = store.capabilities
        if KV in caps:
            await store.set(ns, "control", b"v", ttl=self.short_ttl)
        await pass_a_long_time(clock, self.expiry_wait)
        if KV in caps:
            assert await store.get(ns, "control") is None, "time did not pass"
        for slot, how in written.items():
            if slot.startswith(("hset", "tx-hset")):
                assert await store.hgetall(ns, slot) != {}, f"a slot written by {how} expired"
            elif KV in caps:
                assert await store.get(ns, slot) is not None, f"a slot written by {how} expired"
        if "incr" in written:
            assert await store.incr(ns, "incr", ttl=None) == 6, "the counter expired"

    @pytest.mark.asyncio
    async def test_persistent_slots_are_listed_touched_and_purged(
        self, store: FullStore, ids: IdFactory, clock: ManualClock | None
    ) -> None:
        """After time passes, slots without expiry are live for every whole-namespace call."""
        require(store, LIFECYCLE)
        ns = ids.ns()
        written = await _write_persistent(store, ns)
        await pass_a_long_time(clock, self.expiry_wait)
        assert await store.slots(ns) == sorted(written)
        assert await store.slots(ns, "set") == sorted(s for s in written if s.startswith("set"))
        for slot in written:
            kind = SlotKind.HASH if "hset" in slot else SlotKind.SCALAR
            assert await store.slot_kind(ns, slot) is kind, slot
        if LISTING in store.capabilities:
            assert isinstance(store, NamespaceListing)
            assert [name async for name in store.iter_namespaces(ns)] == [ns]
        assert await store.touch(ns, ttl=LONG_TTL) == len(written)
        if TTL in store.capabilities:
            for slot in written:
                await _assert_ttl_about(store, ns, slot, LONG_TTL)
        assert await store.purge(ns) == len(written)
        assert await store.slots(ns) == []
