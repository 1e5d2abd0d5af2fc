"""Conformance tests of the KeyValue capability: scalar get, set and delete."""

from __future__ import annotations

import pytest

from unistore.errors import SlotKindError
from unistore.protocols import Capability
from unistore.testing._fixtures import SuiteFixtures
from unistore.testing._support import LONG_TTL, FullStore, IdFactory, require

__all__ = ["KeyValueSuite"]

KV = Capability.KEY_VALUE

VALUES = {
    "empty": b"",
    "ascii": b"hello",
    "non-utf8": b"\xff\xfe\x00\x80binary\x00",
    "nul-only": b"\x00",
    "utf8-text": "h\u00e9llo \U0001f600".encode(),
    "crlf": b"line\r\nline\n",
    "all-bytes": bytes(range(256)),
    "large": bytes(range(256)) * 1024,
}


class KeyValueSuite(SuiteFixtures):
    """Scalar slots: bytes in, the same bytes out, one kind per slot."""

    @pytest.mark.asyncio
    async def test_get_of_absent_slot_is_none(self, store: FullStore, ns: str) -> None:
        """An absent slot reads as ``None``."""
        require(store, KV)
        assert await store.get(ns, "missing") is None

    @pytest.mark.asyncio
    @pytest.mark.parametrize("value", list(VALUES.values()), ids=list(VALUES))
    async def test_set_then_get_returns_the_same_bytes(
        self, store: FullStore, ns: str, value: bytes
    ) -> None:
        """Any bytes, including empty and non-UTF-8 ones, round-trip exactly."""
        require(store, KV)
        await store.set(ns, "slot", value, ttl=LONG_TTL)
        got = await store.get(ns, "slot")
        assert isinstance(got, bytes)
        assert got == value

    @pytest.mark.asyncio
    async def test_empty_value_is_not_absent(self, store: FullStore, ns: str) -> None:
        """``b""`` is a value, distinct from a missing slot."""
        require(store, KV)
        await store.set(ns, "empty", b"", ttl=LONG_TTL)
        assert await store.get(ns, "empty") == b""
        assert await store.delete(ns, "empty") is True

    @pytest.mark.asyncio
    async def test_set_overwrites(self, store: FullStore, ns: str) -> None:
        """A second set replaces the value, shorter or longer."""
        require(store, KV)
        await store.set(ns, "slot", b"first value", ttl=LONG_TTL)
        await store.set(ns, "slot", b"2nd", ttl=LONG_TTL)
        assert await store.get(ns, "slot") == b"2nd"
        await store.set(ns, "slot", b"a much longer third value", ttl=LONG_TTL)
        assert await store.get(ns, "slot") == b"a much longer third value"

    @pytest.mark.asyncio
    async def test_delete_returns_whether_the_slot_existed(self, store: FullStore, ns: str) -> None:
        """A delete is True once, then False; the slot is gone and may be written again."""
        require(store, KV)
        assert await store.delete(ns, "slot") is False
        await store.set(ns, "slot", b"v", ttl=LONG_TTL)
        assert await store.delete(ns, "slot") is True
        assert await store.get(ns, "slot") is None
        assert await store.delete(ns, "slot") is False
        await store.set(ns, "slot", b"again", ttl=LONG_TTL)
        assert await store.get(ns, "slot") == b"again"

    @pytest.mark.asyncio
    async def test_slots_of_one_namespace_are_independent(self, store: FullStore, ns: str) -> None:
        """Writing or deleting one slot leaves its neighbours alone."""
        require(store, KV)
        await store.set(ns, "a", b"1", ttl=LONG_TTL)
        await store.set(ns, "b", b"2", ttl=LONG_TTL)
        await store.delete(ns, "a")
        assert await store.get(ns, "b") == b"2"
        await store.set(ns, "b", b"3", ttl=LONG_TTL)
        assert await store.get(ns, "a") is None

    @pytest.mark.asyncio
    async def test_same_slot_in_two_namespaces_is_two_slots(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """A slot name means nothing outside its namespace."""
        require(store, KV)
        first, second = ids.ns(), ids.ns()
        await store.set(first, "slot", b"first", ttl=LONG_TTL)
        await store.set(second, "slot", b"second", ttl=LONG_TTL)
        assert await store.get(first, "slot") == b"first"
        assert await store.delete(second, "slot") is True
        assert await store.get(first, "slot") == b"first"
        assert await store.get(second, "slot") is None

    @pytest.mark.asyncio
    async def test_get_of_a_hash_slot_raises_slot_kind_error(
        self, store: FullStore, ns: str
    ) -> None:
        """A hash is not a scalar."""
        require(store, KV, Capability.HASH)
        await store.hset(ns, "h", {"f": b"v"}, ttl=LONG_TTL)
        with pytest.raises(SlotKindError):
            await store.get(ns, "h")

    @pytest.mark.asyncio
    async def test_set_replaces_a_hash_slot(self, store: FullStore, ns: str) -> None:
        """A set turns a slot of any kind into a scalar."""
        require(store, KV, Capability.HASH)
        await store.hset(ns, "slot", {"f": b"v", "g": b"w"}, ttl=LONG_TTL)
        await store.set(ns, "slot", b"scalar", ttl=LONG_TTL)
        assert await store.get(ns, "slot") == b"scalar"
        with pytest.raises(SlotKindError):
            await store.hget(ns, "slot", "f")

    @pytest.mark.asyncio
    async def test_delete_removes_a_hash_slot(self, store: FullStore, ns: str) -> None:
        """A delete works on every kind and returns True for a hash."""
        require(store, KV, Capability.HASH)
        await store.hset(ns, "h", {"f": b"v"}, ttl=LONG_TTL)
        assert await store.delete(ns, "h") is True
        assert await store.hgetall(ns, "h") == {}
        assert await store.get(ns, "h") is None
