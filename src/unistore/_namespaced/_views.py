"""The two kinds of namespace handle: reads decoded to ``str``, or left as ``bytes``."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import Any, Final

from unistore._namespaced._checks import (
    SLOT_CACHE,
    admit_slot,
    check_fields,
    check_slot,
    check_slots,
)
from unistore._namespaced._handle import Namespace
from unistore.sdk import not_utf8

__all__ = ["BytesNamespace", "TextNamespace"]

_SLOTS: Final = SLOT_CACHE


class TextNamespace(Namespace[str]):
    __slots__ = ()

    def get(self, slot: str) -> Coroutine[Any, Any, str | None]:
        try:
            slot = _SLOTS[slot]
        except (KeyError, TypeError):
            slot = admit_slot(slot)
        # The store decodes: no coroutine frame of its own here (see BytesNamespace).
        return self._store.get_text(self._ns, slot)

    async def get_many(self, slots: Sequence[str]) -> list[str | None]:
        names = check_slots(slots, "get_many")
        values = await self._store.get_many(self._ns, names)
        decoded: list[str | None] = []
        for slot, data in zip(names, values, strict=True):
            try:
                decoded.append(None if data is None else data.decode())
            except UnicodeDecodeError as exc:
                raise not_utf8(slot, exc) from None
        return decoded

    def hget(self, slot: str, field: str) -> Coroutine[Any, Any, str | None]:
        try:
            slot = _SLOTS[slot]
        except (KeyError, TypeError):
            slot = admit_slot(slot)
        if type(field) is not str:
            field = check_fields((field,))[0]
        return self._store.hget_text(self._ns, slot, field)

    async def hgetall(self, slot: str) -> dict[str, str]:
        fields = await self._store.hgetall(self._ns, check_slot(slot))
        try:
            return {name: data.decode() for name, data in fields.items()}
        except UnicodeDecodeError as exc:
            raise not_utf8(slot, exc) from None


class BytesNamespace(Namespace[bytes]):
    __slots__ = ()

    def get(self, slot: str) -> Coroutine[Any, Any, bytes | None]:
        try:
            slot = _SLOTS[slot]
        except (KeyError, TypeError):
            slot = admit_slot(slot)
        return self._store.get(self._ns, slot)

    def get_many(self, slots: Sequence[str]) -> Coroutine[Any, Any, list[bytes | None]]:
        return self._store.get_many(self._ns, check_slots(slots, "get_many"))

    def hget(self, slot: str, field: str) -> Coroutine[Any, Any, bytes | None]:
        if type(field) is not str:
            field = check_fields((field,))[0]
        return self._store.hget(self._ns, check_slot(slot), field)

    def hgetall(self, slot: str) -> Coroutine[Any, Any, dict[str, bytes]]:
        return self._store.hgetall(self._ns, check_slot(slot))
