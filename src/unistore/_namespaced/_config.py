"""What every namespace handle of one NamespacedStore shares: store, prefix, TTL, logger."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from unistore.errors import NotSupportedError
from unistore.protocols import Capability, Counter, Hash, KeyValue, NamespaceLifecycle, Store

__all__ = ["CoreStore", "NamespaceConfig", "not_supported"]


class CoreStore(Store, KeyValue, Hash, Counter, NamespaceLifecycle, Protocol):
    """A store declaring the capabilities every namespace operation needs."""


def not_supported(store: Store, capability: Capability, needed_by: str) -> NotSupportedError:
    """Return the error for an operation whose capability ``store`` does not declare."""
    return NotSupportedError(
        f"{needed_by} needs the {capability.value!r} capability, "
        f"which the store {store.url} does not declare"
    )


@dataclass(frozen=True, slots=True)
class NamespaceConfig:
    """The settings of a :class:`~unistore.NamespacedStore`, shared by its handles.

    Attributes:
        store: The driver store.
        prefix: The namespace prefix (no ``:``).
        ttl: The default TTL in seconds.
        decode: Whether reads return ``str``.
        logger: The audit logger.
        capabilities: What the store declares.
    """

    store: CoreStore
    prefix: str
    ttl: float
    decode: bool
    logger: logging.Logger
    capabilities: frozenset[Capability]

    def require(self, capability: Capability, needed_by: str) -> Any:
        """Return the store if it declares ``capability``.

        Raises:
            NotSupportedError: It does not.
        """
        if capability not in self.capabilities:
            raise not_supported(self.store, capability, needed_by)
        return self.store
