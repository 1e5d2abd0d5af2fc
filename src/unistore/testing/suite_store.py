"""Conformance tests of the store object itself: declaration, URL, closing."""

from __future__ import annotations

from typing import Any

import pytest

import unistore
from unistore.errors import StoreClosedError
from unistore.protocols import (
    TTL,
    Capability,
    Counter,
    Hash,
    KeyValue,
    NamespaceLifecycle,
    NamespaceListing,
    SessionDocuments,
    Store,
    Transactions,
)
from unistore.testing._fixtures import SuiteFixtures
from unistore.testing._support import LONG_TTL, FullStore

__all__ = ["StoreSuite"]

PROTOCOLS: dict[Capability, type[Any]] = {
    Capability.KEY_VALUE: KeyValue,
    Capability.HASH: Hash,
    Capability.COUNTER: Counter,
    Capability.TTL: TTL,
    Capability.NAMESPACE_LIFECYCLE: NamespaceLifecycle,
    Capability.NAMESPACE_LISTING: NamespaceListing,
    Capability.TRANSACTIONS: Transactions,
    Capability.SESSION_DOCUMENTS: SessionDocuments,
}


class StoreSuite(SuiteFixtures):
    """What every store offers, whatever it declares."""

    @pytest.mark.asyncio
    async def test_store_declares_its_capabilities(self, store: FullStore) -> None:
        """The capabilities are a frozenset of Capability, each backed by its protocol's methods."""
        assert isinstance(store, Store)
        caps = store.capabilities
        assert isinstance(caps, frozenset)
        assert all(isinstance(cap, Capability) for cap in caps)
        for cap in caps:
            assert isinstance(store, PROTOCOLS[cap]), f"declares {cap.value} without its methods"

    @pytest.mark.asyncio
    async def test_store_url_is_its_parsed_url(self, store: FullStore, store_url: str) -> None:
        """store.url is the StoreURL it was opened with, and its scheme names the driver."""
        parsed = unistore.StoreURL.parse(store_url)
        assert isinstance(store.url, unistore.StoreURL)
        assert store.url.scheme == parsed.scheme
        assert store.url.render(hide_secrets=True) == parsed.render(hide_secrets=True)
        if parsed.password:
            assert parsed.password not in repr(store)
            assert parsed.password not in str(store.url)

    @pytest.mark.asyncio
    async def test_aclose_is_idempotent_and_final(
        self, store_url: str, store_options: dict[str, Any], ns: str
    ) -> None:
        """A closed store refuses work with StoreClosedError; closing twice is fine."""
        opened: FullStore = unistore.connect(store_url, **store_options)
        async with opened as entered:
            assert entered is opened
        await opened.aclose()
        caps = opened.capabilities
        if Capability.KEY_VALUE in caps:
            with pytest.raises(StoreClosedError):
                await opened.set(ns, "s", b"v", ttl=LONG_TTL)
        if Capability.SESSION_DOCUMENTS in caps:
            with pytest.raises(StoreClosedError):
                await opened.get_session("conformance-closed")
