"""Conformance tests of NamespaceLifecycle: slots, slot_kind, touch and purge."""

from __future__ import annotations

import pytest

from unistore.protocols import Capability, SlotKind
from unistore.testing._clock import ManualClock, pass_time
from unistore.testing._fixtures import SuiteFixtures
from unistore.testing._support import LONG_TTL, FullStore, IdFactory, require

__all__ = ["NamespaceLifecycleSuite"]

LIFECYCLE = Capability.NAMESPACE_LIFECYCLE
KV = Capability.KEY_VALUE


class NamespaceLifecycleSuite(SuiteFixtures):
    """Whole-namespace operations."""

    async def _fill(self, store: FullStore, ns: str, *, ttl: float = LONG_TTL) -> list[str]:
        """Write one slot of each declared kind; return their names."""
        caps = store.capabilities
        written = []
        if KV in caps:
            await store.set(ns, "scalar", b"v", ttl=ttl)
            written.append("scalar")
        if Capability.HASH in caps:
            await store.hset(ns, "hash", {"f": b"v", "g": b"w"}, ttl=ttl)
            written.append("hash")
        if Capability.COUNTER in caps:
            await store.incr(ns, "counter", ttl=ttl)
            written.append("counter")
        if not written:
            pytest.skip("no capability that writes slots")
        return sorted(written)

    @pytest.mark.asyncio
    async def test_empty_namespace(self, store: FullStore, ns: str) -> None:
        """A namespace never written has no slots; touch and purge count zero."""
        require(store, LIFECYCLE)
        assert await store.slots(ns) == []
        assert await store.slot_kind(ns, "missing") is None
        assert await store.touch(ns, ttl=LONG_TTL) == 0
        assert await store.purge(ns) == 0
        assert await store.slots(ns) == []

    @pytest.mark.asyncio
    async def test_slots_lists_live_slots_sorted(self, store: FullStore, ns: str) -> None:
        """Listing slots returns every live slot of every kind, sorted, without duplicates."""
        require(store, LIFECYCLE, KV)
        names = ["b", "a", "B", "10", "9", "a:b", "a b", "\u00e9", "z" * 300, "_", "-"]
        for name in names:
            await store.set(ns, name, b"v", ttl=LONG_TTL)
        await store.set(ns, "a", b"again", ttl=LONG_TTL)
        expected = set(names)
        if Capability.HASH in store.capabilities:
            await store.hset(ns, "hash", {"f": b"v"}, ttl=LONG_TTL)
            expected.add("hash")
        if Capability.COUNTER in store.capabilities:
            await store.incr(ns, "counter", ttl=LONG_TTL)
            expected.add("counter")
        assert await store.slots(ns) == sorted(expected)
        await store.delete(ns, "a")
        assert await store.slots(ns) == sorted(expected - {"a"})

    @pytest.mark.asyncio
    async def test_slot_kind(self, store: FullStore, ns: str) -> None:
        """Scalars and counters are SCALAR, hashes are HASH, absent slots None."""
        require(store, LIFECYCLE)
        caps = store.capabilities
        assert await store.slot_kind(ns, "missing") is None
        if KV in caps:
            await store.set(ns, "s", b"v", ttl=LONG_TTL)
            assert await store.slot_kind(ns, "s") is SlotKind.SCALAR
        if Capability.HASH in caps:
            await store.hset(ns, "h", {"f": b"v"}, ttl=LONG_TTL)
            assert await store.slot_kind(ns, "h") is SlotKind.HASH
        if Capability.COUNTER in caps:
            await store.incr(ns, "c", ttl=LONG_TTL)
            assert await store.slot_kind(ns, "c") is SlotKind.SCALAR
        if KV in caps and Capability.HASH in caps:
            await store.set(ns, "h", b"now a scalar", ttl=LONG_TTL)
            assert await store.slot_kind(ns, "h") is SlotKind.SCALAR

    @pytest.mark.asyncio
    async def test_purge_removes_every_slot_and_returns_the_count(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """A purge deletes slots of every kind, counts them, and leaves other namespaces."""
        require(store, LIFECYCLE)
        ns, other = ids.ns(), ids.ns()
        written = await self._fill(store, ns)
        await self._fill(store, other)
        assert await store.purge(ns) == len(written)
        assert await store.slots(ns) == []
        for slot in written:
            assert await store.slot_kind(ns, slot) is None
        if KV in store.capabilities:
            assert await store.get(ns, "scalar") is None
        if Capability.HASH in store.capabilities:
            assert await store.hgetall(ns, "hash") == {}
        if Capability.COUNTER in store.capabilities:
            assert await store.incr(ns, "counter", ttl=LONG_TTL) == 1
            assert await store.purge(ns) == 1
        assert await store.purge(ns) == 0
        assert await store.slots(other) == written

    @pytest.mark.asyncio
    async def test_touch_reapplies_the_ttl_and_returns_the_count(
        self, store: FullStore, ns: str
    ) -> None:
        """A touch gives every slot the new TTL (longer or shorter) and changes no value."""
        require(store, LIFECYCLE, Capability.TTL)
        written = await self._fill(store, ns, ttl=100)
        assert await store.touch(ns, ttl=500) == len(written)
        for slot in written:
            left = await store.get_ttl(ns, slot)
            assert left is not None, slot
            assert 400 < left <= 500, (slot, left)
        assert await store.touch(ns, ttl=50) == len(written)
        for slot in written:
            left = await store.get_ttl(ns, slot)
            assert left is not None, slot
            assert 40 < left <= 50, (slot, left)
        assert await store.slots(ns) == written
        if KV in store.capabilities:
            assert await store.get(ns, "scalar") == b"v"
        if Capability.HASH in store.capabilities:
            assert await store.hgetall(ns, "hash") == {"f": b"v", "g": b"w"}

    @pytest.mark.asyncio
    async def test_touch_and_expiry(
        self, store: FullStore, ids: IdFactory, clock: ManualClock | None
    ) -> None:
        """A touch keeps slots alive or expires them; expired slots are not counted.

        Expired slots are not listed, touched, purged or given a kind.
        """
        require(store, LIFECYCLE, KV)
        saved, doomed, mixed = ids.ns(), ids.ns(), ids.ns()
        short = self.short_ttl
        await store.set(saved, "s", b"v", ttl=short)
        assert await store.touch(saved, ttl=LONG_TTL) == 1
        await store.set(doomed, "s", b"v", ttl=LONG_TTL)
        assert await store.touch(doomed, ttl=short) == 1
        await store.set(mixed, "gone", b"v", ttl=short)
        await store.set(mixed, "kept", b"v", ttl=LONG_TTL)
        await pass_time(clock, self.expiry_wait)
        assert await store.get(saved, "s") == b"v"
        assert await store.get(doomed, "s") is None
        assert await store.slots(doomed) == []
        assert await store.slots(mixed) == ["kept"]
        assert await store.slot_kind(mixed, "gone") is None
        assert await store.touch(mixed, ttl=LONG_TTL) == 1
        assert await store.purge(mixed) == 1
        assert await store.purge(doomed) == 0
