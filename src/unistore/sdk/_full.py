"""FullStoreBase: every capability base at once, for drivers that implement them all."""

from __future__ import annotations

from unistore.sdk._sessions import SessionDocumentsBase
from unistore.sdk._slots import (
    CounterBase,
    HashBase,
    KeyValueBase,
    NamespaceLifecycleBase,
    NamespaceListingBase,
    TTLBase,
)
from unistore.sdk._tx import TransactionsBase

__all__ = ["FullStoreBase"]


class FullStoreBase(
    KeyValueBase,
    HashBase,
    CounterBase,
    TTLBase,
    NamespaceLifecycleBase,
    NamespaceListingBase,
    TransactionsBase,
    SessionDocumentsBase,
):
    """The base of a store with every capability (what :class:`unistore.FullStore` describes).

    A driver implementing fewer capabilities inherits only their bases instead.
    """
