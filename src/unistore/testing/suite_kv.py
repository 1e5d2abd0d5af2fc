"""Conformance tests of the KeyValue capability: scalar get, set and delete."""

from __future__ import annotations

from typing import Any

import pytest

import unistore
from unistore.errors import CorruptionError, SlotKindError, StoreClosedError
from unistore.protocols import Capability
from unistore.testing._clock import ManualClock, pass_time
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

    # -- get_text: get, then a UTF-8 decode --------------------------------------

    @pytest.mark.asyncio
    async def test_get_text_returns_the_value_as_str(self, store: FullStore, ns: str) -> None:
        """``get_text`` is ``get`` decoded as UTF-8; an absent slot is ``None``."""
        require(store, KV)
        text = "h\u00e9llo \U0001f600\r\n\x00"
        await store.set(ns, "text", text.encode(), ttl=LONG_TTL)
        await store.set(ns, "empty", b"", ttl=LONG_TTL)
        got = await store.get_text(ns, "text")
        assert type(got) is str
        assert got == text
        assert await store.get_text(ns, "empty") == ""
        assert await store.get_text(ns, "missing") is None

    @pytest.mark.asyncio
    async def test_get_text_of_an_expired_slot_is_none(
        self, store: FullStore, ns: str, clock: ManualClock | None
    ) -> None:
        """An expired scalar reads as ``None`` through ``get_text`` too."""
        require(store, KV)
        await store.set(ns, "gone", b"v", ttl=self.short_ttl)
        await store.set(ns, "kept", b"v", ttl=LONG_TTL)
        await pass_time(clock, self.expiry_wait)
        assert await store.get_text(ns, "gone") is None
        assert await store.get_text(ns, "kept") == "v"

    @pytest.mark.asyncio
    async def test_get_text_of_a_hash_slot_raises_slot_kind_error(
        self, store: FullStore, ns: str
    ) -> None:
        """``get_text`` of a hash fails as ``get`` does."""
        require(store, KV, Capability.HASH)
        await store.hset(ns, "h", {"f": b"v"}, ttl=LONG_TTL)
        with pytest.raises(SlotKindError):
            await store.get_text(ns, "h")

    @pytest.mark.asyncio
    async def test_get_text_of_bytes_that_are_not_utf8_is_a_corruption_error(
        self, store: FullStore, ns: str
    ) -> None:
        """The error names the slot and the offset, never the value; the bytes stay readable."""
        require(store, KV)
        value = b"ok\xffsecret"
        await store.set(ns, "binary", value, ttl=LONG_TTL)
        with pytest.raises(CorruptionError) as info:
            await store.get_text(ns, "binary")
        message = str(info.value)
        assert "'binary'" in message
        assert "offset 2" in message
        assert "secret" not in message
        assert info.value.__cause__ is None
        assert info.value.__suppress_context__
        assert await store.get(ns, "binary") == value

    @pytest.mark.asyncio
    async def test_get_text_of_a_closed_store_raises_store_closed(
        self, store_url: str, connect_options: dict[str, Any], ns: str
    ) -> None:
        """A closed store refuses ``get_text`` as it refuses ``get``."""
        opened: FullStore = unistore.connect(store_url, **connect_options)
        async with opened:
            pass
        require(opened, KV)
        with pytest.raises(StoreClosedError):
            await opened.get_text(ns, "slot")
