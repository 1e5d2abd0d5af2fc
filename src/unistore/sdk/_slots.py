"""Capability bases for slots: key-value, hash, counter, TTL, namespace lifecycle, listing.

Each public method is final and does, in this order: the closed-store check,
argument checks (:mod:`unistore.sdk._checks`), and the call into the driver's
``_``-prefixed primitive inside the driver's error table. Primitives receive
checked arguments only: ``str`` ids, ``bytes`` values, TTLs as positive
finite ``float`` seconds or ``None`` (the slot never expires), ``dict``
mappings and duplicate-free field lists.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import ClassVar, final

from unistore.protocols import Capability, SlotKind
from unistore.sdk._checks import (
    check_amount,
    check_expiry,
    check_fields,
    check_id,
    check_mapping,
    check_slot_names,
    check_ttl,
    check_value,
    not_utf8,
)
from unistore.sdk._now import LATER, Later
from unistore.sdk._store import StoreBase

__all__ = [
    "CounterBase",
    "HashBase",
    "KeyValueBase",
    "NamespaceLifecycleBase",
    "NamespaceListingBase",
    "TTLBase",
]

_NS = "a namespace"
_SLOT = "a slot name"


class KeyValueBase(StoreBase):
    """Scalar slots and their batch forms.

    Primitives: :meth:`_get`, :meth:`_set`, :meth:`_delete`, and the batch
    forms :meth:`_get_many`, :meth:`_set_many`, :meth:`_delete_many`, each
    atomic and, where the backend allows, one round trip. Empty batches never
    reach a primitive. :meth:`get_text` (a decoding ``get``) reads through
    :meth:`_get`. Optional: :meth:`_get_now`, a synchronous ``_get`` tried
    first.
    """

    _CAPABILITY: ClassVar[Capability | None] = Capability.KEY_VALUE
    #: Whether the class overrides :meth:`_get_now` (set for each subclass):
    #: a driver without one pays a flag test, not a call.
    _GETS_NOW: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._GETS_NOW = cls._get_now is not KeyValueBase._get_now

    @final
    async def get(self, ns: str, slot: str) -> bytes | None:
        """Return the value of a scalar slot, or ``None`` if absent or expired.

        Raises:
            SlotKindError: The slot holds a hash.
        """
        if self._closed:
            raise self._closed_error()
        if type(ns) is not str:
            ns = check_id(ns, _NS)
        if type(slot) is not str:
            slot = check_id(slot, _SLOT)
        try:
            if self._GETS_NOW:
                data = self._get_now(ns, slot)
                if data is not LATER:
                    return data
            return await self._get(ns, slot)
        except self._catches as exc:
            raise self._translate(exc) from exc

    @final
    async def get_text(self, ns: str, slot: str) -> str | None:
        """Return the value of a scalar slot decoded as UTF-8, or ``None`` if absent or expired.

        :meth:`get` and the decode in one frame, over the same primitive
        (:meth:`_get`): drivers implement nothing for it.

        Raises:
            SlotKindError: The slot holds a hash.
            CorruptionError: The value is not UTF-8 (see :func:`~unistore.sdk.not_utf8`).
        """
        # get()'s checks and the decode written out, not calls: on the memory
        # driver a helper's frame costs a text read about a tenth of its time.
        if self._closed:
            raise self._closed_error()
        if type(ns) is not str:
            ns = check_id(ns, _NS)
        if type(slot) is not str:
            slot = check_id(slot, _SLOT)
        try:
            if self._GETS_NOW:
                now = self._get_now(ns, slot)
                data = await self._get(ns, slot) if now is LATER else now
            else:
                data = await self._get(ns, slot)
        except self._catches as exc:
            raise self._translate(exc) from exc
        if data is None:
            return None
        try:
            return data.decode()
        except UnicodeDecodeError as exc:
            raise not_utf8(slot, exc) from None

    @final
    async def set(self, ns: str, slot: str, value: bytes, *, ttl: float | None) -> None:
        """Store a scalar value and its expiry in one atomic step (any kind is replaced).

        ``ttl=None``: the slot never expires.
        """
        if self._closed:
            raise self._closed_error()
        if type(ns) is not str:
            ns = check_id(ns, _NS)
        if type(slot) is not str:
            slot = check_id(slot, _SLOT)
        if type(value) is not bytes:
            value = check_value(value)
        seconds = None if ttl is None else check_ttl(ttl)
        try:
            await self._set(ns, slot, value, seconds)
        except self._catches as exc:
            raise self._translate(exc) from exc

    @final
    async def delete(self, ns: str, slot: str) -> bool:
        """Delete a slot of any kind; return whether it existed."""
        if self._closed:
            raise self._closed_error()
        ns, slot = check_id(ns, _NS), check_id(slot, _SLOT)
        return await self._mapped(self._delete(ns, slot))

    @final
    async def get_many(self, ns: str, slots: Sequence[str]) -> list[bytes | None]:
        """Return the values of scalar slots in the order asked, read at one instant.

        Absent and expired slots, and slots holding a hash, read as ``None``.
        """
        if self._closed:
            raise self._closed_error()
        ns, names = check_id(ns, _NS), check_slot_names(slots)
        if not names:
            return []
        return await self._mapped(self._get_many(ns, names))

    @final
    async def set_many(self, ns: str, mapping: Mapping[str, bytes], *, ttl: float | None) -> None:
        """Store several scalar values with one expiry, all or none (any kind is replaced)."""
        if self._closed:
            raise self._closed_error()
        ns = check_id(ns, _NS)
        values = check_mapping(mapping, batch=True)
        seconds = check_expiry(ttl)
        if values:
            await self._mapped(self._set_many(ns, values, seconds))

    @final
    async def delete_many(self, ns: str, slots: Sequence[str]) -> int:
        """Delete slots of any kind, all at once; return how many existed."""
        if self._closed:
            raise self._closed_error()
        ns, names = check_id(ns, _NS), check_slot_names(slots, distinct=True)
        if not names:
            return 0
        return await self._mapped(self._delete_many(ns, names))

    @abstractmethod
    async def _get(self, ns: str, slot: str) -> bytes | None: ...

    def _get_now(self, ns: str, slot: str) -> bytes | Later | None:
        """Optional: answer :meth:`_get` without waiting, or return :data:`LATER`.

        Tried before :meth:`_get` by :meth:`get` and :meth:`get_text` when a
        class overrides it; :data:`LATER` sends the read to :meth:`_get`.
        It must never block the loop for longer than one short statement,
        and it may return :data:`LATER` for any reason at all.
        """
        return LATER

    @abstractmethod
    async def _set(self, ns: str, slot: str, value: bytes, ttl: float | None) -> None: ...

    @abstractmethod
    async def _delete(self, ns: str, slot: str) -> bool: ...

    @abstractmethod
    async def _get_many(self, ns: str, slots: list[str]) -> list[bytes | None]:
        """Read at least one slot (maybe repeated) at one instant, in order."""

    @abstractmethod
    async def _set_many(self, ns: str, mapping: dict[str, bytes], ttl: float | None) -> None:
        """Write at least one slot atomically."""

    @abstractmethod
    async def _delete_many(self, ns: str, slots: list[str]) -> int:
        """Delete at least one distinct slot atomically."""


class HashBase(StoreBase):
    """Hash slots. Primitives: :meth:`_hget`, :meth:`_hset`, :meth:`_hdel`, :meth:`_hgetall`.

    :meth:`_hkeys` defaults to the names of :meth:`_hgetall`; :meth:`hget_text`
    (a decoding ``hget``) reads through :meth:`_hget`. Optional:
    :meth:`_hget_now`, a synchronous ``_hget`` tried first.
    """

    _CAPABILITY: ClassVar[Capability | None] = Capability.HASH
    #: Whether the class overrides :meth:`_hget_now` (set for each subclass).
    _HGETS_NOW: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._HGETS_NOW = cls._hget_now is not HashBase._hget_now

    @final
    async def hget(self, ns: str, slot: str, field: str) -> bytes | None:
        """Return one field of a hash slot, or ``None``.

        Raises:
            SlotKindError: The slot holds a scalar.
        """
        if self._closed:
            raise self._closed_error()
        if type(ns) is not str:
            ns = check_id(ns, _NS)
        if type(slot) is not str:
            slot = check_id(slot, _SLOT)
        if type(field) is not str:
            field = check_id(field, "a hash field name")
        try:
            if self._HGETS_NOW:
                data = self._hget_now(ns, slot, field)
                if data is not LATER:
                    return data
            return await self._hget(ns, slot, field)
        except self._catches as exc:
            raise self._translate(exc) from exc

    @final
    async def hget_text(self, ns: str, slot: str, field: str) -> str | None:
        """Return one field of a hash slot decoded as UTF-8, or ``None``.

        :meth:`hget` and the decode in one frame, over the same primitive
        (:meth:`_hget`): drivers implement nothing for it.

        Raises:
            SlotKindError: The slot holds a scalar.
            CorruptionError: The value is not UTF-8 (see :func:`~unistore.sdk.not_utf8`).
        """
        if self._closed:
            raise self._closed_error()
        if type(ns) is not str:
            ns = check_id(ns, _NS)
        if type(slot) is not str:
            slot = check_id(slot, _SLOT)
        if type(field) is not str:
            field = check_id(field, "a hash field name")
        try:
            if self._HGETS_NOW:
                now = self._hget_now(ns, slot, field)
                data = await self._hget(ns, slot, field) if now is LATER else now
            else:
                data = await self._hget(ns, slot, field)
        except self._catches as exc:
            raise self._translate(exc) from exc
        if data is None:
            return None
        try:
            return data.decode()
        except UnicodeDecodeError as exc:
            raise not_utf8(slot, exc) from None

    @final
    async def hset(
        self, ns: str, slot: str, mapping: Mapping[str, bytes], *, ttl: float | None
    ) -> int:
        """Set fields and (re)apply the slot's expiry in one atomic step.

        ``ttl=None``: the hash never expires.

        Returns:
            The number of fields that did not exist before.

        Raises:
            SlotKindError: The slot holds a scalar.
        """
        if self._closed:
            raise self._closed_error()
        if type(ns) is not str:
            ns = check_id(ns, _NS)
        if type(slot) is not str:
            slot = check_id(slot, _SLOT)
        fields = check_mapping(mapping)
        seconds = None if ttl is None else check_ttl(ttl)
        try:
            return await self._hset(ns, slot, fields, seconds)
        except self._catches as exc:
            raise self._translate(exc) from exc

    @final
    async def hdel(self, ns: str, slot: str, fields: Sequence[str]) -> int:
        """Delete fields; return how many existed. An emptied hash disappears."""
        if self._closed:
            raise self._closed_error()
        ns, slot = check_id(ns, _NS), check_id(slot, _SLOT)
        names = check_fields(fields)
        if not names:
            return 0
        return await self._mapped(self._hdel(ns, slot, names))

    @final
    async def hgetall(self, ns: str, slot: str) -> dict[str, bytes]:
        """Return every field of a hash slot (empty if absent)."""
        if self._closed:
            raise self._closed_error()
        ns, slot = check_id(ns, _NS), check_id(slot, _SLOT)
        return await self._mapped(self._hgetall(ns, slot))

    @final
    async def hkeys(self, ns: str, slot: str) -> list[str]:
        """Return the field names of a hash slot (empty if absent)."""
        if self._closed:
            raise self._closed_error()
        ns, slot = check_id(ns, _NS), check_id(slot, _SLOT)
        return await self._mapped(self._hkeys(ns, slot))

    @abstractmethod
    async def _hget(self, ns: str, slot: str, field: str) -> bytes | None: ...

    def _hget_now(self, ns: str, slot: str, field: str) -> bytes | Later | None:
        """Optional: answer :meth:`_hget` without waiting, or return :data:`LATER`.

        The hash form of :meth:`KeyValueBase._get_now`, tried first by
        :meth:`hget` and :meth:`hget_text` when a class overrides it.
        """
        return LATER

    @abstractmethod
    async def _hset(self, ns: str, slot: str, mapping: dict[str, bytes], ttl: float | None) -> int:
        """Set the fields (maybe none: an existing hash still gets the new expiry)."""

    @abstractmethod
    async def _hdel(self, ns: str, slot: str, fields: list[str]) -> int:
        """Delete at least one distinct field."""

    @abstractmethod
    async def _hgetall(self, ns: str, slot: str) -> dict[str, bytes]: ...

    async def _hkeys(self, ns: str, slot: str) -> list[str]:
        return list(await self._hgetall(ns, slot))


class CounterBase(StoreBase):
    """Atomic int64 counters with Redis's rules. Primitive: :meth:`_incr`.

    The primitive must accept only canonical decimal int64 values (see
    :func:`~unistore.sdk.parse_counter`) and refuse a result outside int64
    with :class:`~unistore.errors.ValidationError` (see
    :func:`~unistore.sdk.add_counter`), changing nothing.
    """

    _CAPABILITY: ClassVar[Capability | None] = Capability.COUNTER

    @final
    async def incr(self, ns: str, slot: str, amount: int = 1, *, ttl: float | None) -> int:
        """Add ``amount`` to a counter and return the new value.

        A missing slot is created at 0 with expiry ``ttl`` (``None``: never)
        in the same atomic step; an existing counter keeps its expiry.

        Raises:
            SlotKindError: The slot holds a hash or a value that is not a
                canonical decimal integer.
            ValidationError: ``amount`` or the result leaves the int64 range.
        """
        if self._closed:
            raise self._closed_error()
        if type(ns) is not str:
            ns = check_id(ns, _NS)
        if type(slot) is not str:
            slot = check_id(slot, _SLOT)
        amount = check_amount(amount)
        seconds = None if ttl is None else check_ttl(ttl)
        try:
            return await self._incr(ns, slot, amount, seconds)
        except self._catches as exc:
            raise self._translate(exc) from exc

    @abstractmethod
    async def _incr(self, ns: str, slot: str, amount: int, ttl: float | None) -> int: ...


class TTLBase(StoreBase):
    """Expiry of one slot. Primitives: :meth:`_get_ttl`, :meth:`_expire`."""

    _CAPABILITY: ClassVar[Capability | None] = Capability.TTL

    @final
    async def get_ttl(self, ns: str, slot: str) -> float | None:
        """Return the seconds left before the slot expires, or ``None`` if absent.

        A slot that never expires returns ``math.inf``.
        """
        if self._closed:
            raise self._closed_error()
        ns, slot = check_id(ns, _NS), check_id(slot, _SLOT)
        return await self._mapped(self._get_ttl(ns, slot))

    @final
    async def expire(self, ns: str, slot: str, ttl: float) -> bool:
        """Give an existing slot a new expiry; return whether it existed.

        Like any write, it counts as a change to a transaction watching the slot.
        """
        if self._closed:
            raise self._closed_error()
        ns, slot = check_id(ns, _NS), check_id(slot, _SLOT)
        seconds = check_ttl(ttl)
        return await self._mapped(self._expire(ns, slot, seconds))

    @abstractmethod
    async def _get_ttl(self, ns: str, slot: str) -> float | None:
        """Seconds left, ``math.inf`` for a slot without expiry, ``None`` if absent."""

    @abstractmethod
    async def _expire(self, ns: str, slot: str, ttl: float) -> bool: ...


class NamespaceLifecycleBase(StoreBase):
    """Whole-namespace operations, each O(slots in that namespace).

    Primitives: :meth:`_slots` (any order, filtered by prefix natively where
    the backend has an ordered index), :meth:`_slot_kind`, :meth:`_touch`,
    :meth:`_purge`. A touch re-applies the expiry of every slot and counts as
    a change to every transaction watching one of them (as Redis's WATCH
    sees an EXPIRE), on every driver.
    """

    _CAPABILITY: ClassVar[Capability | None] = Capability.NAMESPACE_LIFECYCLE

    @final
    async def slots(self, ns: str, prefix: str = "") -> list[str]:
        """Return the names of the live slots of a namespace starting with ``prefix``, sorted."""
        if self._closed:
            raise self._closed_error()
        ns, prefix = check_id(ns, _NS), check_id(prefix, "a slot prefix")
        found = await self._mapped(self._slots(ns, prefix))
        # A driver may over-fetch (a range bound); the filter makes it exact.
        return sorted(name for name in found if name.startswith(prefix))

    @final
    async def slot_kind(self, ns: str, slot: str) -> SlotKind | None:
        """Return the kind of a live slot, or ``None`` if absent."""
        if self._closed:
            raise self._closed_error()
        ns, slot = check_id(ns, _NS), check_id(slot, _SLOT)
        return await self._mapped(self._slot_kind(ns, slot))

    @final
    async def touch(self, ns: str, *, ttl: float) -> int:
        """Re-apply ``ttl`` to every live slot; return how many there were."""
        if self._closed:
            raise self._closed_error()
        ns = check_id(ns, _NS)
        seconds = check_ttl(ttl)
        return await self._mapped(self._touch(ns, seconds))

    @final
    async def purge(self, ns: str) -> int:
        """Delete every slot of the namespace; return how many there were."""
        if self._closed:
            raise self._closed_error()
        ns = check_id(ns, _NS)
        return await self._mapped(self._purge(ns))

    @abstractmethod
    async def _slots(self, ns: str, prefix: str) -> list[str]:
        """Return the live slots, at least those starting with ``prefix``."""

    @abstractmethod
    async def _slot_kind(self, ns: str, slot: str) -> SlotKind | None: ...

    @abstractmethod
    async def _touch(self, ns: str, ttl: float) -> int: ...

    @abstractmethod
    async def _purge(self, ns: str) -> int: ...


class NamespaceListingBase(StoreBase):
    """Enumerating namespaces, for tooling (may cost O(store)). Primitive: :meth:`_namespaces`."""

    _CAPABILITY: ClassVar[Capability | None] = Capability.NAMESPACE_LISTING

    @final
    async def iter_namespaces(self, prefix: str = "") -> AsyncIterator[str]:
        """Yield each namespace that holds a live slot and starts with ``prefix``, once."""
        if self._closed:
            raise self._closed_error()
        prefix = check_id(prefix, "a namespace prefix")
        seen: set[str] = set()
        try:
            async for ns in self._namespaces(prefix):
                if ns not in seen and ns.startswith(prefix):
                    seen.add(ns)
                    yield ns
        except self._catches as exc:
            raise self._translate(exc) from exc

    @abstractmethod
    def _namespaces(self, prefix: str) -> AsyncIterator[str]:
        """Yield namespaces with live slots, at least those starting with ``prefix``."""
