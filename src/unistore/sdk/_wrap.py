"""StoreWrapper: a store that wraps a store, transforming values on their way through.

A wrapper is itself a full store. Every operation is delegated to the wrapped
(*inner*) store through one interception point, :meth:`StoreWrapper._call`,
and the values it carries pass through overridable transforms: slot values,
hash field values, session messages and session metadata values. Everything
else - names, ids, scopes, labels, counters, TTLs, listings - passes through
unchanged, so purge, listing and forks keep the inner store's costs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar

from unistore._url import StoreURL
from unistore.errors import CorruptionError, DriverError, StoreClosedError, UnistoreError
from unistore.protocols import (
    Capability,
    FullStore,
    SessionPage,
    SessionRecord,
    SlotKind,
    Transaction,
)
from unistore.sdk._checks import (
    _CANONICAL,
    check_id,
    check_mapping,
    check_messages,
    check_metadata,
    check_scope,
    check_slot_names,
    check_value,
    not_utf8,
    short,
)

__all__ = ["StoreWrapper", "WrappedTransaction", "WrapperFactory"]

T = TypeVar("T")
W = TypeVar("W", bound="StoreWrapper")

_NS = "a namespace"
_SLOT = "a slot name"
_SID = "a session id"


def _is_counter(value: bytes) -> bool:
    return len(value) <= 20 and _CANONICAL.fullmatch(value) is not None


class WrapperFactory(Generic[W]):
    """A wrapper class with its arguments, waiting for the store to wrap.

    What :meth:`StoreWrapper.using` returns and ``connect(url, wrappers=[...])``
    takes: calling it with a store returns ``cls(store, *args, **kwargs)``. Its
    ``repr`` names the class but never the arguments, which may be keys.
    """

    __slots__ = ("_args", "_cls", "_kwargs")

    def __init__(self, cls: type[W], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._cls = cls
        self._args = args
        self._kwargs = kwargs

    def __call__(self, store: FullStore) -> W:
        """Return the wrapper around ``store``."""
        return self._cls(store, *self._args, **self._kwargs)

    def __repr__(self) -> str:
        return f"{self._cls.__qualname__}.using(...)"


class StoreWrapper:
    """The base of stores that wrap a store: delegation, transforms, one interception point.

    Subclasses override the transforms they need; each default is the identity:

    * :meth:`_encode_value` / :meth:`_decode_value`: scalar slot values
      (``get``, ``get_text``, ``set``, ``get_many``, ``set_many`` and a
      transaction's ``get`` / ``set``);
    * :meth:`_encode_field` / :meth:`_decode_field`: hash field values
      (``hget``, ``hget_text``, ``hset``, ``hgetall``, and a transaction's);
    * :meth:`_encode_message` / :meth:`_decode_message`: session messages;
    * :meth:`_encode_metadata` / :meth:`_decode_metadata`: session metadata,
      also inside every :class:`~unistore.protocols.SessionRecord` returned.

    A message's or metadata's transform gets the scope but not the session
    id: a fork shares its parent's stored messages, so their encoding must
    not depend on which session reads them.

    Arguments are checked with the SDK's rules (:mod:`unistore.sdk`) before
    a transform sees them, so an error names the caller's value; the inner
    store checks the encoded value again. No size limit is added: the inner
    store's, if any, applies to the encoded value.

    **Counters.** ``incr`` works on the stored text, so a scalar value that
    spells a canonical 64-bit integer (``b"41"``) is stored unencoded while
    :attr:`PLAIN_COUNTERS` is true (the default), and such a stored value
    reads back as it is: ``set(b"41")`` then ``incr`` gives 42, as the
    contract says. An encoded value must therefore never be a canonical
    decimal integer (a header that starts with a non-digit byte ensures it).

    Errors: a transform raising something other than a
    :class:`~unistore.errors.UnistoreError` surfaces as
    :class:`~unistore.errors.CorruptionError` (decoding) or
    :class:`~unistore.errors.DriverError` (encoding), naming the slot or
    scope, never the value.

    Attributes and methods outside the contract (``destroy``, ``clock``,
    ``simulate_concurrent_change``, ``effective_options``...) are looked up
    on the inner store, untransformed. Closing the wrapper closes the inner
    store.

    Args:
        inner: The store to wrap.
    """

    #: Store canonical integers unencoded, so that ``incr`` keeps working on them.
    PLAIN_COUNTERS: ClassVar[bool] = True

    def __init__(self, inner: FullStore) -> None:
        self._inner = inner
        self._closed = False

    @classmethod
    def using(cls, *args: Any, **kwargs: Any) -> WrapperFactory[Self]:
        """Return a factory ``store -> cls(store, *args, **kwargs)`` for ``connect(wrappers=...)``.

        Example:
            >>> connect(url, wrappers=[Compressed.using(min_size=0)])  # doctest: +SKIP
        """
        return WrapperFactory(cls, args, kwargs)

    # -- the hooks a subclass overrides ----------------------------------------

    async def _call(self, operation: str, target: str | None, call: Awaitable[T]) -> T:
        """Await one delegated operation and return its result: the interception point.

        Every async operation of the store and of its transactions comes here
        exactly once. An override (timing, tracing) must await ``call``
        exactly once and return its result or let its exception propagate.

        Args:
            operation: The operation's name: the store method (``"get"``,
                ``"set_many"``, ``"append_messages"``; ``get_text`` and
                ``hget_text`` are ``"get"`` and ``"hget"``: the decode to text
                happens after the call), or ``"transaction.begin"``,
                ``"transaction.get"``, ``"transaction.hget"``,
                ``"transaction.hgetall"``, ``"transaction.commit"``.
            target: The namespace of a slot operation, the scope of a session
                operation (``None``: the default scope).
            call: The inner store's coroutine, not awaited yet.
        """
        return await call

    def _encode_value(self, ns: str, slot: str, value: bytes) -> bytes:
        """Return what the inner store holds for a scalar ``value`` of ``slot``."""
        return value

    def _decode_value(self, ns: str, slot: str, stored: bytes) -> bytes:
        """Return the scalar value a stored one stands for (the inverse of :meth:`_encode_value`).

        Raises:
            CorruptionError: ``stored`` cannot be decoded.
        """
        return stored

    def _encode_field(self, ns: str, slot: str, field: str, value: bytes) -> bytes:
        """Return what the inner store holds for the value of hash field ``field``."""
        return value

    def _decode_field(self, ns: str, slot: str, field: str, stored: bytes) -> bytes:
        """Return the hash field value a stored one stands for.

        Raises:
            CorruptionError: ``stored`` cannot be decoded.
        """
        return stored

    def _encode_message(self, scope: str | None, text: str) -> str:
        """Return the stored form of a session message: itself a JSON text, without NUL."""
        return text

    def _decode_message(self, scope: str | None, text: str) -> str:
        """Return the message a stored one stands for.

        Raises:
            CorruptionError: ``text`` cannot be decoded.
        """
        return text

    def _encode_metadata(self, scope: str | None, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """Return the stored form of session metadata: the same keys, JSON-compatible values."""
        return dict(metadata)

    def _decode_metadata(self, scope: str | None, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """Return the metadata stored metadata stands for.

        Raises:
            CorruptionError: ``metadata`` cannot be decoded.
        """
        return dict(metadata)

    # -- the store --------------------------------------------------------------

    @property
    def inner(self) -> FullStore:
        """The wrapped store."""
        return self._inner

    @property
    def url(self) -> StoreURL:
        """The inner store's URL (renders with secrets redacted)."""
        return self._inner.url

    @property
    def capabilities(self) -> frozenset[Capability]:
        """The inner store's capabilities."""
        return self._inner.capabilities

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    async def aclose(self) -> None:
        """Close the wrapper and the inner store. Idempotent."""
        self._closed = True
        await self._inner.aclose()

    async def __aenter__(self) -> Self:
        self._check_open()
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._inner!r}>"

    def __getattr__(self, name: str) -> Any:
        # Hooks outside the contract (destroy, clock, simulate_concurrent_change,
        # effective_options, server_version...) reach the inner store.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"store {self.url} is closed")

    def _scope(self, scope: str | None) -> str | None:
        """Check the store is open and ``scope`` valid; return it (``None``: the default)."""
        self._check_open()
        return check_scope(scope) or None

    # -- checked transforms -----------------------------------------------------

    def _encoded(self, ns: str, slot: str, value: object) -> bytes:
        plain = value if type(value) is bytes else check_value(value)
        if self.PLAIN_COUNTERS and _is_counter(plain):
            return plain
        try:
            return self._encode_value(ns, slot, plain)
        except UnistoreError:
            raise
        except Exception as exc:
            raise _encode_error(self, f"the value of slot {short(slot)}") from exc

    def _decoded(self, ns: str, slot: str, stored: bytes | None) -> bytes | None:
        if stored is None or (self.PLAIN_COUNTERS and _is_counter(stored)):
            return stored
        try:
            return self._decode_value(ns, slot, stored)
        except UnistoreError:
            raise
        except Exception as exc:
            raise _decode_error(self, f"the value of slot {short(slot)}") from exc

    def _fields_encoded(self, ns: str, slot: str, mapping: object) -> dict[str, bytes]:
        fields = check_mapping(mapping)
        try:
            return {f: self._encode_field(ns, slot, f, v) for f, v in fields.items()}
        except UnistoreError:
            raise
        except Exception as exc:
            raise _encode_error(self, f"a field of hash slot {short(slot)}") from exc

    def _field_decoded(self, ns: str, slot: str, field: str, stored: bytes) -> bytes:
        try:
            return self._decode_field(ns, slot, field, stored)
        except UnistoreError:
            raise
        except Exception as exc:
            raise _decode_error(self, f"field {short(field)} of hash slot {short(slot)}") from exc

    def _fields_decoded(self, ns: str, slot: str, stored: Mapping[str, bytes]) -> dict[str, bytes]:
        return {f: self._field_decoded(ns, slot, f, v) for f, v in stored.items()}

    def _messages_encoded(self, scope: str | None, messages: object) -> list[str]:
        checked = check_messages(messages)
        try:
            return [self._encode_message(scope, text) for text in checked]
        except UnistoreError:
            raise
        except Exception as exc:
            raise _encode_error(self, "a session message") from exc

    def _messages_decoded(self, scope: str | None, stored: list[str]) -> list[str]:
        try:
            return [self._decode_message(scope, text) for text in stored]
        except UnistoreError:
            raise
        except Exception as exc:
            raise _decode_error(self, "a stored session message") from exc

    def _metadata_encoded(self, scope: str | None, metadata: object) -> dict[str, Any] | None:
        checked = check_metadata(metadata)
        if checked is None:
            return None
        try:
            return self._encode_metadata(scope, checked)
        except UnistoreError:
            raise
        except Exception as exc:
            raise _encode_error(self, "session metadata") from exc

    def _record(self, scope: str | None, record: SessionRecord) -> SessionRecord:
        try:
            metadata = self._decode_metadata(scope, record.metadata)
        except UnistoreError:
            raise
        except Exception as exc:
            raise _decode_error(self, f"the metadata of session {short(record.id)}") from exc
        return dataclasses.replace(record, metadata=metadata)

    # -- key-value --------------------------------------------------------------

    async def get(self, ns: str, slot: str) -> bytes | None:
        """Return the decoded value of a scalar slot, or ``None``."""
        if self._closed:
            self._check_open()
        # The hot path: plain str ids skip the checks' calls, as in the SDK bases.
        if type(ns) is not str:
            ns = check_id(ns, _NS)
        if type(slot) is not str:
            slot = check_id(slot, _SLOT)
        stored = await self._call("get", ns, self._inner.get(ns, slot))
        return self._decoded(ns, slot, stored)

    async def get_text(self, ns: str, slot: str) -> str | None:
        """Return the decoded value of a scalar slot as UTF-8 text, or ``None``.

        The inner store's ``get``, then :meth:`_decode_value`, then the UTF-8
        decode: :meth:`_call` sees the operation ``"get"``.

        Raises:
            CorruptionError: The value cannot be decoded, or is not UTF-8.
        """
        return _text(slot, await self.get(ns, slot))

    async def set(self, ns: str, slot: str, value: bytes, *, ttl: float | None) -> None:
        """Store the encoded value of a scalar slot."""
        if self._closed:
            self._check_open()
        if type(ns) is not str:
            ns = check_id(ns, _NS)
        if type(slot) is not str:
            slot = check_id(slot, _SLOT)
        encoded = self._encoded(ns, slot, value)
        await self._call("set", ns, self._inner.set(ns, slot, encoded, ttl=ttl))

    async def delete(self, ns: str, slot: str) -> bool:
        """Delete a slot of any kind; return whether it existed."""
        self._check_open()
        return await self._call("delete", ns, self._inner.delete(ns, slot))

    async def get_many(self, ns: str, slots: Sequence[str]) -> list[bytes | None]:
        """Return the decoded values of scalar slots, in the order asked."""
        self._check_open()
        ns, names = check_id(ns, _NS), check_slot_names(slots)
        stored = await self._call("get_many", ns, self._inner.get_many(ns, names))
        return [self._decoded(ns, slot, value) for slot, value in zip(names, stored, strict=True)]

    async def set_many(self, ns: str, mapping: Mapping[str, bytes], *, ttl: float | None) -> None:
        """Store several encoded scalar values with one expiry, all or none."""
        self._check_open()
        ns = check_id(ns, _NS)
        values = check_mapping(mapping, batch=True)
        encoded = {slot: self._encoded(ns, slot, value) for slot, value in values.items()}
        await self._call("set_many", ns, self._inner.set_many(ns, encoded, ttl=ttl))

    async def delete_many(self, ns: str, slots: Sequence[str]) -> int:
        """Delete slots of any kind; return how many existed."""
        self._check_open()
        return await self._call("delete_many", ns, self._inner.delete_many(ns, slots))

    # -- hash ---------------------------------------------------------------------

    async def hget(self, ns: str, slot: str, field: str) -> bytes | None:
        """Return the decoded value of one hash field, or ``None``."""
        self._check_open()
        ns, slot = check_id(ns, _NS), check_id(slot, _SLOT)
        field = check_id(field, "a hash field name")
        stored = await self._call("hget", ns, self._inner.hget(ns, slot, field))
        return None if stored is None else self._field_decoded(ns, slot, field, stored)

    async def hget_text(self, ns: str, slot: str, field: str) -> str | None:
        """Return the decoded value of one hash field as UTF-8 text, or ``None``.

        The inner store's ``hget``, then :meth:`_decode_field`, then the UTF-8
        decode: :meth:`_call` sees the operation ``"hget"``.

        Raises:
            CorruptionError: The value cannot be decoded, or is not UTF-8.
        """
        return _text(slot, await self.hget(ns, slot, field))

    async def hset(
        self, ns: str, slot: str, mapping: Mapping[str, bytes], *, ttl: float | None
    ) -> int:
        """Set encoded hash fields and the slot's expiry; return how many fields are new."""
        self._check_open()
        ns, slot = check_id(ns, _NS), check_id(slot, _SLOT)
        encoded = self._fields_encoded(ns, slot, mapping)
        return await self._call("hset", ns, self._inner.hset(ns, slot, encoded, ttl=ttl))

    async def hdel(self, ns: str, slot: str, fields: Sequence[str]) -> int:
        """Delete hash fields; return how many existed."""
        self._check_open()
        return await self._call("hdel", ns, self._inner.hdel(ns, slot, fields))

    async def hgetall(self, ns: str, slot: str) -> dict[str, bytes]:
        """Return every field of a hash slot, decoded."""
        self._check_open()
        ns, slot = check_id(ns, _NS), check_id(slot, _SLOT)
        stored = await self._call("hgetall", ns, self._inner.hgetall(ns, slot))
        return self._fields_decoded(ns, slot, stored)

    async def hkeys(self, ns: str, slot: str) -> list[str]:
        """Return the field names of a hash slot."""
        self._check_open()
        return await self._call("hkeys", ns, self._inner.hkeys(ns, slot))

    # -- counter, TTL, lifecycle, listing ----------------------------------------

    async def incr(self, ns: str, slot: str, amount: int = 1, *, ttl: float | None) -> int:
        """Add ``amount`` to a counter (stored unencoded) and return the new value."""
        self._check_open()
        return await self._call("incr", ns, self._inner.incr(ns, slot, amount, ttl=ttl))

    async def get_ttl(self, ns: str, slot: str) -> float | None:
        """Return the seconds left before the slot expires, or ``None``."""
        self._check_open()
        return await self._call("get_ttl", ns, self._inner.get_ttl(ns, slot))

    async def expire(self, ns: str, slot: str, ttl: float) -> bool:
        """Give an existing slot a new expiry; return whether it existed."""
        self._check_open()
        return await self._call("expire", ns, self._inner.expire(ns, slot, ttl))

    async def slots(self, ns: str, prefix: str = "") -> list[str]:
        """Return the live slot names of a namespace starting with ``prefix``, sorted."""
        self._check_open()
        return await self._call("slots", ns, self._inner.slots(ns, prefix))

    async def slot_kind(self, ns: str, slot: str) -> SlotKind | None:
        """Return the kind of a live slot, or ``None``."""
        self._check_open()
        return await self._call("slot_kind", ns, self._inner.slot_kind(ns, slot))

    async def touch(self, ns: str, *, ttl: float) -> int:
        """Re-apply ``ttl`` to every live slot of a namespace; return how many."""
        self._check_open()
        return await self._call("touch", ns, self._inner.touch(ns, ttl=ttl))

    async def purge(self, ns: str) -> int:
        """Delete every slot of a namespace; return how many there were."""
        self._check_open()
        return await self._call("purge", ns, self._inner.purge(ns))

    def iter_namespaces(self, prefix: str = "") -> AsyncIterator[str]:
        """Yield each namespace holding a live slot and starting with ``prefix``."""
        self._check_open()
        return self._inner.iter_namespaces(prefix)

    # -- transactions -------------------------------------------------------------

    def transaction(self, ns: str, watch: Sequence[str]) -> Transaction:
        """Start a transaction of the inner store, seen through the transforms."""
        self._check_open()
        return WrappedTransaction(self, self._inner.transaction(ns, watch), check_id(ns, _NS))

    # -- session documents ------------------------------------------------------------

    async def create_session(
        self,
        session_id: str,
        *,
        scope: str | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        ttl: float | None = None,
        messages: Sequence[str] = (),
    ) -> SessionRecord:
        """Create a session with encoded metadata and messages; return its decoded record."""
        where = self._scope(scope)
        meta = self._metadata_encoded(where, metadata)
        call = self._inner.create_session(
            session_id,
            scope=scope,
            label=label,
            metadata=meta,
            ttl=ttl,
            messages=self._messages_encoded(where, messages),
        )
        return self._record(where, await self._call("create_session", where, call))

    async def fork_session(
        self,
        parent_id: str,
        session_id: str,
        *,
        at: int | None = None,
        scope: str | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        ttl: float | None = None,
    ) -> SessionRecord:
        """Fork a session (its messages stay shared, as stored); return the decoded record."""
        where = self._scope(scope)
        meta = self._metadata_encoded(where, metadata)
        call = self._inner.fork_session(
            parent_id, session_id, at=at, scope=scope, label=label, metadata=meta, ttl=ttl
        )
        return self._record(where, await self._call("fork_session", where, call))

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[str],
        *,
        expected_length: int | None = None,
        token: str | None = None,
        scope: str | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        """Append encoded messages atomically; return the session's new length."""
        where = self._scope(scope)
        call = self._inner.append_messages(
            check_id(session_id, _SID),
            self._messages_encoded(where, messages),
            expected_length=expected_length,
            token=token,
            scope=scope,
            label=label,
            metadata=self._metadata_encoded(where, metadata),
        )
        return await self._call("append_messages", where, call)

    async def replace_messages(
        self,
        session_id: str,
        start: int,
        messages: Sequence[str],
        *,
        expected_length: int,
        token: str | None = None,
        scope: str | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        """Drop messages from ``start`` on and append encoded ones; return the new length."""
        where = self._scope(scope)
        call = self._inner.replace_messages(
            check_id(session_id, _SID),
            start,
            self._messages_encoded(where, messages),
            expected_length=expected_length,
            token=token,
            scope=scope,
            label=label,
            metadata=self._metadata_encoded(where, metadata),
        )
        return await self._call("replace_messages", where, call)

    async def pop_messages(
        self,
        session_id: str,
        n: int = 1,
        *,
        expected_length: int | None = None,
        scope: str | None = None,
    ) -> list[str]:
        """Remove the last ``n`` messages atomically and return them decoded."""
        where = self._scope(scope)
        call = self._inner.pop_messages(session_id, n, expected_length=expected_length, scope=scope)
        return self._messages_decoded(where, await self._call("pop_messages", where, call))

    async def read_messages(
        self, session_id: str, *, last: int | None = None, scope: str | None = None
    ) -> list[str]:
        """Return the messages (all, or the last ``last``), decoded."""
        where = self._scope(scope)
        call = self._inner.read_messages(session_id, last=last, scope=scope)
        return self._messages_decoded(where, await self._call("read_messages", where, call))

    async def get_session(
        self, session_id: str, *, scope: str | None = None
    ) -> SessionRecord | None:
        """Return a session's decoded record, or ``None``."""
        where = self._scope(scope)
        call = self._inner.get_session(session_id, scope=scope)
        record = await self._call("get_session", where, call)
        return None if record is None else self._record(where, record)

    async def list_sessions(
        self, *, scope: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> SessionPage:
        """Return one page of a scope's decoded records, newest first."""
        where = self._scope(scope)
        call = self._inner.list_sessions(scope=scope, limit=limit, cursor=cursor)
        page = await self._call("list_sessions", where, call)
        items = [self._record(where, record) for record in page.items]
        return dataclasses.replace(page, items=items)

    async def update_session(
        self,
        session_id: str,
        *,
        scope: str | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Replace the label and/or (encoded) metadata; return the decoded record."""
        where = self._scope(scope)
        meta = self._metadata_encoded(where, metadata)
        call = self._inner.update_session(session_id, scope=scope, label=label, metadata=meta)
        return self._record(where, await self._call("update_session", where, call))

    async def delete_session(self, session_id: str, *, scope: str | None = None) -> bool:
        """Delete a session; return whether it existed."""
        where = self._scope(scope)
        call = self._inner.delete_session(session_id, scope=scope)
        return await self._call("delete_session", where, call)

    def iter_scopes(self) -> AsyncIterator[str | None]:
        """Yield each scope that may hold sessions (scopes are plain)."""
        self._check_open()
        return self._inner.iter_scopes()


class WrappedTransaction:
    """A transaction of the inner store, seen through a :class:`StoreWrapper`'s transforms.

    Reads are decoded, queued writes encoded; ``begin`` (entering the block),
    the reads and ``commit`` go through the wrapper's :meth:`StoreWrapper._call`.
    Other attributes (``ns``, ``watch``, ``conflicted``...) are the inner
    transaction's.

    Args:
        store: The wrapper that started it.
        inner: The inner store's transaction, not entered yet.
        ns: Its namespace.
    """

    def __init__(self, store: StoreWrapper, inner: Transaction, ns: str) -> None:
        self._store = store
        self._inner = inner
        self._ns = ns

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    async def __aenter__(self) -> Self:
        await self._store._call("transaction.begin", self._ns, self._inner.__aenter__())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._inner.__aexit__(exc_type, exc, tb)

    async def get(self, slot: str) -> bytes | None:
        """Read a scalar slot, decoded."""
        slot = check_id(slot, _SLOT)
        stored = await self._store._call("transaction.get", self._ns, self._inner.get(slot))
        return self._store._decoded(self._ns, slot, stored)

    async def hget(self, slot: str, field: str) -> bytes | None:
        """Read one hash field, decoded."""
        slot, field = check_id(slot, _SLOT), check_id(field, "a hash field name")
        call = self._inner.hget(slot, field)
        stored = await self._store._call("transaction.hget", self._ns, call)
        return None if stored is None else self._store._field_decoded(self._ns, slot, field, stored)

    async def hgetall(self, slot: str) -> dict[str, bytes]:
        """Read a whole hash slot, decoded."""
        slot = check_id(slot, _SLOT)
        stored = await self._store._call("transaction.hgetall", self._ns, self._inner.hgetall(slot))
        return self._store._fields_decoded(self._ns, slot, stored)

    def set(self, slot: str, value: bytes, *, ttl: float | None) -> None:
        """Queue the write of an encoded scalar value."""
        slot = check_id(slot, _SLOT)
        self._inner.set(slot, self._store._encoded(self._ns, slot, value), ttl=ttl)

    def delete(self, slot: str) -> None:
        """Queue a delete."""
        self._inner.delete(slot)

    def hset(self, slot: str, mapping: Mapping[str, bytes], *, ttl: float | None) -> None:
        """Queue the write of encoded hash fields and the slot's expiry."""
        slot = check_id(slot, _SLOT)
        self._inner.hset(slot, self._store._fields_encoded(self._ns, slot, mapping), ttl=ttl)

    def hdel(self, slot: str, fields: Sequence[str]) -> None:
        """Queue the deletion of hash fields."""
        self._inner.hdel(slot, fields)

    async def commit(self) -> None:
        """Apply the queued writes atomically (see :meth:`Transaction.commit`)."""
        await self._store._call("transaction.commit", self._ns, self._inner.commit())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._inner!r}>"


def _text(slot: str, value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        return value.decode()
    except UnicodeDecodeError as exc:
        raise not_utf8(slot, exc) from None


def _encode_error(store: StoreWrapper, what: str) -> DriverError:
    return DriverError(f"{type(store).__name__} could not encode {what} for store {store.url}")


def _decode_error(store: StoreWrapper, what: str) -> CorruptionError:
    return CorruptionError(
        f"{type(store).__name__} could not decode {what} read from store {store.url}"
    )
