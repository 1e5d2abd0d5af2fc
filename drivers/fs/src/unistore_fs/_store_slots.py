"""Slot capabilities of the file store: KeyValue, Hash, Counter, TTL, lifecycle, transactions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Final

from unistore.errors import ValidationError
from unistore.protocols import SlotKind
from unistore_fs import _ns_ops, _slot_ops
from unistore_fs._errors import map_os_error
from unistore_fs._names import check_id
from unistore_fs._records import check_fields, check_ttl, check_value
from unistore_fs._runtime import FileRuntime
from unistore_fs._transaction import FileTransaction

__all__ = ["SlotMethods"]


#: Namespace folders examined per worker-thread call while listing namespaces.
_LISTING_BATCH: Final = 64


def _key(ns: str) -> str:
    return f"n:{ns}"


def _ids(ns: object, slot: object) -> tuple[str, str]:
    return check_id(ns, "namespace"), check_id(slot, "slot")


class SlotMethods(FileRuntime):
    """Slots stored as one JSON file each, in one folder per namespace."""

    # -- KeyValue ---------------------------------------------------------------

    async def get(self, ns: str, slot: str) -> bytes | None:
        """Return a scalar value, or ``None`` if absent or expired.

        Raises:
            SlotKindError: The slot holds a hash.
        """
        ns, slot = _ids(ns, slot)
        record = await self._read(_slot_ops.read_live, ns, slot)
        return None if record is None else record.scalar(slot)

    async def set(self, ns: str, slot: str, value: bytes, *, ttl: float) -> None:
        """Store a scalar value and its expiry in one atomic file replacement."""
        ns, slot = _ids(ns, slot)
        data, seconds = check_value(value), check_ttl(ttl)
        await self._write(_key(ns), _slot_ops.set_scalar, ns, slot, data, seconds)

    async def delete(self, ns: str, slot: str) -> bool:
        """Delete a slot of any kind; return whether it existed."""
        ns, slot = _ids(ns, slot)
        return await self._write(_key(ns), _slot_ops.delete, ns, slot)

    # -- Hash -------------------------------------------------------------------

    async def hget(self, ns: str, slot: str, field: str) -> bytes | None:
        """Return one field of a hash slot, or ``None``."""
        return (await self.hgetall(ns, slot)).get(field)

    async def hset(self, ns: str, slot: str, mapping: Mapping[str, bytes], *, ttl: float) -> int:
        """Set fields and re-apply the slot's expiry; return how many fields are new.

        Raises:
            SlotKindError: The slot holds a scalar.
        """
        ns, slot = _ids(ns, slot)
        fields, seconds = check_fields(mapping), check_ttl(ttl)
        return await self._write(_key(ns), _slot_ops.hset, ns, slot, fields, seconds)

    async def hdel(self, ns: str, slot: str, fields: Sequence[str]) -> int:
        """Delete fields; return how many existed. An emptied hash disappears."""
        if isinstance(fields, str):
            raise ValidationError("fields must be a sequence of names, not a str")
        ns, slot = _ids(ns, slot)
        names = [check_id(name, "hash field name") for name in fields]
        return await self._write(_key(ns), _slot_ops.hdel, ns, slot, names)

    async def hgetall(self, ns: str, slot: str) -> dict[str, bytes]:
        """Return every field of a hash slot (empty if absent)."""
        ns, slot = _ids(ns, slot)
        record = await self._read(_slot_ops.read_live, ns, slot)
        return {} if record is None else dict(record.hash(slot))

    async def hkeys(self, ns: str, slot: str) -> list[str]:
        """Return the field names of a hash slot (empty if absent)."""
        return list(await self.hgetall(ns, slot))

    # -- Counter ----------------------------------------------------------------

    async def incr(self, ns: str, slot: str, amount: int = 1, *, ttl: float) -> int:
        """Add ``amount`` to a counter; a missing one starts at 0 with expiry ``ttl``.

        Raises:
            SlotKindError: The slot holds a hash or a non-integer scalar.
        """
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValidationError(f"incr amount must be an int, got {type(amount).__name__}")
        ns, slot = _ids(ns, slot)
        seconds = check_ttl(ttl)
        return await self._write(_key(ns), _slot_ops.incr, ns, slot, amount, seconds)

    # -- TTL --------------------------------------------------------------------

    async def get_ttl(self, ns: str, slot: str) -> float | None:
        """Return the seconds left before the slot expires, or ``None`` if absent."""
        ns, slot = _ids(ns, slot)
        return await self._read(_slot_ops.get_ttl, ns, slot)

    async def expire(self, ns: str, slot: str, ttl: float) -> bool:
        """Give an existing slot a new expiry; return whether it existed."""
        ns, slot = _ids(ns, slot)
        seconds = check_ttl(ttl)
        return await self._write(_key(ns), _slot_ops.expire, ns, slot, seconds)

    # -- NamespaceLifecycle -----------------------------------------------------

    async def slots(self, ns: str) -> list[str]:
        """Return the names of the live slots of a namespace, sorted."""
        ns = check_id(ns, "namespace")
        names, expired = await self._read(_ns_ops.slots, ns)
        if expired:
            await self._read(_ns_ops.sweep_one, ns)
        return names

    async def slot_kind(self, ns: str, slot: str) -> SlotKind | None:
        """Return the kind of a live slot, or ``None`` if absent."""
        ns, slot = _ids(ns, slot)
        record = await self._read(_slot_ops.read_live, ns, slot)
        return None if record is None else record.kind

    async def touch(self, ns: str, *, ttl: float) -> int:
        """Re-apply ``ttl`` to every live slot; return how many there were."""
        ns, seconds = check_id(ns, "namespace"), check_ttl(ttl)
        return await self._write(_key(ns), _ns_ops.touch, ns, seconds)

    async def purge(self, ns: str) -> int:
        """Delete every slot of the namespace (and its folder); return how many were live."""
        ns = check_id(ns, "namespace")
        return await self._write(_key(ns), _ns_ops.purge, ns)

    # -- NamespaceListing -------------------------------------------------------

    async def iter_namespaces(self, prefix: str = "") -> AsyncIterator[str]:
        """Yield each namespace that holds a live slot and starts with ``prefix``.

        Lists every namespace folder (O(namespaces)): meant for tooling such as
        copying a store, not for a request's hot path. The order is unspecified.
        """
        if not isinstance(prefix, str):
            raise ValidationError(f"prefix must be a str, got {type(prefix).__name__}")
        names = await self._read(_ns_ops.namespace_dirs)
        for start in range(0, len(names), _LISTING_BATCH):
            batch = names[start : start + _LISTING_BATCH]
            for ns in await self._read(_ns_ops.live_namespaces, batch, prefix):
                yield ns

    # -- Transactions -----------------------------------------------------------

    def transaction(self, ns: str, watch: Sequence[str]) -> FileTransaction:
        """Start an optimistic transaction in ``ns`` watching ``watch``."""
        self._check_open()
        return FileTransaction(self, check_id(ns, "namespace"), watch)

    def simulate_concurrent_change(self, ns: str, slot: str) -> None:
        """Make every open transaction watching ``slot`` conflict (a test hook).

        Behaves as if another client rewrote the slot between watch and commit,
        without changing its value. It blocks on file I/O: use it in tests only.
        """
        self._check_open()
        ns, slot = _ids(ns, slot)
        try:
            self._call(_slot_ops.bump_version, (ns, slot))
        except OSError as exc:
            raise map_os_error(exc, str(self._url)) from exc
