"""The optional read-at-once primitives: ``_get_now`` and ``_hget_now`` tried before ``_get``.

A small dict-backed driver answers some reads at once and defers others
with ``LATER``; the SDK's public reads must give the same answers either way,
await the asynchronous primitive only for a deferred read, and translate a
driver error raised by the synchronous one like any other.
"""

from __future__ import annotations

import pytest

from unistore import StoreURL
from unistore.errors import (
    SlotKindError,
    StoreClosedError,
    StoreUnavailableError,
    ValidationError,
)
from unistore.sdk import LATER, ErrorRule, ErrorTable, HashBase, KeyValueBase, Later


class _DiskError(Exception):
    pass


class _Store(KeyValueBase, HashBase):
    """Slots named ``later:…`` defer to ``_get``/``_hget``; ``boom`` fails at once."""

    NAME = "now"
    ERRORS = ErrorTable(ErrorRule(_DiskError, StoreUnavailableError, "the disk failed"))

    def __init__(self) -> None:
        super().__init__(StoreURL.parse("now://"))
        self.scalars: dict[tuple[str, str], bytes] = {}
        self.hashes: dict[tuple[str, str], dict[str, bytes]] = {}
        self.awaited: list[str] = []

    def _scalar(self, ns: str, slot: str) -> bytes | None:
        if slot == "boom":
            raise _DiskError("sector 7")
        if (ns, slot) in self.hashes:
            raise SlotKindError(f"slot {slot!r} holds a hash")
        return self.scalars.get((ns, slot))

    def _field(self, ns: str, slot: str, field: str) -> bytes | None:
        if slot == "boom":
            raise _DiskError("sector 7")
        if (ns, slot) in self.scalars:
            raise SlotKindError(f"slot {slot!r} holds a scalar")
        return self.hashes.get((ns, slot), {}).get(field)

    def _get_now(self, ns: str, slot: str) -> bytes | Later | None:
        return LATER if slot.startswith("later:") else self._scalar(ns, slot)

    def _hget_now(self, ns: str, slot: str, field: str) -> bytes | Later | None:
        return LATER if slot.startswith("later:") else self._field(ns, slot, field)

    async def _get(self, ns: str, slot: str) -> bytes | None:
        self.awaited.append(slot)
        return self._scalar(ns, slot)

    async def _hget(self, ns: str, slot: str, field: str) -> bytes | None:
        self.awaited.append(slot)
        return self._field(ns, slot, field)

    async def _set(self, ns: str, slot: str, value: bytes, ttl: float | None) -> None:
        self.hashes.pop((ns, slot), None)
        self.scalars[ns, slot] = value

    async def _delete(self, ns: str, slot: str) -> bool:
        found = (ns, slot) in self.scalars or (ns, slot) in self.hashes
        self.scalars.pop((ns, slot), None)
        self.hashes.pop((ns, slot), None)
        return found

    async def _get_many(self, ns: str, slots: list[str]) -> list[bytes | None]:
        return [self.scalars.get((ns, slot)) for slot in slots]

    async def _set_many(self, ns: str, mapping: dict[str, bytes], ttl: float | None) -> None:
        for slot, value in mapping.items():
            await self._set(ns, slot, value, ttl)

    async def _delete_many(self, ns: str, slots: list[str]) -> int:
        return sum([await self._delete(ns, slot) for slot in slots])

    async def _hset(self, ns: str, slot: str, mapping: dict[str, bytes], ttl: float | None) -> int:
        if (ns, slot) in self.scalars:
            raise SlotKindError(f"slot {slot!r} holds a scalar")
        fields = self.hashes.setdefault((ns, slot), {})
        new = len(mapping.keys() - fields.keys())
        fields.update(mapping)
        return new

    async def _hdel(self, ns: str, slot: str, fields: list[str]) -> int:
        held = self.hashes.get((ns, slot), {})
        return sum(held.pop(field, None) is not None for field in fields)

    async def _hgetall(self, ns: str, slot: str) -> dict[str, bytes]:
        return dict(self.hashes.get((ns, slot), {}))


class _Deferring(_Store):
    """A subclass keeps the read-at-once primitives it inherits."""


class _Plain(KeyValueBase):
    """No ``_get_now``: every read awaits ``_get``."""

    async def _get(self, ns: str, slot: str) -> bytes | None:
        return b"plain"

    async def _set(self, ns: str, slot: str, value: bytes, ttl: float | None) -> None:
        raise NotImplementedError

    async def _delete(self, ns: str, slot: str) -> bool:
        raise NotImplementedError

    async def _get_many(self, ns: str, slots: list[str]) -> list[bytes | None]:
        raise NotImplementedError

    async def _set_many(self, ns: str, mapping: dict[str, bytes], ttl: float | None) -> None:
        raise NotImplementedError

    async def _delete_many(self, ns: str, slots: list[str]) -> int:
        raise NotImplementedError


def test_the_sdk_knows_which_classes_read_at_once() -> None:
    assert _Store._GETS_NOW
    assert _Store._HGETS_NOW
    assert _Deferring._GETS_NOW
    assert _Deferring._HGETS_NOW
    assert not _Plain._GETS_NOW
    assert not KeyValueBase._GETS_NOW
    assert not HashBase._HGETS_NOW


async def test_a_plain_driver_reads_through_its_coroutine() -> None:
    store = _Plain(StoreURL.parse("plain://"))
    assert await store.get("ns", "s") == b"plain"
    assert await store.get_text("ns", "s") == "plain"


@pytest.mark.parametrize("slot", ["now", "later:now"])
async def test_reads_at_once_and_later_give_the_same_answers(slot: str) -> None:
    store = _Store()
    await store.set("ns", slot, "é".encode(), ttl=None)
    await store.hset("ns", f"{slot}:h", {"f": b"v"}, ttl=None)

    assert await store.get("ns", slot) == "é".encode()
    assert await store.get_text("ns", slot) == "é"
    assert await store.get("ns", f"{slot}:missing") is None
    assert await store.get_text("ns", f"{slot}:missing") is None
    assert await store.hget("ns", f"{slot}:h", "f") == b"v"
    assert await store.hget_text("ns", f"{slot}:h", "f") == "v"
    assert await store.hget("ns", f"{slot}:h", "nope") is None
    assert await store.hget_text("ns", f"{slot}:h", "nope") is None

    deferred = slot.startswith("later:")
    assert len(store.awaited) == (8 if deferred else 0)


async def test_kind_errors_raised_at_once_reach_the_caller() -> None:
    store = _Store()
    await store.hset("ns", "h", {"f": b"v"}, ttl=None)
    await store.set("ns", "s", b"v", ttl=None)
    with pytest.raises(SlotKindError):
        await store.get("ns", "h")
    with pytest.raises(SlotKindError):
        await store.get_text("ns", "h")
    with pytest.raises(SlotKindError):
        await store.hget("ns", "s", "f")
    with pytest.raises(SlotKindError):
        await store.hget_text("ns", "s", "f")
    assert store.awaited == []


async def test_a_driver_error_raised_at_once_is_translated() -> None:
    store = _Store()
    for read in (
        store.get("ns", "boom"),
        store.get_text("ns", "boom"),
        store.hget("ns", "boom", "f"),
        store.hget_text("ns", "boom", "f"),
    ):
        with pytest.raises(StoreUnavailableError, match="the disk failed") as caught:
            await read
        assert isinstance(caught.value.__cause__, _DiskError)
    assert store.awaited == []


async def test_reads_at_once_check_their_arguments_and_the_closed_store() -> None:
    store = _Store()
    with pytest.raises(ValidationError, match="a slot name must be a str"):
        await store.get("ns", 7)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="a hash field name must be a str"):
        await store.hget_text("ns", "h", None)  # type: ignore[arg-type]
    await store.aclose()
    with pytest.raises(StoreClosedError):
        await store.get("ns", "now")
    with pytest.raises(StoreClosedError):
        await store.hget_text("ns", "now", "f")
    assert store.awaited == []


def test_later_reads_as_itself() -> None:
    assert repr(LATER) == "LATER"
    assert LATER is Later.LATER
