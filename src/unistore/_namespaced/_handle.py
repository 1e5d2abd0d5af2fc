"""The handle of one namespace: every slot operation of the namespaced store.

The methods are thin on purpose (a memory-driver call takes well under a
microsecond): they check their arguments inline and, where nothing needs to be
done with the result, return the driver's coroutine instead of awaiting it in
a frame of their own. Arguments are therefore checked when a method is called,
before anything is awaited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, Final, Generic, TypeVar, overload

from unistore._namespaced._audit import log_lifecycle
from unistore._namespaced._cas import CasOps, CasSnapshot, run_cas
from unistore._namespaced._checks import (
    SLOT_CACHE,
    TTLArg,
    admit_slot,
    check_amount,
    check_fields,
    check_retries,
    check_slot,
    check_slot_prefix,
    check_slots,
    check_ttl,
    check_watch,
    encode_mapping,
    encode_slot_values,
    encode_value,
    short,
)
from unistore._namespaced._config import NamespaceConfig
from unistore.errors import ValidationError
from unistore.protocols import (
    TTL,
    Capability,
    Transactions,
)

__all__ = ["Namespace"]

V = TypeVar("V", str, bytes)
T = TypeVar("T")

_MISSING: Final[Any] = object()
_SLOTS: Final = SLOT_CACHE


class Namespace(Generic[V]):
    """The handle of one namespace: every slot operation lives here.

    Obtained from :meth:`NamespacedStore.namespace`; cheap to make, holds no
    resources. Slot names are non-empty strings of up to
    :attr:`NamespacedStore.MAX_SLOT_LENGTH` characters, hash field names are
    strings, values are ``str`` (stored as UTF-8) or ``bytes``. Every write
    takes an optional ``ttl`` (seconds or ``timedelta``) that defaults to the
    store's ``default_ttl``. Arguments are checked when a method is called,
    before any I/O: a bad one raises
    :class:`~unistore.errors.ValidationError` and nothing is written.

    Methods documented as returning a coroutine are plain functions that check
    their arguments and hand back the driver's coroutine: ``await`` them as
    usual.
    """

    __slots__ = ("_config", "_id", "_ns", "_store", "_ttl")

    def __init__(self, config: NamespaceConfig, namespace_id: str) -> None:
        self._config = config
        self._store = config.store
        self._ttl = config.ttl
        self._id = namespace_id
        self._ns = f"{config.prefix}:{namespace_id}"

    @property
    def id(self) -> str:
        """The namespace id given to :meth:`NamespacedStore.namespace`."""
        return self._id

    @property
    def store_namespace(self) -> str:
        """The namespace the driver sees: ``"<prefix>:<id>"``."""
        return self._ns

    def __repr__(self) -> str:
        return f"<Namespace {short(self._ns)}>"

    # -- scalars ----------------------------------------------------------------

    def get(self, slot: str) -> Coroutine[Any, Any, V | None]:
        """Read the value of a scalar slot (a counter reads as its digits).

        Returns:
            A coroutine giving the value, or ``None`` if the slot is absent or
            expired.

        Raises:
            SlotKindError: The slot holds a hash.
            CorruptionError: The value is not UTF-8 and the store decodes.
        """
        raise NotImplementedError  # pragma: no cover - the subclasses implement it

    def set(
        self, slot: str, value: str | bytes, *, ttl: TTLArg = None
    ) -> Coroutine[Any, Any, None]:
        """Write a scalar slot, replacing a slot of any kind, with its expiry.

        Returns:
            A coroutine to await.
        """
        try:
            slot = _SLOTS[slot]
        except (KeyError, TypeError):
            slot = admit_slot(slot)
        cls = type(value)
        if cls is str:
            try:
                data = value.encode()  # type: ignore[union-attr]
            except UnicodeEncodeError:
                data = encode_value(value)
        elif cls is bytes:
            data = value
        else:
            data = encode_value(value)
        return self._store.set(
            self._ns, slot, data, ttl=self._ttl if ttl is None else check_ttl(ttl)
        )

    def delete(self, slot: str) -> Coroutine[Any, Any, bool]:
        """Delete a slot of any kind.

        Returns:
            A coroutine giving whether the slot existed.
        """
        try:
            slot = _SLOTS[slot]
        except (KeyError, TypeError):
            slot = admit_slot(slot)
        return self._store.delete(self._ns, slot)

    # -- batches ----------------------------------------------------------------

    async def get_many(self, slots: Sequence[str]) -> list[V | None]:
        """Return the values of several scalar slots, in the order asked, read at one instant.

        One round trip on Redis, one statement on SQL. Absent and expired
        slots read as ``None``, and so do hash slots (unlike :meth:`get`, a
        batch read does not fail on one slot of another kind).

        Raises:
            CorruptionError: A value is not UTF-8 and the store decodes.
        """
        raise NotImplementedError  # pragma: no cover - the subclasses implement it

    def set_many(
        self, mapping: Mapping[str, str | bytes], *, ttl: TTLArg = None
    ) -> Coroutine[Any, Any, None]:
        """Write several scalar slots with one expiry, all or none, atomically.

        Each slot of any kind is replaced, as :meth:`set` does.

        Returns:
            A coroutine to await.
        """
        values = encode_slot_values(mapping)
        return self._store.set_many(
            self._ns, values, ttl=self._ttl if ttl is None else check_ttl(ttl)
        )

    def delete_many(self, slots: Sequence[str]) -> Coroutine[Any, Any, int]:
        """Delete several slots of any kind, atomically.

        Returns:
            A coroutine giving how many of them existed (each counted once).
        """
        return self._store.delete_many(self._ns, check_slots(slots, "delete_many"))

    # -- hashes -----------------------------------------------------------------

    def hget(self, slot: str, field: str) -> Coroutine[Any, Any, V | None]:
        """Read one field of a hash slot.

        Returns:
            A coroutine giving the field's value, or ``None`` if the field or
            the slot is absent.

        Raises:
            SlotKindError: The slot holds a scalar.
            CorruptionError: The value is not UTF-8 and the store decodes.
        """
        raise NotImplementedError  # pragma: no cover - the subclasses implement it

    async def hgetall(self, slot: str) -> dict[str, V]:
        """Return every field of a hash slot (an empty dict if absent).

        Raises:
            SlotKindError: The slot holds a scalar.
            CorruptionError: A value is not UTF-8 and the store decodes.
        """
        raise NotImplementedError  # pragma: no cover - the subclasses implement it

    @overload
    def hset(
        self, slot: str, field: str, value: str | bytes, /, *, ttl: TTLArg = None
    ) -> Coroutine[Any, Any, int]: ...

    @overload
    def hset(
        self, slot: str, mapping: Mapping[str, str | bytes], /, *, ttl: TTLArg = None
    ) -> Coroutine[Any, Any, int]: ...

    def hset(
        self, slot: str, field: Any, value: Any = _MISSING, /, *, ttl: TTLArg = None
    ) -> Coroutine[Any, Any, int]:
        """Set hash fields, ``(slot, field, value)`` or ``(slot, mapping)``.

        The hash's expiry is re-applied in the same atomic step.

        Returns:
            A coroutine giving the number of fields that did not exist before.

        Raises:
            SlotKindError: (when awaited) The slot holds a scalar.
        """
        try:
            slot = _SLOTS[slot]
        except (KeyError, TypeError):
            slot = admit_slot(slot)
        if type(field) is str:
            cls = type(value)
            if cls is str:
                try:
                    mapping = {field: value.encode()}
                except UnicodeEncodeError:
                    mapping = {field: encode_value(value)}
            elif cls is bytes:
                mapping = {field: value}
            elif value is _MISSING:
                raise ValidationError("hset(slot, field, value) needs a value")
            else:
                mapping = {field: encode_value(value)}
        elif isinstance(field, str):
            if value is _MISSING:
                raise ValidationError("hset(slot, field, value) needs a value")
            mapping = {str(field): encode_value(value)}
        elif value is not _MISSING:
            raise ValidationError(
                f"hset takes (slot, field, value) or (slot, mapping), "
                f"got a {type(field).__name__} field name"
            )
        else:
            mapping = encode_mapping(field)
        return self._store.hset(
            self._ns, slot, mapping, ttl=self._ttl if ttl is None else check_ttl(ttl)
        )

    def hdel(self, slot: str, *fields: str) -> Coroutine[Any, Any, int]:
        """Delete hash fields; a hash whose last field goes disappears.

        Returns:
            A coroutine giving how many of the fields existed.
        """
        return self._store.hdel(self._ns, check_slot(slot), check_fields(fields))

    def hkeys(self, slot: str) -> Coroutine[Any, Any, list[str]]:
        """List the field names of a hash slot (empty if absent).

        Returns:
            A coroutine giving the field names.
        """
        return self._store.hkeys(self._ns, check_slot(slot))

    # -- counters ---------------------------------------------------------------

    def incr(self, slot: str, amount: int = 1, *, ttl: TTLArg = None) -> Coroutine[Any, Any, int]:
        """Add ``amount`` to a counter atomically.

        A missing counter is created at 0 with ``ttl`` (or the default TTL) in
        the same step; an existing one keeps its expiry. A counter is a scalar
        slot holding decimal digits.

        Returns:
            A coroutine giving the new value.

        Raises:
            SlotKindError: (when awaited) The slot holds a hash or a scalar
                that is not an integer.
        """
        try:
            slot = _SLOTS[slot]
        except (KeyError, TypeError):
            slot = admit_slot(slot)
        if type(amount) is not int:
            amount = check_amount(amount)
        return self._store.incr(
            self._ns, slot, amount, ttl=self._ttl if ttl is None else check_ttl(ttl)
        )

    # -- expiry and lifecycle -----------------------------------------------------

    def ttl(self, slot: str) -> Coroutine[Any, Any, float | None]:
        """Read the seconds left before a slot expires.

        Returns:
            A coroutine giving the seconds left, or ``None`` if the slot is
            absent.

        Raises:
            NotSupportedError: The store does not declare the TTL capability.
        """
        slot = check_slot(slot)
        store: TTL = self._config.require(Capability.TTL, "Namespace.ttl()")
        return store.get_ttl(self._ns, slot)

    def slots(self, prefix: str = "") -> Coroutine[Any, Any, list[str]]:
        """List the names of the live slots of this namespace that start with ``prefix``, sorted.

        On Redis and SQL the cost is O(matching slots): the prefix is a range
        on an ordered index, and ``%``, ``*`` or ``_`` in it are plain text.

        Returns:
            A coroutine giving the slot names.
        """
        return self._store.slots(self._ns, check_slot_prefix(prefix))

    async def touch(self, *, ttl: TTLArg = None) -> int:
        """Re-apply ``ttl`` (or the default TTL) to every live slot; audit-logged.

        Returns:
            How many slots there were.
        """
        seconds = self._ttl if ttl is None else check_ttl(ttl)
        count = await self._store.touch(self._ns, ttl=seconds)
        log_lifecycle(self._config.logger, "touch", self._ns, count)
        return count

    async def purge(self) -> int:
        """Delete every slot of this namespace, and nothing else; audit-logged.

        Returns:
            How many slots there were.
        """
        count = await self._store.purge(self._ns)
        log_lifecycle(self._config.logger, "purge", self._ns, count)
        return count

    # -- compare-and-swap ---------------------------------------------------------

    @overload
    async def with_cas(
        self,
        slots: str | Sequence[str],
        fn: Callable[[CasSnapshot[V], CasOps], Awaitable[T]],
        *,
        max_retries: int = 3,
    ) -> T: ...

    @overload
    async def with_cas(
        self,
        slots: str | Sequence[str],
        fn: Callable[[CasSnapshot[V], CasOps], T],
        *,
        max_retries: int = 3,
    ) -> T: ...

    async def with_cas(
        self,
        slots: str | Sequence[str],
        fn: Callable[[CasSnapshot[V], CasOps], Any],
        *,
        max_retries: int = 3,
    ) -> Any:
        """Run a read-modify-write atomically, retrying while others interfere.

        ``fn(snapshot, ops)`` (a plain or an async function) reads through
        ``snapshot`` (the watched slots as they were when the watch began) and
        queues writes on ``ops``. When it returns, the writes are committed in
        one atomic step if no watched slot was written, deleted, purged or
        expired meanwhile; otherwise nothing is written and, after a backoff
        with full jitter (5 ms doubling per retry, capped at 0.5 s), ``fn``
        runs again with a fresh snapshot. So ``fn`` may run several times: keep
        its side effects idempotent until the call returns. Its own queued
        writes are not visible to its reads.

        Args:
            slots: The slot to watch, or a sequence of slots.
            fn: The closure; its return value from the committing run is
                returned.
            max_retries: Runs allowed after the first one.

        Returns:
            What ``fn`` returned in the run that committed.

        Raises:
            ContentionError: Every run met a conflict; carries ``slots`` and
                ``attempts`` (the number of runs).
            NotSupportedError: The store does not declare transactions.
            Exception: Whatever ``fn`` raises propagates at once, without a
                retry and without writing anything.
        """
        watch = check_watch(slots)
        retries = check_retries(max_retries)
        if not callable(fn):
            raise ValidationError(f"with_cas needs a callable, got {type(fn).__name__}")
        config = self._config
        store: Transactions = config.require(Capability.TRANSACTIONS, "with_cas()")
        return await run_cas(
            store,
            self._ns,
            watch,
            fn,
            max_retries=retries,
            decode=config.decode,
            default_ttl=config.ttl,
            logger=config.logger,
        )
