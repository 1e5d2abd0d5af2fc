"""Conformance tests of the Hash capability: fields under one slot."""

from __future__ import annotations

import pytest

from unistore.errors import SlotKindError
from unistore.protocols import Capability, SlotKind
from unistore.testing._fixtures import SuiteFixtures
from unistore.testing._support import LONG_TTL, FullStore, require

__all__ = ["HashSuite"]

HASH = Capability.HASH

#: Field names that a store must keep apart and return exactly.
ODD_FIELDS = ("", " ", ":", "a:b", "*", "?", "[x]", "/", "..", "%", "%2F", "\n", "\u00e9", "A", "a")


class HashSuite(SuiteFixtures):
    """Hash slots: hget, hset, hdel, hgetall, hkeys."""

    @pytest.mark.asyncio
    async def test_absent_hash_reads_empty(self, store: FullStore, ns: str) -> None:
        """An absent hash has no fields."""
        require(store, HASH)
        assert await store.hget(ns, "h", "f") is None
        assert await store.hgetall(ns, "h") == {}
        assert await store.hkeys(ns, "h") == []

    @pytest.mark.asyncio
    async def test_hset_returns_the_number_of_new_fields(self, store: FullStore, ns: str) -> None:
        """Overwritten fields do not count as new."""
        require(store, HASH)
        assert await store.hset(ns, "h", {"a": b"1", "b": b"2"}, ttl=LONG_TTL) == 2
        assert await store.hset(ns, "h", {"b": b"20", "c": b"3"}, ttl=LONG_TTL) == 1
        assert await store.hset(ns, "h", {"a": b"10"}, ttl=LONG_TTL) == 0
        assert await store.hgetall(ns, "h") == {"a": b"10", "b": b"20", "c": b"3"}

    @pytest.mark.asyncio
    async def test_hget_hgetall_hkeys(self, store: FullStore, ns: str) -> None:
        """Each read returns exactly what was written."""
        require(store, HASH)
        fields = {"name": b"x", "empty": b"", "binary": b"\xff\x00\xfe"}
        await store.hset(ns, "h", fields, ttl=LONG_TTL)
        assert await store.hget(ns, "h", "name") == b"x"
        assert await store.hget(ns, "h", "empty") == b""
        assert await store.hget(ns, "h", "binary") == b"\xff\x00\xfe"
        assert await store.hget(ns, "h", "missing") is None
        got = await store.hgetall(ns, "h")
        assert got == fields
        assert all(isinstance(v, bytes) for v in got.values())
        assert sorted(await store.hkeys(ns, "h")) == sorted(fields)

    @pytest.mark.asyncio
    async def test_odd_field_names_are_kept_apart(self, store: FullStore, ns: str) -> None:
        """Field names are opaque strings: separators, globs and case all matter."""
        require(store, HASH)
        fields = {name: f"value-{i}".encode() for i, name in enumerate(ODD_FIELDS)}
        assert await store.hset(ns, "h", fields, ttl=LONG_TTL) == len(fields)
        assert await store.hset(ns, "h:a", {"b": b"other"}, ttl=LONG_TTL) == 1
        assert await store.hgetall(ns, "h") == fields
        assert sorted(await store.hkeys(ns, "h")) == sorted(fields)
        for name, value in fields.items():
            assert await store.hget(ns, "h", name) == value
        assert await store.hdel(ns, "h", ["*"]) == 1
        del fields["*"]
        assert await store.hgetall(ns, "h") == fields
        assert await store.hgetall(ns, "h:a") == {"b": b"other"}

    @pytest.mark.asyncio
    async def test_hdel_returns_how_many_fields_existed(self, store: FullStore, ns: str) -> None:
        """Missing fields and missing hashes count zero."""
        require(store, HASH)
        assert await store.hdel(ns, "h", ["a"]) == 0
        await store.hset(ns, "h", {"a": b"1", "b": b"2", "c": b"3"}, ttl=LONG_TTL)
        assert await store.hdel(ns, "h", ["a", "missing"]) == 1
        assert await store.hdel(ns, "h", ["a"]) == 0
        assert await store.hgetall(ns, "h") == {"b": b"2", "c": b"3"}

    @pytest.mark.asyncio
    async def test_hdel_of_every_field_removes_the_slot(self, store: FullStore, ns: str) -> None:
        """An emptied hash disappears: no empty husk stays behind."""
        require(store, HASH)
        await store.hset(ns, "h", {"a": b"1", "b": b"2"}, ttl=LONG_TTL)
        assert await store.hdel(ns, "h", ["a", "b"]) == 2
        assert await store.hgetall(ns, "h") == {}
        assert await store.hkeys(ns, "h") == []
        caps = store.capabilities
        if Capability.NAMESPACE_LIFECYCLE in caps:
            assert await store.slot_kind(ns, "h") is None
            assert await store.slots(ns) == []
        if Capability.KEY_VALUE in caps:
            assert await store.get(ns, "h") is None
            assert await store.delete(ns, "h") is False
        if Capability.TTL in caps:
            assert await store.get_ttl(ns, "h") is None

    @pytest.mark.asyncio
    async def test_hset_on_a_scalar_raises_slot_kind_error(self, store: FullStore, ns: str) -> None:
        """An hset does not silently convert a scalar; the scalar stays."""
        require(store, HASH, Capability.KEY_VALUE)
        await store.set(ns, "s", b"scalar", ttl=LONG_TTL)
        with pytest.raises(SlotKindError):
            await store.hset(ns, "s", {"f": b"v"}, ttl=LONG_TTL)
        assert await store.get(ns, "s") == b"scalar"

    @pytest.mark.asyncio
    async def test_hset_of_no_fields(self, store: FullStore, ns: str) -> None:
        """No fields: a scalar still refuses, a missing slot stays missing, a hash gets the TTL."""
        require(store, HASH, Capability.KEY_VALUE)
        await store.set(ns, "s", b"scalar", ttl=LONG_TTL)
        with pytest.raises(SlotKindError):
            await store.hset(ns, "s", {}, ttl=LONG_TTL)
        assert await store.get(ns, "s") == b"scalar"
        assert await store.hset(ns, "missing", {}, ttl=LONG_TTL) == 0
        assert await store.hgetall(ns, "missing") == {}
        await store.hset(ns, "h", {"f": b"v"}, ttl=5)
        assert await store.hset(ns, "h", {}, ttl=LONG_TTL) == 0
        assert await store.hgetall(ns, "h") == {"f": b"v"}
        if Capability.TTL in store.capabilities:
            left = await store.get_ttl(ns, "h")
            assert left is not None
            assert left > 5
        if Capability.NAMESPACE_LIFECYCLE in store.capabilities:
            assert await store.slots(ns) == ["h", "s"]

    @pytest.mark.asyncio
    async def test_hget_on_a_scalar_raises_slot_kind_error(self, store: FullStore, ns: str) -> None:
        """A scalar is not a hash."""
        require(store, HASH, Capability.KEY_VALUE)
        await store.set(ns, "s", b"scalar", ttl=LONG_TTL)
        with pytest.raises(SlotKindError):
            await store.hget(ns, "s", "f")

    @pytest.mark.asyncio
    async def test_hash_after_delete_starts_empty(self, store: FullStore, ns: str) -> None:
        """A hash written after a delete holds only the new fields."""
        require(store, HASH, Capability.KEY_VALUE)
        await store.hset(ns, "h", {"old": b"1"}, ttl=LONG_TTL)
        await store.delete(ns, "h")
        assert await store.hset(ns, "h", {"new": b"2"}, ttl=LONG_TTL) == 1
        assert await store.hgetall(ns, "h") == {"new": b"2"}
        if Capability.NAMESPACE_LIFECYCLE in store.capabilities:
            assert await store.slot_kind(ns, "h") is SlotKind.HASH
