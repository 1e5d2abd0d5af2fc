"""The slot capabilities: the store, key-value, hash, counter, TTL, lifecycle, transactions."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from unistore._url import StoreURL


class Capability(enum.Enum):
    """A capability a driver can declare in :attr:`Store.capabilities`."""

    KEY_VALUE = "key_value"
    HASH = "hash"
    COUNTER = "counter"
    TRANSACTIONS = "transactions"
    NAMESPACE_LIFECYCLE = "namespace_lifecycle"
    NAMESPACE_LISTING = "namespace_listing"
    TTL = "ttl"
    SESSION_DOCUMENTS = "session_documents"


class SlotKind(enum.Enum):
    """What a slot holds. A slot has one kind at a time.

    Counters are scalar slots holding a decimal integer, as in Redis: ``get`` of
    a counter returns its digits, and ``incr`` of a scalar that is not an integer
    raises :class:`~unistore.errors.SlotKindError`.
    """

    SCALAR = "scalar"
    HASH = "hash"


@runtime_checkable
class Store(Protocol):
    """What every store returned by :func:`unistore.connect` offers.

    Stores are async context managers: ``async with connect(url) as store``.
    Opening is lazy: the first operation (or ``__aenter__``) connects.
    """

    @property
    def url(self) -> StoreURL:
        """The URL the store was opened with (renders with secrets redacted)."""
        ...

    @property
    def capabilities(self) -> frozenset[Capability]:
        """The capabilities this store implements."""
        ...

    async def aclose(self) -> None:
        """Release connections and files. Idempotent."""
        ...

    async def __aenter__(self) -> Self:
        """Return the store itself (connecting, for drivers that connect early)."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class KeyValue(Protocol):
    """Scalar slots: get, set with TTL, delete, and their batch forms.

    A ``ttl`` is a positive number of seconds, or ``None`` for a slot that
    never expires. The batch forms are atomic: one round trip on Redis, one
    statement or transaction on SQL.
    """

    async def get(self, ns: str, slot: str) -> bytes | None:
        """Return the value of a scalar slot, or ``None`` if absent or expired.

        Raises:
            SlotKindError: The slot holds a hash.
        """
        ...

    async def get_text(self, ns: str, slot: str) -> str | None:
        """Return the value of a scalar slot decoded as UTF-8, or ``None`` if absent or expired.

        Exactly :meth:`get` followed by ``bytes.decode()``, in one call (the
        SDK implements it once for every driver).

        Raises:
            SlotKindError: The slot holds a hash.
            CorruptionError: The value is not UTF-8; the message names the
                slot and the offset of the first bad byte, never the value.
        """
        ...

    async def set(self, ns: str, slot: str, value: bytes, *, ttl: float | None) -> None:
        """Store a scalar value and its expiry in one atomic step.

        Replaces a slot of any kind. ``ttl=None``: the slot never expires.
        """
        ...

    async def delete(self, ns: str, slot: str) -> bool:
        """Delete a slot of any kind; return whether it existed."""
        ...

    async def get_many(self, ns: str, slots: Sequence[str]) -> list[bytes | None]:
        """Return the values of scalar slots, in the order asked, read at one instant.

        Absent and expired slots, and slots holding a hash, read as ``None``.
        """
        ...

    async def set_many(self, ns: str, mapping: Mapping[str, bytes], *, ttl: float | None) -> None:
        """Store several scalar values with one expiry, all or none."""
        ...

    async def delete_many(self, ns: str, slots: Sequence[str]) -> int:
        """Delete slots of any kind, all at once; return how many existed."""
        ...


@runtime_checkable
class Hash(Protocol):
    """Hash slots: a mapping of field names to values under one slot."""

    async def hget(self, ns: str, slot: str, field: str) -> bytes | None:
        """Return one field of a hash slot, or ``None``.

        Raises:
            SlotKindError: The slot holds a scalar.
        """
        ...

    async def hget_text(self, ns: str, slot: str, field: str) -> str | None:
        """Return one field of a hash slot decoded as UTF-8, or ``None``.

        Exactly :meth:`hget` followed by ``bytes.decode()``, in one call (the
        SDK implements it once for every driver).

        Raises:
            SlotKindError: The slot holds a scalar.
            CorruptionError: The value is not UTF-8; the message names the
                slot and the offset of the first bad byte, never the value.
        """
        ...

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
        ...

    async def hdel(self, ns: str, slot: str, fields: Sequence[str]) -> int:
        """Delete fields; return how many existed. An emptied hash disappears."""
        ...

    async def hgetall(self, ns: str, slot: str) -> dict[str, bytes]:
        """Return every field of a hash slot (empty if absent)."""
        ...

    async def hkeys(self, ns: str, slot: str) -> list[str]:
        """Return the field names of a hash slot (empty if absent)."""
        ...


@runtime_checkable
class Counter(Protocol):
    """Atomic counters."""

    async def incr(self, ns: str, slot: str, amount: int = 1, *, ttl: float | None) -> int:
        """Add ``amount`` to a counter and return the new value.

        A missing slot is created at 0 with expiry ``ttl`` (``None``: never),
        in the same atomic step; an existing counter keeps its expiry.

        Raises:
            SlotKindError: The slot holds a hash or a non-integer scalar.
        """
        ...


@runtime_checkable
class TTL(Protocol):
    """Reading and changing the expiry of one slot."""

    async def get_ttl(self, ns: str, slot: str) -> float | None:
        """Return the seconds left before the slot expires, or ``None`` if absent.

        A slot that never expires returns ``math.inf``.
        """
        ...

    async def expire(self, ns: str, slot: str, ttl: float) -> bool:
        """Give an existing slot a new expiry; return whether it existed."""
        ...


@runtime_checkable
class NamespaceLifecycle(Protocol):
    """Whole-namespace operations, each O(slots in that namespace)."""

    async def slots(self, ns: str, prefix: str = "") -> list[str]:
        """Return the names of the live slots of a namespace that start with ``prefix``, sorted.

        Costs O(matching slots) where the backend has an ordered index
        (Redis, SQL), O(slots in the namespace) elsewhere.
        """
        ...

    async def slot_kind(self, ns: str, slot: str) -> SlotKind | None:
        """Return the kind of a live slot, or ``None`` if absent."""
        ...

    async def touch(self, ns: str, *, ttl: float) -> int:
        """Re-apply ``ttl`` to every live slot; return how many there were."""
        ...

    async def purge(self, ns: str) -> int:
        """Delete every slot of the namespace; return how many there were."""
        ...


@runtime_checkable
class NamespaceListing(Protocol):
    """Enumerating the namespaces of a store, for tooling (copy, inspection).

    Unlike every other capability this one may cost O(keys in the store): it
    is for administration, never for a request's hot path.
    """

    def iter_namespaces(self, prefix: str = "") -> AsyncIterator[str]:
        """Yield each namespace that holds a live slot and starts with ``prefix``.

        Each namespace is yielded once; the order is unspecified.
        """
        ...


@runtime_checkable
class Transaction(Protocol):
    """An optimistic transaction over one namespace.

    Obtained from :meth:`Transactions.transaction`, used as an async context
    manager. The watched slots are watched on entry. Reads see the state at
    watch time (if a watched slot changes afterwards, the commit fails). Writes
    are queued and applied atomically by :meth:`commit`, only if no watched
    slot was written, deleted, purged or expired since the watch. Leaving the
    block without committing discards the queue.
    """

    async def get(self, slot: str) -> bytes | None:
        """Read a scalar slot."""
        ...

    async def hget(self, slot: str, field: str) -> bytes | None:
        """Read one field of a hash slot."""
        ...

    async def hgetall(self, slot: str) -> dict[str, bytes]:
        """Read a whole hash slot."""
        ...

    def set(self, slot: str, value: bytes, *, ttl: float | None) -> None:
        """Queue a scalar write."""
        ...

    def delete(self, slot: str) -> None:
        """Queue a delete."""
        ...

    def hset(self, slot: str, mapping: Mapping[str, bytes], *, ttl: float | None) -> None:
        """Queue a hash write (fields and expiry)."""
        ...

    def hdel(self, slot: str, fields: Sequence[str]) -> None:
        """Queue the deletion of hash fields."""
        ...

    async def commit(self) -> None:
        """Apply the queued writes atomically.

        Raises:
            TransactionConflictError: A watched slot changed since the watch;
                nothing was written.
        """
        ...

    async def __aenter__(self) -> Self:
        """Watch the slots and return the transaction itself."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class Transactions(Protocol):
    """Optimistic transactions (watch, read, queue, commit-if-unchanged)."""

    def transaction(self, ns: str, watch: Sequence[str]) -> Transaction:
        """Start a transaction in ``ns`` watching ``watch`` (at least one slot)."""
        ...
