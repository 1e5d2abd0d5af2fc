"""Conformance tests of the batch slot calls: get_many, set_many and delete_many.

Each batch is one atomic step: a reader never sees half of a ``set_many``, and
a refused batch writes none of its slots.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from unistore.errors import SlotKindError, ValidationError
from unistore.protocols import Capability, SlotKind
from unistore.testing._clock import ManualClock, pass_time
from unistore.testing._fixtures import SuiteFixtures
from unistore.testing._support import LONG_TTL, FullStore, require

__all__ = ["BatchSuite"]

KV = Capability.KEY_VALUE
HASH = Capability.HASH
COUNTER = Capability.COUNTER
TTL = Capability.TTL
LIFECYCLE = Capability.NAMESPACE_LIFECYCLE

# The store is Any: the calls pass what the signatures forbid, on purpose.
Call = Callable[[Any, str], Awaitable[Any]]

#: Refused batch calls: (call, a word the error must contain). The valid part of
#: each batch names slots "a" and "b", which hold b"old" before the call.
BAD_BATCHES: dict[str, tuple[Call, str]] = {
    "set_many-value-str": (
        lambda s, ns: s.set_many(ns, {"a": b"new", "b": "text"}, ttl=LONG_TTL),
        "value",
    ),
    "set_many-value-int": (
        lambda s, ns: s.set_many(ns, {"a": b"new", "b": b"new", "c": 5}, ttl=LONG_TTL),
        "value",
    ),
    "set_many-value-none": (
        lambda s, ns: s.set_many(ns, {"a": None, "b": b"new"}, ttl=LONG_TTL),
        "value",
    ),
    "set_many-name-int": (
        lambda s, ns: s.set_many(ns, {"a": b"new", 5: b"new"}, ttl=LONG_TTL),
        "slot name",
    ),
    "set_many-name-bytes": (
        lambda s, ns: s.set_many(ns, {"a": b"new", b"b": b"new"}, ttl=LONG_TTL),
        "slot name",
    ),
    "set_many-pairs": (
        lambda s, ns: s.set_many(ns, [("a", b"new"), ("b", b"new")], ttl=LONG_TTL),
        "mapping",
    ),
    "set_many-ttl-zero": (lambda s, ns: s.set_many(ns, {"a": b"new"}, ttl=0), "ttl"),
    "set_many-ttl-negative": (lambda s, ns: s.set_many(ns, {"a": b"new"}, ttl=-1), "ttl"),
    "set_many-ttl-nan": (lambda s, ns: s.set_many(ns, {"a": b"new"}, ttl=math.nan), "ttl"),
    "set_many-ttl-inf": (lambda s, ns: s.set_many(ns, {"a": b"new"}, ttl=math.inf), "ttl"),
    "set_many-ttl-bool": (lambda s, ns: s.set_many(ns, {"a": b"new"}, ttl=True), "ttl"),
    "set_many-ttl-str": (lambda s, ns: s.set_many(ns, {"a": b"new"}, ttl="5"), "ttl"),
    "set_many-ns-int": (lambda s, ns: s.set_many(5, {"a": b"new"}, ttl=LONG_TTL), "namespace"),
    "get_many-str": (lambda s, ns: s.get_many(ns, "ab"), "slots"),
    "get_many-none": (lambda s, ns: s.get_many(ns, None), "slots"),
    "get_many-name-int": (lambda s, ns: s.get_many(ns, ["a", 5]), "slot name"),
    "get_many-ns-int": (lambda s, ns: s.get_many(5, ["a"]), "namespace"),
    "delete_many-str": (lambda s, ns: s.delete_many(ns, "ab"), "slots"),
    "delete_many-bytes": (lambda s, ns: s.delete_many(ns, b"ab"), "slots"),
    "delete_many-name-int": (lambda s, ns: s.delete_many(ns, ["a", "b", 5]), "slot name"),
    "delete_many-ns-int": (lambda s, ns: s.delete_many(5, ["a"]), "namespace"),
}


class BatchSuite(SuiteFixtures):
    """get_many, set_many and delete_many: order, kinds, expiry, checks and atomicity."""

    @pytest.mark.asyncio
    async def test_get_many_returns_values_in_the_order_asked(
        self, store: FullStore, ns: str
    ) -> None:
        """Repeated slots repeat their value, absent ones read None, order is kept."""
        require(store, KV)
        await store.set(ns, "a", b"1", ttl=LONG_TTL)
        await store.set(ns, "b", b"", ttl=LONG_TTL)
        await store.set(ns, "c", b"\xff\x00", ttl=LONG_TTL)
        got = await store.get_many(ns, ["c", "missing", "a", "b", "a", "c", "missing"])
        assert got == [b"\xff\x00", None, b"1", b"", b"1", b"\xff\x00", None]
        assert all(v is None or type(v) is bytes for v in got), got
        assert await store.get_many(ns, ("b",)) == [b""]
        assert await store.get_many(ns, ["missing"]) == [None]

    @pytest.mark.asyncio
    async def test_get_many_of_no_slots_is_empty(self, store: FullStore, ns: str) -> None:
        """An empty batch returns an empty list (a tuple or a set of no names, too)."""
        require(store, KV)
        assert await store.get_many(ns, []) == []
        assert await store.get_many(ns, ()) == []

    @pytest.mark.asyncio
    async def test_get_many_reads_expired_slots_as_none(
        self, store: FullStore, ns: str, clock: ManualClock | None
    ) -> None:
        """An expired slot in a batch reads None; its live neighbours still read."""
        require(store, KV)
        await store.set(ns, "gone", b"v", ttl=self.short_ttl)
        await store.set(ns, "kept", b"k", ttl=LONG_TTL)
        await store.set_many(ns, {"batch-gone": b"v"}, ttl=self.short_ttl)
        await pass_time(clock, self.expiry_wait)
        got = await store.get_many(ns, ["gone", "kept", "batch-gone", "gone"])
        assert got == [None, b"k", None, None]

    @pytest.mark.asyncio
    async def test_get_many_reads_a_hash_slot_as_none(self, store: FullStore, ns: str) -> None:
        """A hash in a batch reads None, without SlotKindError (get alone raises)."""
        require(store, KV, HASH)
        await store.hset(ns, "h", {"f": b"v"}, ttl=LONG_TTL)
        await store.set(ns, "s", b"scalar", ttl=LONG_TTL)
        assert await store.get_many(ns, ["h", "s", "h"]) == [None, b"scalar", None]
        with pytest.raises(SlotKindError):
            await store.get(ns, "h")
        assert await store.hgetall(ns, "h") == {"f": b"v"}

    @pytest.mark.asyncio
    async def test_set_many_writes_every_slot(self, store: FullStore, ns: str) -> None:
        """Every value lands exactly, replacing older values; other slots stay."""
        require(store, KV)
        await store.set(ns, "old", b"before", ttl=LONG_TTL)
        await store.set(ns, "other", b"untouched", ttl=LONG_TTL)
        values = {
            "old": b"after",
            "empty": b"",
            "binary": bytes(range(256)),
            "large": b"x" * 100_000,
            "*": b"star",
            "a:b": b"colon",
        }
        await store.set_many(ns, values, ttl=LONG_TTL)
        assert await store.get_many(ns, list(values)) == list(values.values())
        for slot, value in values.items():
            assert await store.get(ns, slot) == value, slot
        assert await store.get(ns, "other") == b"untouched"
        if LIFECYCLE in store.capabilities:
            assert await store.slots(ns) == sorted([*values, "other"])

    @pytest.mark.asyncio
    async def test_set_many_of_no_slots_writes_nothing(self, store: FullStore, ns: str) -> None:
        """An empty mapping is a valid batch that writes nothing."""
        require(store, KV)
        await store.set_many(ns, {}, ttl=LONG_TTL)
        await store.set_many(ns, {}, ttl=None)
        if LIFECYCLE in store.capabilities:
            assert await store.slots(ns) == []

    @pytest.mark.asyncio
    async def test_set_many_replaces_a_slot_of_any_kind(self, store: FullStore, ns: str) -> None:
        """A hash or a counter in a batch becomes a scalar, as with set."""
        require(store, KV)
        caps = store.capabilities
        mapping = {"scalar": b"s2"}
        await store.set(ns, "scalar", b"s1", ttl=LONG_TTL)
        if HASH in caps:
            await store.hset(ns, "hash", {"f": b"v", "g": b"w"}, ttl=LONG_TTL)
            mapping["hash"] = b"h2"
        if COUNTER in caps:
            await store.incr(ns, "counter", 41, ttl=LONG_TTL)
            mapping["counter"] = b"c2"
        if len(mapping) == 1:
            pytest.skip("the driver declares neither hash nor counter")
        await store.set_many(ns, mapping, ttl=LONG_TTL)
        assert await store.get_many(ns, list(mapping)) == list(mapping.values())
        if HASH in caps:
            with pytest.raises(SlotKindError):
                await store.hget(ns, "hash", "f")
        if COUNTER in caps:
            with pytest.raises(SlotKindError):
                await store.incr(ns, "counter", ttl=LONG_TTL)
        if LIFECYCLE in caps:
            for slot in mapping:
                assert await store.slot_kind(ns, slot) is SlotKind.SCALAR, slot

    @pytest.mark.asyncio
    async def test_set_many_applies_its_ttl_to_every_slot(self, store: FullStore, ns: str) -> None:
        """Each slot of the batch gets the batch's TTL, replacing the one it had."""
        require(store, KV, TTL)
        await store.set(ns, "longer", b"v", ttl=500)
        await store.set(ns, "persistent", b"v", ttl=None)
        await store.set_many(ns, {"longer": b"w", "persistent": b"w", "new": b"w"}, ttl=100)
        for slot in ("longer", "persistent", "new"):
            left = await store.get_ttl(ns, slot)
            assert left is not None, slot
            assert 90 < left <= 100, (slot, left)

    @pytest.mark.asyncio
    async def test_set_many_without_ttl_never_expires(self, store: FullStore, ns: str) -> None:
        """``ttl=None`` removes an existing expiry: get_ttl is infinite for every slot."""
        require(store, KV, TTL)
        await store.set(ns, "had-ttl", b"v", ttl=100)
        await store.set_many(ns, {"had-ttl": b"w", "new": b"w"}, ttl=None)
        for slot in ("had-ttl", "new"):
            assert await store.get_ttl(ns, slot) == math.inf, slot
        assert await store.get_many(ns, ["had-ttl", "new"]) == [b"w", b"w"]

    @pytest.mark.asyncio
    async def test_set_many_expires_with_its_ttl(
        self, store: FullStore, ns: str, clock: ManualClock | None
    ) -> None:
        """A batch written with a short TTL vanishes as a whole; a long one stays."""
        require(store, KV)
        await store.set_many(ns, {"a": b"1", "b": b"2"}, ttl=self.short_ttl)
        await store.set_many(ns, {"c": b"3", "d": b"4"}, ttl=LONG_TTL)
        await pass_time(clock, self.expiry_wait)
        assert await store.get_many(ns, ["a", "b", "c", "d"]) == [None, None, b"3", b"4"]
        if LIFECYCLE in store.capabilities:
            assert await store.slots(ns) == ["c", "d"]

    @pytest.mark.asyncio
    async def test_delete_many_counts_the_distinct_slots_that_existed(
        self, store: FullStore, ns: str
    ) -> None:
        """Repeats count once, absent slots not at all; the others stay."""
        require(store, KV)
        await store.set_many(ns, {"a": b"1", "b": b"2", "kept": b"3"}, ttl=LONG_TTL)
        assert await store.delete_many(ns, ["a", "a", "missing", "b", "a"]) == 2
        assert await store.get_many(ns, ["a", "b", "kept"]) == [None, None, b"3"]
        assert await store.delete_many(ns, ["a", "b"]) == 0
        assert await store.delete_many(ns, []) == 0
        assert await store.get(ns, "kept") == b"3"
        if LIFECYCLE in store.capabilities:
            assert await store.slots(ns) == ["kept"]

    @pytest.mark.asyncio
    async def test_delete_many_removes_hash_slots(self, store: FullStore, ns: str) -> None:
        """A hash counts as an existing slot and is gone after the batch."""
        require(store, KV, HASH)
        await store.hset(ns, "h", {"f": b"v", "g": b"w"}, ttl=LONG_TTL)
        await store.hset(ns, "kept", {"f": b"v"}, ttl=LONG_TTL)
        await store.set(ns, "s", b"v", ttl=LONG_TTL)
        assert await store.delete_many(ns, ["h", "s", "h"]) == 2
        assert await store.hgetall(ns, "h") == {}
        assert await store.get(ns, "s") is None
        assert await store.hgetall(ns, "kept") == {"f": b"v"}
        if LIFECYCLE in store.capabilities:
            assert await store.slot_kind(ns, "h") is None
            assert await store.slots(ns) == ["kept"]

    @pytest.mark.asyncio
    async def test_delete_many_does_not_count_expired_slots(
        self, store: FullStore, ns: str, clock: ManualClock | None
    ) -> None:
        """An expired slot no longer exists: deleting it counts zero."""
        require(store, KV)
        await store.set(ns, "gone", b"v", ttl=self.short_ttl)
        await store.set(ns, "kept", b"v", ttl=LONG_TTL)
        await pass_time(clock, self.expiry_wait)
        assert await store.delete_many(ns, ["gone", "kept"]) == 1
        assert await store.get_many(ns, ["gone", "kept"]) == [None, None]

    @pytest.mark.asyncio
    @pytest.mark.parametrize("case", list(BAD_BATCHES))
    async def test_a_refused_batch_writes_nothing(
        self, store: FullStore, ns: str, case: str
    ) -> None:
        """A batch with one bad part raises ValidationError naming it; no slot changes."""
        require(store, KV)
        call, named = BAD_BATCHES[case]
        await store.set_many(ns, {"a": b"old", "b": b"old", "ab": b"old"}, ttl=LONG_TTL)
        with pytest.raises(ValidationError) as info:
            await call(store, ns)
        assert named in str(info.value), f"the error does not name the {named}: {info.value}"
        after = await store.get_many(ns, ["a", "b", "ab", "c", "5"])
        assert after == [b"old", b"old", b"old", None, None], "a refused batch wrote"
        if LIFECYCLE in store.capabilities:
            assert await store.slots(ns) == ["a", "ab", "b"], "a refused batch wrote"

    @pytest.mark.asyncio
    async def test_a_concurrent_reader_never_sees_half_a_set_many(
        self, store: FullStore, ns: str
    ) -> None:
        """Readers interleaved with batch writers see every slot of one batch, or none.

        Writers rewrite all slots with one generation number at a time; each
        ``get_many`` must read a single generation across every slot.
        """
        require(store, KV)
        slots = [f"slot-{i}" for i in range(8)]
        generations = 25
        torn: list[list[bytes | None]] = []

        async def writer() -> None:
            for generation in range(1, generations + 1):
                mark = str(generation).encode()
                await store.set_many(ns, dict.fromkeys(slots, mark), ttl=LONG_TTL)
                await asyncio.sleep(0)

        async def reader() -> None:
            for _ in range(generations):
                values = await store.get_many(ns, slots)
                if len(set(values)) != 1:
                    torn.append(values)
                await asyncio.sleep(0)

        await asyncio.gather(writer(), *(reader() for _ in range(6)))
        assert not torn, f"{len(torn)} reads saw a partial set_many, e.g. {torn[0]}"
        final = str(generations).encode()
        assert await store.get_many(ns, slots) == [final] * len(slots)
