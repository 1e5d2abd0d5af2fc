"""Capabilities as types: narrowing a store to a protocol, and stores that declare fewer.

:func:`unistore.connect` is typed to return a
:class:`~unistore.protocols.FullStore`. Shipped drivers implement every
capability and are returned as they are. A third-party store that declares
fewer is returned behind :class:`_PartialStore`, a thin proxy whose methods of
an undeclared capability raise :class:`~unistore.errors.NotSupportedError`
naming it, where the bare store would raise ``AttributeError`` or, worse,
run an undeclared method.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import Any, NoReturn, Self, TypeVar, cast

from unistore.errors import NotSupportedError
from unistore.protocols import (
    TTL,
    Capability,
    Counter,
    FullStore,
    Hash,
    KeyValue,
    NamespaceLifecycle,
    NamespaceListing,
    SessionDocuments,
    Store,
    Transactions,
)

__all__ = ["PROTOCOLS", "full_store", "require"]

_P = TypeVar("_P")

#: Each capability's protocol.
PROTOCOLS: Mapping[Capability, type] = MappingProxyType(
    {
        Capability.KEY_VALUE: KeyValue,
        Capability.HASH: Hash,
        Capability.COUNTER: Counter,
        Capability.TTL: TTL,
        Capability.NAMESPACE_LIFECYCLE: NamespaceLifecycle,
        Capability.NAMESPACE_LISTING: NamespaceListing,
        Capability.TRANSACTIONS: Transactions,
        Capability.SESSION_DOCUMENTS: SessionDocuments,
    }
)

_ALL = frozenset(Capability)

_CAPABILITY_OF: Mapping[type, Capability] = MappingProxyType(
    {proto: cap for cap, proto in PROTOCOLS.items()}
)

#: Method name -> the capability it belongs to (no name is in two protocols).
_METHODS: Mapping[str, Capability] = MappingProxyType(
    {
        name: cap
        for cap, proto in PROTOCOLS.items()
        for name, member in vars(proto).items()
        if callable(member) and not name.startswith("_")
    }
)


def _declared(store: object) -> frozenset[Capability]:
    capabilities = getattr(store, "capabilities", None)
    if capabilities is None:
        return frozenset()
    return frozenset(capabilities)


def _not_supported(store: object, capability: Capability, what: str) -> NotSupportedError:
    return NotSupportedError(
        f"store {getattr(store, 'url', store)} does not support the {capability.value} "
        f"capability ({what}); it declares: "
        f"{', '.join(sorted(c.value for c in _declared(store))) or 'none'}"
    )


def require(store: Store, protocol: Callable[..., _P]) -> _P:
    """Return ``store`` typed as one capability protocol, if it declares it.

    Example:
        >>> kv = unistore.require(store, unistore.protocols.KeyValue)  # doctest: +SKIP

    Args:
        store: Any store (the products accept third-party ones too).
        protocol: A capability protocol of :mod:`unistore.protocols`
            (``KeyValue``, ``Hash``, ...). Typed as a callable rather than
            ``type[P]`` because mypy refuses protocol classes for ``type[P]``
            (its ``type-abstract`` check).

    Returns:
        ``store`` itself, typed as ``protocol``.

    Raises:
        NotSupportedError: ``store.capabilities`` lacks that capability.
        TypeError: ``protocol`` is not a capability protocol.
    """
    capability = _CAPABILITY_OF.get(cast(type, protocol))
    if capability is None:
        names = ", ".join(proto.__name__ for proto in PROTOCOLS.values())
        raise TypeError(f"require() takes a capability protocol ({names}), not {protocol!r}")
    if capability not in _declared(store):
        raise _not_supported(store, capability, f"required as {capability.name}")
    return cast(_P, store)


class _PartialStore:
    """A store declaring fewer capabilities, seen through the FullStore type.

    Declared methods and every other attribute pass through to the store;
    methods of an undeclared capability are functions that raise
    NotSupportedError when called (not on lookup, so ``hasattr`` and
    ``getattr(store, name, None)`` keep working).
    """

    __slots__ = ("_missing", "_store")

    def __init__(self, store: Store, missing: frozenset[Capability]) -> None:
        self._store = store
        self._missing = missing

    def __getattr__(self, name: str) -> Any:
        if name in _PartialStore.__slots__:
            # Not set yet (copy, pickle): looking it up on the store would recurse.
            raise AttributeError(name)
        capability = _METHODS.get(name)
        if capability is not None and capability in self._missing:
            store = self._store

            def unsupported(*args: object, **kwargs: object) -> NoReturn:
                raise _not_supported(store, capability, f"{name}()")

            return unsupported
        return getattr(self._store, name)

    async def __aenter__(self) -> Self:
        await self._store.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._store.__aexit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        return repr(self._store)


def full_store(store: Store) -> FullStore:
    """Return ``store`` as a :class:`FullStore`: itself, or a proxy if it declares less.

    Only the declaration is read (no ``isinstance`` against the protocols), so
    a shipped store costs one set comparison and no wrapper.
    """
    declared = getattr(store, "capabilities", None)
    if declared is not None and _ALL.issubset(declared):
        return cast(FullStore, store)
    return cast(FullStore, _PartialStore(store, _ALL - _declared(store)))
