"""LangChain key-value stores (``BaseStore``) on one unistore namespace.

Each store instance works in one namespace, ``"langchain:" + namespace``. Keys
are slot names, written with the batch operations: ``mget`` is one
``get_many``, ``mset`` one atomic ``set_many``, ``mdelete`` one
``delete_many``, ``yield_keys`` one ``slots(prefix)``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta
from typing import Any, ClassVar, Generic, TypeVar

from langchain_core.stores import BaseStore

from unistore._url import StoreURL
from unistore.errors import CorruptionError, ValidationError
from unistore.integrations._bridge import BridgeOwner, StoreBridge
from unistore.integrations._langchain._checks import (
    DEFAULT_NAMESPACE,
    NAMESPACE_PREFIX,
    check_key_ttl,
    check_namespace,
    check_prefix,
)
from unistore.protocols import FullStore, Store
from unistore.sdk import short

V = TypeVar("V")


class _NamespaceStore(BridgeOwner, BaseStore[str, V], Generic[V]):
    """The batch operations both stores share; subclasses say how values are encoded."""

    _OWNER: ClassVar[str]

    def __init__(
        self,
        store_or_url: str | StoreURL | Store,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        ttl: float | timedelta | None = None,
    ) -> None:
        # Arguments are checked before the bridge opens anything.
        self._namespace = check_namespace(namespace, self._OWNER)
        self._ttl = check_key_ttl(ttl, self._OWNER)
        self._ns = NAMESPACE_PREFIX + self._namespace
        self._bridge = StoreBridge(store_or_url, owner=self._OWNER)

    # -- what subclasses define -------------------------------------------------

    def _encode(self, key: str, value: V) -> bytes:
        raise NotImplementedError

    def _decode(self, key: str, raw: bytes) -> V:
        raise NotImplementedError

    # -- properties ---------------------------------------------------------------

    @property
    def namespace(self) -> str:
        """The namespace given at creation (stored as ``"langchain:" + namespace``)."""
        return self._namespace

    @property
    def ttl(self) -> float | None:
        """Seconds a key lives after its last ``mset``, or ``None`` (forever)."""
        return self._ttl

    @property
    def store(self) -> FullStore:
        """The unistore store the keys live in."""
        return self._bridge.store

    def __repr__(self) -> str:
        # The URL renders with its password redacted.
        return f"{type(self).__name__}(namespace={short(self._namespace)}, store={self.store.url})"

    # -- argument checks ------------------------------------------------------------

    def _keys(self, keys: Sequence[str]) -> list[str]:
        given: object = keys
        if isinstance(given, str | bytes) or not isinstance(given, Sequence):
            raise ValidationError(
                f"{self._OWNER}: keys must be a sequence of str, got {type(keys).__name__}"
            )
        for key in keys:
            if not isinstance(key, str):
                raise ValidationError(
                    f"{self._OWNER}: a key must be a str, got {type(key).__name__}"
                )
        return list(keys)

    def _pairs(self, key_value_pairs: Sequence[tuple[str, V]]) -> dict[str, bytes]:
        given: object = key_value_pairs
        if isinstance(given, str | bytes) or not isinstance(given, Sequence):
            raise ValidationError(
                f"{self._OWNER}: key_value_pairs must be a sequence of (key, value) pairs, "
                f"got {type(key_value_pairs).__name__}"
            )
        mapping: dict[str, bytes] = {}
        for pair in key_value_pairs:
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise ValidationError(
                    f"{self._OWNER}: each item of key_value_pairs must be a (key, value) pair"
                )
            key, value = pair
            if not isinstance(key, str):
                raise ValidationError(
                    f"{self._OWNER}: a key must be a str, got {type(key).__name__}"
                )
            # A key given twice keeps its last value, as in a dict (and InMemoryStore).
            mapping[key] = self._encode(key, value)
        return mapping

    # -- the operations, once for the async and the blocking API --------------------------

    async def _get(self, store: FullStore, keys: list[str]) -> list[V | None]:
        raw = await store.get_many(self._ns, keys)
        return [
            None if value is None else self._decode(k, value)
            for k, value in zip(keys, raw, strict=True)
        ]

    async def _set(self, store: FullStore, mapping: dict[str, bytes]) -> None:
        await store.set_many(self._ns, mapping, ttl=self._ttl)

    async def _delete(self, store: FullStore, keys: list[str]) -> None:
        await store.delete_many(self._ns, keys)

    async def _list(self, store: FullStore, prefix: str) -> list[str]:
        return await store.slots(self._ns, prefix)

    # -- async API ------------------------------------------------------------------

    async def amget(self, keys: Sequence[str]) -> list[V | None]:
        """Return the values of ``keys`` in order (``None`` for a missing key), read at one instant.

        Raises:
            ValidationError: ``keys`` is not a sequence of ``str``.
            CorruptionError: A stored value cannot be decoded.
        """
        names = self._keys(keys)
        if not names:
            return []
        return await self._bridge.call(lambda store: self._get(store, names))

    async def amset(self, key_value_pairs: Sequence[tuple[str, V]]) -> None:
        """Store all the pairs in one atomic step (all or none), with the store's ``ttl``.

        Raises:
            ValidationError: A key is not a ``str`` or a value cannot be encoded;
                nothing was written.
        """
        mapping = self._pairs(key_value_pairs)
        if mapping:
            await self._bridge.call(lambda store: self._set(store, mapping))

    async def amdelete(self, keys: Sequence[str]) -> None:
        """Delete ``keys`` in one atomic step; missing keys are ignored.

        Raises:
            ValidationError: ``keys`` is not a sequence of ``str``.
        """
        names = self._keys(keys)
        if names:
            await self._bridge.call(lambda store: self._delete(store, names))

    async def ayield_keys(self, *, prefix: str | None = None) -> AsyncIterator[str]:
        """Yield the keys that start with ``prefix`` (all keys for ``None``), sorted.

        The keys are read in one call when iteration starts; keys written
        meanwhile may or may not be seen.
        """
        start = check_prefix(prefix, self._OWNER)
        for key in await self._bridge.call(lambda store: self._list(store, start)):
            yield key

    # -- blocking API -----------------------------------------------------------------

    def mget(self, keys: Sequence[str]) -> list[V | None]:
        """Blocking :meth:`amget`."""
        names = self._keys(keys)
        if not names:
            return []
        return self._bridge.run(lambda store: self._get(store, names))

    def mset(self, key_value_pairs: Sequence[tuple[str, V]]) -> None:
        """Blocking :meth:`amset`."""
        mapping = self._pairs(key_value_pairs)
        if mapping:
            self._bridge.run(lambda store: self._set(store, mapping))

    def mdelete(self, keys: Sequence[str]) -> None:
        """Blocking :meth:`amdelete`."""
        names = self._keys(keys)
        if names:
            self._bridge.run(lambda store: self._delete(store, names))

    def yield_keys(self, *, prefix: str | None = None) -> Iterator[str]:
        """Blocking :meth:`ayield_keys`."""
        start = check_prefix(prefix, self._OWNER)
        yield from self._bridge.run(lambda store: self._list(store, start))


class UnistoreByteStore(_NamespaceStore[bytes]):
    """A LangChain ``ByteStore`` (``BaseStore[str, bytes]``) on any unistore driver.

    Use it wherever LangChain takes a byte store: ``CacheBackedEmbeddings``,
    ``MultiVectorRetriever``'s docstore, LangChain's ``create_kv_docstore``.
    The async methods are native; the blocking ones run through the same
    store from any thread.

    Args:
        store_or_url: A store URL (opened here and closed by :meth:`close`)
            or an open unistore store (borrowed: the application closes it).
        namespace: The key space of this store. Instances with the same
            namespace on one store see the same keys; different namespaces
            never meet, whatever they contain. Stored as the unistore
            namespace ``"langchain:" + namespace``.
        ttl: Seconds (or a ``timedelta``) a key lives after its last write;
            ``None``: keys never expire.

    Raises:
        ValidationError: A bad namespace or ttl, or ``store_or_url`` is
            neither a URL nor a store.
    """

    _OWNER: ClassVar[str] = "UnistoreByteStore"

    def _encode(self, key: str, value: bytes) -> bytes:
        if type(value) is bytes:
            return value
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        raise ValidationError(
            f"UnistoreByteStore: the value of key {short(key)} must be bytes, "
            f"got {type(value).__name__} (UnistoreStore stores JSON values)"
        )

    def _decode(self, key: str, raw: bytes) -> bytes:
        return raw


class UnistoreStore(_NamespaceStore[Any]):
    """A LangChain ``BaseStore[str, Any]`` for JSON-serialisable values.

    Values are stored as compact UTF-8 JSON text, so a
    :class:`UnistoreByteStore` on the same namespace reads them as JSON bytes.
    They come back as :func:`json.loads` returns them: tuples as lists, and
    the ``int``, ``float``, ``bool`` and ``None`` keys of a ``dict`` as
    strings. NaN and infinities are refused (they are not JSON).

    Args:
        store_or_url: A store URL (opened here and closed by :meth:`close`)
            or an open unistore store (borrowed: the application closes it).
        namespace: The key space of this store (see :class:`UnistoreByteStore`).
        ttl: Seconds (or a ``timedelta``) a key lives after its last write;
            ``None``: keys never expire.

    Raises:
        ValidationError: A bad namespace or ttl, or ``store_or_url`` is
            neither a URL nor a store.
    """

    _OWNER: ClassVar[str] = "UnistoreStore"

    def _encode(self, key: str, value: Any) -> bytes:
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError, RecursionError) as exc:
            raise ValidationError(
                f"UnistoreStore: the value of key {short(key)} is not JSON-serialisable: {exc}"
            ) from None
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate is kept as a JSON escape, which UTF-8 can carry.
            return json.dumps(value, allow_nan=False, separators=(",", ":")).encode("ascii")

    def _decode(self, key: str, raw: bytes) -> Any:
        try:
            return json.loads(raw)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError both are
            raise CorruptionError(
                f"UnistoreStore: key {short(key)} holds a value that is not JSON"
            ) from None
