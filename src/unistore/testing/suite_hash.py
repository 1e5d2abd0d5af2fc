"""Conformance tests of the Hash capability: fields under one slot."""

from __future__ import annotations

from typing import Any

import pytest

import unistore
from unistore.errors import CorruptionError, SlotKindError, StoreClosedError
from unistore.protocols import Capability, SlotKind
from unistore.testing._clock import ManualClock, pass_time
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

    # -- hget_text: hget, then a UTF-8 decode ------------------------------------

    @pytest.mark.asyncio
    async def test_hget_text_returns_the_field_as_str(self, store: FullStore, ns: str) -> None:
        """``hget_text`` is ``hget`` decoded as UTF-8; an absent field or hash is ``None``."""
        require(store, HASH)
        text = "h\u00e9llo \U0001f600\r\n\x00"
        await store.hset(ns, "h", {"text": text.encode(), "empty": b""}, ttl=LONG_TTL)
        got = await store.hget_text(ns, "h", "text")
        assert type(got) is str
        assert got == text
        assert await store.hget_text(ns, "h", "empty") == ""
        assert await store.hget_text(ns, "h", "missing") is None
        assert await store.hget_text(ns, "absent", "text") is None

    @pytest.mark.asyncio
    async def test_hget_text_of_an_expired_hash_is_none(
        self, store: FullStore, ns: str, clock: ManualClock | None
    ) -> None:
        """A field of an expired hash reads as ``None`` through ``hget_text`` too."""
        require(store, HASH)
        await store.hset(ns, "gone", {"f": b"v"}, ttl=self.short_ttl)
        await store.hset(ns, "kept", {"f": b"v"}, ttl=LONG_TTL)
        await pass_time(clock, self.expiry_wait)
        assert await store.hget_text(ns, "gone", "f") is None
        assert await store.hget_text(ns, "kept", "f") == "v"

    @pytest.mark.asyncio
    async def test_hget_text_on_a_scalar_raises_slot_kind_error(
        self, store: FullStore, ns: str
    ) -> None:
        """``hget_text`` of a scalar fails as ``hget`` does."""
        require(store, HASH, Capability.KEY_VALUE)
        await store.set(ns, "s", b"v", ttl=LONG_TTL)
        with pytest.raises(SlotKindError):
            await store.hget_text(ns, "s", "f")

    @pytest.mark.asyncio
    async def test_hget_text_of_bytes_that_are_not_utf8_is_a_corruption_error(
        self, store: FullStore, ns: str
    ) -> None:
        """The error names the slot and the offset, never the value; the bytes stay readable."""
        require(store, HASH)
        value = b"\xfesecret"
        await store.hset(ns, "binary", {"f": value}, ttl=LONG_TTL)
        with pytest.raises(CorruptionError) as info:
            await store.hget_text(ns, "binary", "f")
        message = str(info.value)
        assert "'binary'" in message
        assert "offset 0" in message
        assert "secret" not in message
        assert info.value.__cause__ is None
        assert info.value.__suppress_context__
        assert await store.hget(ns, "binary", "f") == value

    @pytest.mark.asyncio
    async def test_hget_text_of_a_closed_store_raises_store_closed(
        self, store_url: str, connect_options: dict[str, Any], ns: str
    ) -> None:
        """A closed store refuses ``hget_text`` as it refuses ``hget``."""
        opened: FullStore = unistore.connect(store_url, **connect_options)
        async with opened:
            pass
        require(opened, HASH)
        with pytest.raises(StoreClosedError):
            await opened.hget_text(ns, "h", "f")
