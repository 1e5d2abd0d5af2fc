"""Conformance tests of the Counter capability: atomic incr."""

from __future__ import annotations

import asyncio

import pytest

from unistore.errors import SlotKindError, ValidationError
from unistore.protocols import Capability, SlotKind
from unistore.testing._fixtures import SuiteFixtures
from unistore.testing._support import LONG_TTL, FullStore, require

__all__ = ["CounterSuite"]

COUNTER = Capability.COUNTER

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

#: Scalars Redis's INCR refuses: a counter is a canonical decimal int64.
NOT_CANONICAL = [b"05", b"00", b"-0", b" 7", b"7 ", b"1_000", b"+1", b"9223372036854775808"]


class CounterSuite(SuiteFixtures):
    """Counters are scalar slots holding decimal digits."""

    @pytest.mark.asyncio
    async def test_incr_creates_the_counter_at_zero(self, store: FullStore, ns: str) -> None:
        """A missing counter starts at 0, so the first incr returns the amount."""
        require(store, COUNTER)
        assert await store.incr(ns, "one", ttl=LONG_TTL) == 1
        assert await store.incr(ns, "five", 5, ttl=LONG_TTL) == 5
        assert await store.incr(ns, "minus", -3, ttl=LONG_TTL) == -3

    @pytest.mark.asyncio
    async def test_incr_adds_any_amount(self, store: FullStore, ns: str) -> None:
        """Default 1, larger, negative and zero amounts; results may go below zero."""
        require(store, COUNTER)
        assert await store.incr(ns, "c", ttl=LONG_TTL) == 1
        assert await store.incr(ns, "c", ttl=LONG_TTL) == 2
        assert await store.incr(ns, "c", 10, ttl=LONG_TTL) == 12
        assert await store.incr(ns, "c", -20, ttl=LONG_TTL) == -8
        assert await store.incr(ns, "c", 0, ttl=LONG_TTL) == -8
        big = 2**53 + 1
        assert await store.incr(ns, "big", big, ttl=LONG_TTL) == big
        assert await store.incr(ns, "big", 1, ttl=LONG_TTL) == big + 1

    @pytest.mark.asyncio
    async def test_concurrent_incr_loses_no_update(self, store: FullStore, ns: str) -> None:
        """Concurrent incr calls are atomic: 50 concurrent increments add up to 50."""
        require(store, COUNTER)
        await asyncio.gather(*(store.incr(ns, "c", ttl=LONG_TTL) for _ in range(50)))
        assert await store.incr(ns, "c", 0, ttl=LONG_TTL) == 50

    @pytest.mark.asyncio
    async def test_counter_reads_back_as_decimal_digits(self, store: FullStore, ns: str) -> None:
        """Reading a counter with get returns its digits; a counter is a scalar slot."""
        require(store, COUNTER, Capability.KEY_VALUE)
        await store.incr(ns, "c", 42, ttl=LONG_TTL)
        assert await store.get(ns, "c") == b"42"
        await store.incr(ns, "n", -7, ttl=LONG_TTL)
        assert await store.get(ns, "n") == b"-7"
        if Capability.NAMESPACE_LIFECYCLE in store.capabilities:
            assert await store.slot_kind(ns, "c") is SlotKind.SCALAR

    @pytest.mark.asyncio
    async def test_incr_continues_a_scalar_holding_digits(self, store: FullStore, ns: str) -> None:
        """A scalar set to decimal digits is a counter."""
        require(store, COUNTER, Capability.KEY_VALUE)
        await store.set(ns, "c", b"41", ttl=LONG_TTL)
        assert await store.incr(ns, "c", ttl=LONG_TTL) == 42
        await store.set(ns, "n", b"-5", ttl=LONG_TTL)
        assert await store.incr(ns, "n", 2, ttl=LONG_TTL) == -3
        assert await store.get(ns, "n") == b"-3"

    @pytest.mark.asyncio
    @pytest.mark.parametrize("value", [b"abc", b"1.5", b"", b"12abc", b"\xff", b"1_000", b" 7"])
    async def test_incr_of_a_non_integer_scalar_raises_slot_kind_error(
        self, store: FullStore, ns: str, value: bytes
    ) -> None:
        """A scalar that is not an integer is not a counter; it stays unchanged."""
        require(store, COUNTER, Capability.KEY_VALUE)
        await store.set(ns, "s", value, ttl=LONG_TTL)
        with pytest.raises(SlotKindError):
            await store.incr(ns, "s", ttl=LONG_TTL)
        assert await store.get(ns, "s") == value

    @pytest.mark.asyncio
    async def test_incr_of_a_hash_raises_slot_kind_error(self, store: FullStore, ns: str) -> None:
        """A hash is not a counter; it stays unchanged."""
        require(store, COUNTER, Capability.HASH)
        await store.hset(ns, "h", {"f": b"1"}, ttl=LONG_TTL)
        with pytest.raises(SlotKindError):
            await store.incr(ns, "h", ttl=LONG_TTL)
        assert await store.hgetall(ns, "h") == {"f": b"1"}

    @pytest.mark.asyncio
    async def test_set_replaces_a_counter(self, store: FullStore, ns: str) -> None:
        """A counter overwritten by set is the new value; delete resets it."""
        require(store, COUNTER, Capability.KEY_VALUE)
        await store.incr(ns, "c", 5, ttl=LONG_TTL)
        await store.set(ns, "c", b"100", ttl=LONG_TTL)
        assert await store.incr(ns, "c", ttl=LONG_TTL) == 101
        assert await store.delete(ns, "c") is True
        assert await store.incr(ns, "c", ttl=LONG_TTL) == 1

    @pytest.mark.asyncio
    @pytest.mark.parametrize("value", NOT_CANONICAL)
    async def test_incr_of_a_non_canonical_integer_raises_slot_kind_error(
        self, store: FullStore, ns: str, value: bytes
    ) -> None:
        """Leading zeros, a signed zero, blanks, underscores, a plus sign: not a counter."""
        require(store, COUNTER, Capability.KEY_VALUE)
        await store.set(ns, "s", value, ttl=LONG_TTL)
        with pytest.raises(SlotKindError):
            await store.incr(ns, "s", ttl=LONG_TTL)
        assert await store.get(ns, "s") == value

    @pytest.mark.asyncio
    @pytest.mark.parametrize(
        ("value", "amount", "result"),
        [
            (b"0", 1, 1),
            (b"-5", 2, -3),
            (b"9223372036854775807", 0, INT64_MAX),
            (b"9223372036854775807", -1, INT64_MAX - 1),
            (b"-9223372036854775808", 1, INT64_MIN + 1),
        ],
    )
    async def test_incr_of_canonical_integers_works_as_redis_does(
        self, store: FullStore, ns: str, value: bytes, amount: int, result: int
    ) -> None:
        """Zero, negatives and both int64 bounds are counters."""
        require(store, COUNTER, Capability.KEY_VALUE)
        await store.set(ns, "s", value, ttl=LONG_TTL)
        assert await store.incr(ns, "s", amount, ttl=LONG_TTL) == result
        assert await store.get(ns, "s") == str(result).encode()

    @pytest.mark.asyncio
    @pytest.mark.parametrize(
        ("start", "amount"),
        [
            (INT64_MAX, 1),
            (INT64_MAX - 5, 10),
            (1, INT64_MAX),
            (INT64_MIN, -1),
            (INT64_MIN + 5, -10),
            (-2, INT64_MIN),
        ],
        ids=["max+1", "max-5+10", "1+max", "min-1", "min+5-10", "-2+min"],
    )
    async def test_incr_past_int64_raises_and_changes_nothing(
        self, store: FullStore, ns: str, start: int, amount: int
    ) -> None:
        """A result outside int64 raises ValidationError ("overflow"); the value stays."""
        require(store, COUNTER)
        assert await store.incr(ns, "c", start, ttl=LONG_TTL) == start
        with pytest.raises(ValidationError, match="overflow"):
            await store.incr(ns, "c", amount, ttl=LONG_TTL)
        assert await store.incr(ns, "c", 0, ttl=LONG_TTL) == start
        if Capability.KEY_VALUE in store.capabilities:
            assert await store.get(ns, "c") == str(start).encode()

    @pytest.mark.asyncio
    @pytest.mark.parametrize("amount", [INT64_MAX + 1, INT64_MIN - 1, 2**100])
    async def test_incr_by_an_amount_outside_int64_raises(
        self, store: FullStore, ns: str, amount: int
    ) -> None:
        """An amount no int64 holds is refused before anything is written."""
        require(store, COUNTER)
        with pytest.raises(ValidationError):
            await store.incr(ns, "c", amount, ttl=LONG_TTL)
        assert await store.incr(ns, "c", 0, ttl=LONG_TTL) == 0
