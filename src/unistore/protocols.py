"""The driver contract: what a storage driver implements and how it says so.

A driver is a store object (see :class:`Store`) plus the capability protocols it
implements. Each capability is a small :class:`typing.Protocol`; a store declares
the ones it implements in :attr:`Store.capabilities`, and the products and the
conformance suite rely on that declaration, not on guessing.

Drivers speak in *namespaces* and *slots*. Both are opaque strings built by the
caller (the namespaced store uses ``"<prefix>:<namespace-id>"``). A driver must
store any string for either exactly - including ``*``, ``?``, ``[``, ``:``,
``{``, ``}``, ``/``, ``..``, ``%``, NUL, newlines and 10 KB of text - and must
keep them apart: nothing done in one namespace may read, write, list, touch or
purge anything of another.

Values are ``bytes`` at this level; encoding is the caller's business.

Every write carries a TTL in seconds (a positive ``float``). There is no write
without expiry. An expired slot is invisible to every operation at once, and the
driver reclaims its space lazily or with a bounded sweep.

Session messages are opaque JSON texts (``str``, one per message, never
containing a raw newline); session metadata is a JSON-compatible mapping.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType, TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from unistore._url import StoreURL

__all__ = [
    "Capability",
    "Counter",
    "Driver",
    "FullStore",
    "Hash",
    "KEYWORD_ONLY",
    "KeyValue",
    "NamespaceLifecycle",
    "NamespaceListing",
    "Option",
    "SessionDocuments",
    "SessionPage",
    "SessionRecord",
    "SlotKind",
    "Store",
    "TTL",
    "Transaction",
    "Transactions",
]


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
    """Scalar slots: get, set with TTL, delete."""

    async def get(self, ns: str, slot: str) -> bytes | None:
        """Return the value of a scalar slot, or ``None`` if absent or expired.

        Raises:
            SlotKindError: The slot holds a hash.
        """
        ...

    async def set(self, ns: str, slot: str, value: bytes, *, ttl: float) -> None:
        """Store a scalar value and its expiry in one atomic step.

        Replaces a slot of any kind.
        """
        ...

    async def delete(self, ns: str, slot: str) -> bool:
        """Delete a slot of any kind; return whether it existed."""
        ...


@runtime_checkable
class Hash(Protocol):
    """Hash slots: a mapping of field names to values under one slot."""

    async def hget(self, ns: str, slot: str, field: str) -> bytes | None:
        """Return one field of a hash slot, or ``None``."""
        ...

    async def hset(self, ns: str, slot: str, mapping: Mapping[str, bytes], *, ttl: float) -> int:
        """Set fields and (re)apply the slot's expiry in one atomic step.

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

    async def incr(self, ns: str, slot: str, amount: int = 1, *, ttl: float) -> int:
        """Add ``amount`` to a counter and return the new value.

        A missing slot is created at 0 with expiry ``ttl``, in the same atomic
        step; an existing counter keeps its expiry.

        Raises:
            SlotKindError: The slot holds a hash or a non-integer scalar.
        """
        ...


@runtime_checkable
class TTL(Protocol):
    """Reading and changing the expiry of one slot."""

    async def get_ttl(self, ns: str, slot: str) -> float | None:
        """Return the seconds left before the slot expires, or ``None`` if absent."""
        ...

    async def expire(self, ns: str, slot: str, ttl: float) -> bool:
        """Give an existing slot a new expiry; return whether it existed."""
        ...


@runtime_checkable
class NamespaceLifecycle(Protocol):
    """Whole-namespace operations, each O(slots in that namespace)."""

    async def slots(self, ns: str) -> list[str]:
        """Return the names of the live slots of a namespace, sorted."""
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

    def set(self, slot: str, value: bytes, *, ttl: float) -> None:
        """Queue a scalar write."""
        ...

    def delete(self, slot: str) -> None:
        """Queue a delete."""
        ...

    def hset(self, slot: str, mapping: Mapping[str, bytes], *, ttl: float) -> None:
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


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """The metadata of one stored session (never its messages).

    Attributes:
        id: The session id.
        label: A human label, or ``None``.
        parent_id: The session this one was forked from, or ``None``. It stays
            as it was recorded even if the parent is deleted later.
        fork_point: How many of the parent's messages the fork starts with.
        metadata: Application metadata (JSON-compatible).
        created_at: Creation time (UTC).
        updated_at: Time of the last change (UTC); listings sort on it.
        message_count: Number of messages, inherited ones included.
    """

    id: str
    label: str | None
    parent_id: str | None
    fork_point: int | None
    metadata: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    message_count: int


@dataclass(frozen=True, slots=True)
class SessionPage:
    """One page of a session listing, newest first.

    Attributes:
        items: The sessions on this page.
        next_cursor: Pass to ``list_sessions(cursor=...)`` for the next page;
            ``None`` on the last page.
    """

    items: list[SessionRecord] = field(default_factory=list)
    next_cursor: str | None = None


@runtime_checkable
class SessionDocuments(Protocol):
    """Sessions: a small record plus an ordered, append-only message log.

    Forks share their parent's first ``fork_point`` messages without copying
    them. What a session loads never changes because another session is
    edited or deleted: a driver that must drop or rewrite messages a fork
    still shares first gives that fork its own copy of them.
    """

    async def create_session(
        self,
        session_id: str,
        *,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Create an empty session.

        Raises:
            SessionExistsError: The id is taken.
        """
        ...

    async def fork_session(
        self,
        parent_id: str,
        session_id: str,
        *,
        at: int | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Create ``session_id`` sharing the first ``at`` messages of the parent.

        ``at=None`` means all of them. Costs O(1) whatever the parent's length.

        Raises:
            SessionNotFoundError: The parent does not exist.
            SessionExistsError: ``session_id`` is taken.
            ValidationError: ``at`` is negative or beyond the parent's length.
        """
        ...

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[str],
        *,
        expected_length: int,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Append messages if the session has exactly ``expected_length``.

        ``label`` and ``metadata``, when not ``None``, replace the stored ones
        in the same atomic step. Costs O(len(messages)), not O(session).

        Raises:
            SessionNotFoundError: No such session.
            SessionConflictError: The stored length differs; nothing written.
        """
        ...

    async def replace_messages(
        self,
        session_id: str,
        start: int,
        messages: Sequence[str],
        *,
        expected_length: int,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Drop messages from index ``start`` on and append ``messages``.

        Raises:
            SessionNotFoundError: No such session.
            SessionConflictError: The stored length differs; nothing written.
            ValidationError: ``start`` is negative or beyond the length.
        """
        ...

    async def read_messages(self, session_id: str, *, last: int | None = None) -> list[str]:
        """Return all messages, or only the last ``last`` ones, in order.

        Raises:
            SessionNotFoundError: No such session.
        """
        ...

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """Return a session's record, or ``None``."""
        ...

    async def list_sessions(self, *, limit: int = 50, cursor: str | None = None) -> SessionPage:
        """Return records newest first (by ``updated_at``, then id), paged.

        Reads records only, never messages.
        """
        ...

    async def update_session(
        self,
        session_id: str,
        *,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Replace the label and/or metadata (``None`` keeps the stored one).

        Raises:
            SessionNotFoundError: No such session.
        """
        ...

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session; forks of it keep loading what they loaded before.

        Returns:
            Whether the session existed.
        """
        ...


@runtime_checkable
class FullStore(
    Store,
    KeyValue,
    Hash,
    Counter,
    TTL,
    NamespaceLifecycle,
    NamespaceListing,
    Transactions,
    SessionDocuments,
    Protocol,
):
    """A store with every capability: the type :func:`unistore.connect` returns.

    Every shipped driver implements all of them, so code written against
    ``connect()`` type-checks without casts. A third-party store declaring
    fewer capabilities is handed out behind a thin proxy whose methods of an
    undeclared capability raise :class:`~unistore.errors.NotSupportedError`
    naming it; use :func:`unistore.require` to check a capability up front
    and get the narrower type.
    """


@dataclass(frozen=True, slots=True)
class Option:
    """An option a driver accepts from the URL query or as a keyword.

    Attributes:
        name: The option name (``pool_size``).
        parse: Turns the query-string text into the typed value; keyword
            values of another type than ``str`` are passed through ``check``.
        default: The value when not given.
        doc: One line for ``unistore info`` and the docs.
        check: Validates a keyword value; returns it (possibly converted) or
            raises ``ValueError``/``TypeError``. Defaults to ``parse`` for
            strings and identity otherwise.
        secret: The value must never be printed (tokens, passwords).
    """

    name: str
    parse: Callable[[str], Any]
    default: Any = None
    doc: str = ""
    check: Callable[[Any], Any] | None = None
    secret: bool = False


def _keyword_only(text: str) -> Any:
    raise ValueError("this option can only be given as a keyword argument")


KEYWORD_ONLY: Callable[[str], Any] = _keyword_only
"""An :attr:`Option.parse` for options that cannot come from a URL (objects)."""


@dataclass(frozen=True, slots=True)
class Driver:
    """A driver as the registry sees it.

    A driver plugin returns one of these from its ``unistore_driver`` hook
    implementation (or passes it to :func:`unistore.register`). Its
    ``schemes`` and ``aliases`` are the one declaration of the URLs it
    serves: the registry, :func:`unistore.available_schemes` and URL alias
    resolution all read it. Publish one ``unistore.drivers`` entry point per
    scheme (and per alias), so that a URL imports only the driver it names.

    Attributes:
        name: Short name (``"redis"``).
        open: Factory ``open(url, options) -> Store``. It must not do I/O:
            stores connect lazily. ``options`` holds every declared option,
            parsed and with defaults filled in. ``url.scheme`` is always one
            of ``schemes``, never an alias.
        options: The options the driver accepts; any other is an error.
        distribution: The distribution that ships the driver (for ``info``
            and for the "install it" hint).
        schemes: The URL schemes the driver serves, lower case
            (``("redis", "rediss")``). Empty only for drivers written before
            schemes were declared: they serve the scheme they were found by.
        aliases: Other names for those schemes, alias -> scheme
            (``{"postgres": "postgresql"}``).

    Raises:
        ValueError: An alias names no declared scheme or shadows one.
    """

    name: str
    open: Callable[[StoreURL, Mapping[str, Any]], Store]
    options: tuple[Option, ...] = ()
    distribution: str = ""
    schemes: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        given: object = self.schemes
        if isinstance(given, str):
            # ("redis") is a str, not a tuple: each letter would become a scheme.
            raise TypeError(f"driver {self.name!r}: schemes must be a tuple of str")
        schemes = tuple(scheme.lower() for scheme in self.schemes)
        aliases = {alias.lower(): target.lower() for alias, target in self.aliases.items()}
        for alias, target in aliases.items():
            if target not in schemes:
                raise ValueError(
                    f"driver {self.name!r}: alias {alias!r} names {target!r}, "
                    "which is not one of its schemes"
                )
            if alias in schemes:
                raise ValueError(f"driver {self.name!r}: {alias!r} is both a scheme and an alias")
        # Frozen: normalised once here, so lookups never lower-case again.
        object.__setattr__(self, "schemes", schemes)
        object.__setattr__(self, "aliases", MappingProxyType(aliases))

    def resolve_scheme(self, name: str) -> str | None:
        """Return the scheme ``name`` stands for on this driver, or ``None``.

        Args:
            name: A lower-case scheme or alias.

        Returns:
            ``name`` if it is one of :attr:`schemes`, the scheme an alias
            names, or ``None`` when the driver declares neither.
        """
        if name in self.schemes:
            return name
        return self.aliases.get(name)
