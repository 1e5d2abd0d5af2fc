"""The namespaced store: per-session slots with TTL discipline and compare-and-swap.

A :class:`NamespacedStore` holds a store, a prefix and a default TTL, and hands
out cheap :class:`Namespace` handles. A handle speaks to the driver in the
namespace ``"<prefix>:<id>"``; the prefix cannot contain ``:``, so every
(prefix, id) pair maps to its own driver namespace, and the driver keeps
namespaces apart whatever the id contains.

The handle (:class:`Namespace`) lives in ``_handle``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from types import TracebackType
from typing import Any, Final, Generic, Literal, Self, TypeVar, cast, overload

from unistore._namespaced._audit import LOGGER_NAME
from unistore._namespaced._checks import (
    MAX_ID_LENGTH,
    MAX_PREFIX_LENGTH,
    MAX_SLOT_LENGTH,
    check_id,
    check_prefix,
    check_ttl,
)
from unistore._namespaced._config import CoreStore, NamespaceConfig, not_supported
from unistore._namespaced._handle import Namespace
from unistore._namespaced._views import BytesNamespace, TextNamespace
from unistore._url import StoreURL
from unistore.errors import ValidationError
from unistore.protocols import Capability, Store

__all__ = ["NamespacedStore"]

V = TypeVar("V", str, bytes)
_CORE: Final = (
    Capability.KEY_VALUE,
    Capability.HASH,
    Capability.COUNTER,
    Capability.NAMESPACE_LIFECYCLE,
)


class NamespacedStore(Generic[V]):
    """Per-session data slots over any store: scalars, hashes, counters, CAS.

    Every write carries a TTL (the per-call ``ttl`` or ``default_ttl``) applied
    atomically with it; there is no write without expiry.

    Example:
        >>> async def main() -> None:
        ...     async with NamespacedStore("memory://", prefix="shop", default_ttl=3600) as data:
        ...         ns = data.namespace("session-42")
        ...         await ns.set("basket-id", "7")
        ...         assert await ns.get("basket-id") == "7"

    Args:
        store: An open store, or a URL (then the namespaced store opens the
            store and closes it in :meth:`aclose` or at the end of an
            ``async with`` block). A store passed in is never closed here.
        prefix: Scopes the whole application: 1 to 64 ASCII letters, digits
            or dashes.
        default_ttl: Expiry of every write that does not pass its own
            ``ttl``: seconds (``int`` or ``float``) or a ``timedelta``.
        logger: Where audit events go; defaults to the ``unistore.namespaced``
            logger.
        decode: Return values as ``str`` decoded from UTF-8 (the default) or,
            with ``False``, as the stored ``bytes``. Writes accept both.

    Raises:
        ValidationError: A bad prefix, TTL, logger or store argument.
        NotSupportedError: The store lacks a capability every operation
            needs (key-value, hash, counter or namespace lifecycle).
    """

    #: Longest accepted prefix, in characters.
    MAX_PREFIX_LENGTH: Final = MAX_PREFIX_LENGTH
    #: Longest accepted namespace id, in characters.
    MAX_ID_LENGTH: Final = MAX_ID_LENGTH
    #: Longest accepted slot name, in characters.
    MAX_SLOT_LENGTH: Final = MAX_SLOT_LENGTH

    @overload
    def __init__(
        self: NamespacedStore[str],
        store: Store | str | StoreURL,
        *,
        prefix: str,
        default_ttl: float | timedelta,
        logger: logging.Logger | None = None,
        decode: Literal[True] = True,
    ) -> None: ...

    @overload
    def __init__(
        self: NamespacedStore[bytes],
        store: Store | str | StoreURL,
        *,
        prefix: str,
        default_ttl: float | timedelta,
        logger: logging.Logger | None = None,
        decode: Literal[False],
    ) -> None: ...

    def __init__(
        self,
        store: Store | str | StoreURL,
        *,
        prefix: str,
        default_ttl: float | timedelta,
        logger: logging.Logger | None = None,
        decode: bool = True,
    ) -> None:
        self._prefix = check_prefix(prefix)
        self._ttl = check_ttl(default_ttl)
        if logger is None:
            logger = logging.getLogger(LOGGER_NAME)
        elif not isinstance(logger, logging.Logger):
            raise ValidationError(f"logger must be a logging.Logger, got {type(logger).__name__}")
        self._logger = logger
        if not isinstance(decode, bool):
            raise ValidationError(f"decode must be a bool, got {type(decode).__name__}")
        self._decode = decode
        self._handle: type[Namespace[Any]] = TextNamespace if decode else BytesNamespace
        if isinstance(store, str | StoreURL):
            from unistore._registry import connect

            store = connect(store)
            self._owns = True
        elif isinstance(store, Store):
            self._owns = False
        else:
            raise ValidationError(
                f"store must be a unistore store or a URL, got {type(store).__name__}"
            )
        self._caps = store.capabilities
        for capability in _CORE:
            if capability not in self._caps:
                raise not_supported(store, capability, "NamespacedStore")
        self._store = cast(CoreStore, store)
        self._config = NamespaceConfig(
            self._store, self._prefix, self._ttl, self._decode, self._logger, self._caps
        )

    # -- properties -------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The underlying store."""
        return self._store

    @property
    def prefix(self) -> str:
        """The prefix of every namespace of this store."""
        return self._prefix

    @property
    def default_ttl(self) -> float:
        """The expiry of writes that pass no ``ttl``, in seconds."""
        return self._ttl

    @property
    def decode(self) -> bool:
        """Whether reads return ``str`` (``True``) or ``bytes`` (``False``)."""
        return self._decode

    @property
    def logger(self) -> logging.Logger:
        """The logger receiving audit events."""
        return self._logger

    # -- handles ----------------------------------------------------------------

    def namespace(self, namespace_id: str) -> Namespace[V]:
        """Return the handle of one namespace (a session, a user...).

        Cheap (no I/O): make one per request rather than keeping it around.

        Args:
            namespace_id: Any non-empty string of up to :attr:`MAX_ID_LENGTH`
                characters. It is isolated by the driver whatever it
                contains: ``*``, ``:``, ``..``, NUL and the like are safe.

        Raises:
            ValidationError: The id is not a non-empty ``str`` within bounds.
        """
        if type(namespace_id) is not str or not 0 < len(namespace_id) <= MAX_ID_LENGTH:
            namespace_id = check_id(namespace_id)
        return self._handle(self._config, namespace_id)

    # -- lifetime ---------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the store if this object opened it from a URL; otherwise do nothing."""
        if self._owns:
            await self._store.aclose()

    async def __aenter__(self) -> Self:
        if self._owns:
            await self._store.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<NamespacedStore prefix={self._prefix!r} store={self._store!r}>"
