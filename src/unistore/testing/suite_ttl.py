"""Conformance tests of expiry: TTLs are positive seconds, and expired slots vanish.

Writes without expiry (``ttl=None``) are in :mod:`unistore.testing.suite_persistent`.
"""

from __future__ import annotations

import pytest

from unistore.errors import ValidationError
from unistore.protocols import Capability
from unistore.testing._clock import ManualClock, pass_time
from unistore.testing._fixtures import SuiteFixtures
from unistore.testing._support import LONG_TTL, FullStore, require

__all__ = ["TTLSuite"]

KV = Capability.KEY_VALUE
HASH = Capability.HASH
COUNTER = Capability.COUNTER
TTL = Capability.TTL


class TTLSuite(SuiteFixtures):
    """Expiry of scalars, hashes and counters, and the TTL capability."""

    async def _let_short_ttls_expire(self, clock: ManualClock | None) -> None:
        await pass_time(clock, self.expiry_wait)

    @pytest.mark.asyncio
    @pytest.mark.parametrize("ttl", [0, 0.0, -1.0])
    async def test_non_positive_ttl_is_rejected(
        self, store: FullStore, ns: str, ttl: float
    ) -> None:
        """A TTL <= 0 is no TTL (``None`` is how to say "never"): it raises ValidationError."""
        caps = store.capabilities
        if not caps & {KV, HASH, COUNTER}:
            pytest.skip("no capability that writes slots")
        if KV in caps:
            with pytest.raises(ValidationError):
                await store.set(ns, "s", b"v", ttl=ttl)
            assert await store.get(ns, "s") is None
        if HASH in caps:
            with pytest.raises(ValidationError):
                await store.hset(ns, "h", {"f": b"v"}, ttl=ttl)
            assert await store.hgetall(ns, "h") == {}
        if COUNTER in caps:
            with pytest.raises(ValidationError):
                await store.incr(ns, "c", ttl=ttl)
            assert await store.incr(ns, "c", ttl=LONG_TTL) == 1
        if KV in caps and TTL in caps:
            await store.set(ns, "s", b"v", ttl=LONG_TTL)
            with pytest.raises(ValidationError):
                await store.expire(ns, "s", ttl)
            assert await store.get(ns, "s") == b"v"

    @pytest.mark.asyncio
    async def test_get_ttl_reports_the_seconds_left(self, store: FullStore, ns: str) -> None:
        """get_ttl is None for an absent slot and close to the TTL just written."""
        require(store, TTL)
        assert await store.get_ttl(ns, "missing") is None
        written: list[str] = []
        caps = store.capabilities
        if KV in caps:
            await store.set(ns, "s", b"v", ttl=100)
            written.append("s")
        if HASH in caps:
            await store.hset(ns, "h", {"f": b"v"}, ttl=100)
            written.append("h")
        if COUNTER in caps:
            await store.incr(ns, "c", ttl=100)
            written.append("c")
        for slot in written:
            left = await store.get_ttl(ns, slot)
            assert isinstance(left, float), f"get_ttl({slot!r}) returned {left!r}"
            assert 90 < left <= 100, f"get_ttl({slot!r}) = {left}, expected about 100"

    @pytest.mark.asyncio
    async def test_expire_gives_a_new_ttl(self, store: FullStore, ns: str) -> None:
        """An expire lengthens or shortens the TTL and says whether the slot existed."""
        require(store, TTL, KV)
        assert await store.expire(ns, "missing", 100) is False
        assert await store.get_ttl(ns, "missing") is None
        assert await store.get(ns, "missing") is None
        await store.set(ns, "s", b"v", ttl=100)
        assert await store.expire(ns, "s", 500) is True
        left = await store.get_ttl(ns, "s")
        assert left is not None
        assert 400 < left <= 500
        assert await store.expire(ns, "s", 50) is True
        left = await store.get_ttl(ns, "s")
        assert left is not None
        assert 40 < left <= 50
        assert await store.get(ns, "s") == b"v"

    @pytest.mark.asyncio
    async def test_set_replaces_the_ttl(self, store: FullStore, ns: str) -> None:
        """Each set applies its own TTL."""
        require(store, TTL, KV)
        await store.set(ns, "s", b"v", ttl=500)
        await store.set(ns, "s", b"w", ttl=50)
        left = await store.get_ttl(ns, "s")
        assert left is not None
        assert 40 < left <= 50

    @pytest.mark.asyncio
    async def test_expired_scalar_is_invisible(
        self, store: FullStore, ns: str, clock: ManualClock | None
    ) -> None:
        """An expired scalar reads as absent, can be written again, and is not deleted twice."""
        require(store, KV)
        short = self.short_ttl
        await store.set(ns, "gone", b"v", ttl=short)
        await store.set(ns, "kept", b"v", ttl=LONG_TTL)
        await store.set(ns, "rewritten", b"old", ttl=short)
        await store.set(ns, "rewritten", b"new", ttl=LONG_TTL)
        await store.set(ns, "to-hash", b"v", ttl=short)
        await self._let_short_ttls_expire(clock)
        assert await store.get(ns, "gone") is None
        assert await store.get(ns, "kept") == b"v"
        assert await store.get(ns, "rewritten") == b"new"
        assert await store.delete(ns, "gone") is False
        await store.set(ns, "gone", b"back", ttl=LONG_TTL)
        assert await store.get(ns, "gone") == b"back"
        if HASH in store.capabilities:
            assert await store.hset(ns, "to-hash", {"f": b"v"}, ttl=LONG_TTL) == 1
            if TTL in store.capabilities:
                assert await store.get_ttl(ns, "to-hash") is not None

    @pytest.mark.asyncio
    async def test_expired_hash_is_invisible(
        self, store: FullStore, ns: str, clock: ManualClock | None
    ) -> None:
        """A hash expires as a whole; every hset re-applies the TTL to all its fields."""
        require(store, HASH)
        short = self.short_ttl
        await store.hset(ns, "gone", {"a": b"1", "b": b"2"}, ttl=short)
        await store.hset(ns, "extended", {"a": b"1"}, ttl=short)
        await store.hset(ns, "extended", {"b": b"2"}, ttl=LONG_TTL)
        await store.hset(ns, "shortened", {"a": b"1"}, ttl=LONG_TTL)
        await store.hset(ns, "shortened", {"b": b"2"}, ttl=short)
        await self._let_short_ttls_expire(clock)
        for slot in ("gone", "shortened"):
            assert await store.hget(ns, slot, "a") is None, slot
            assert await store.hgetall(ns, slot) == {}, slot
            assert await store.hkeys(ns, slot) == [], slot
            assert await store.hdel(ns, slot, ["a"]) == 0, slot
        assert await store.hgetall(ns, "extended") == {"a": b"1", "b": b"2"}
        assert await store.hset(ns, "gone", {"c": b"3"}, ttl=LONG_TTL) == 1
        assert await store.hgetall(ns, "gone") == {"c": b"3"}

    @pytest.mark.asyncio
    async def test_counter_expires_and_keeps_its_first_expiry(
        self, store: FullStore, ns: str, clock: ManualClock | None
    ) -> None:
        """An incr creates with its TTL; later incr calls do not change the expiry."""
        require(store, COUNTER)
        short = self.short_ttl
        await store.incr(ns, "gone", 5, ttl=short)
        await store.incr(ns, "kept-short", ttl=short)
        await store.incr(ns, "kept-short", ttl=LONG_TTL)
        await store.incr(ns, "kept-long", ttl=LONG_TTL)
        await store.incr(ns, "kept-long", ttl=short)
        await self._let_short_ttls_expire(clock)
        if KV in store.capabilities:
            assert await store.get(ns, "gone") is None
            assert await store.get(ns, "kept-short") is None
        assert await store.incr(ns, "gone", ttl=LONG_TTL) == 1
        assert await store.incr(ns, "kept-short", ttl=LONG_TTL) == 1
        assert await store.incr(ns, "kept-long", ttl=LONG_TTL) == 3

    @pytest.mark.asyncio
    async def test_expire_can_make_a_slot_expire(
        self, store: FullStore, ns: str, clock: ManualClock | None
    ) -> None:
        """A slot given a short TTL by expire vanishes; get_ttl and expire then see nothing."""
        require(store, TTL, KV)
        await store.set(ns, "s", b"v", ttl=LONG_TTL)
        assert await store.expire(ns, "s", self.short_ttl) is True
        await self._let_short_ttls_expire(clock)
        assert await store.get(ns, "s") is None
        assert await store.get_ttl(ns, "s") is None
        assert await store.expire(ns, "s", LONG_TTL) is False
        assert await store.get(ns, "s") is None
