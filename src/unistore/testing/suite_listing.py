"""Conformance tests of NamespaceListing: iter_namespaces."""

from __future__ import annotations

import pytest

from unistore.protocols import Capability, NamespaceListing
from unistore.testing._fixtures import SuiteFixtures
from unistore.testing._support import HOSTILE_IDS, LONG_TTL, FullStore, IdFactory, require

__all__ = ["NamespaceListingSuite"]

LISTING = Capability.NAMESPACE_LISTING
KV = Capability.KEY_VALUE


async def _listed(store: FullStore, prefix: str) -> list[str]:
    assert isinstance(store, NamespaceListing)
    return [ns async for ns in store.iter_namespaces(prefix)]


class NamespaceListingSuite(SuiteFixtures):
    """Enumerating namespaces (for tooling such as copying a store)."""

    @pytest.mark.asyncio
    async def test_iter_namespaces_yields_each_live_namespace_once(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """Namespaces with live slots are listed once each; the prefix filters exactly."""
        require(store, LISTING, KV)
        base = ids.ns()
        names = [ids.track_ns(base + suffix) for suffix in ("", ":a", ":b", "*", "?x")]
        for ns in names:
            await store.set(ns, "s1", b"v", ttl=LONG_TTL)
            await store.set(ns, "s2", b"v", ttl=LONG_TTL)
        listed = await _listed(store, base)
        assert sorted(listed) == sorted(names)
        assert sorted(await _listed(store, base + ":")) == sorted([base + ":a", base + ":b"])
        # A glob-looking prefix is a plain prefix, never a pattern.
        assert await _listed(store, base + "*") == [base + "*"]

    @pytest.mark.asyncio
    async def test_iter_namespaces_skips_emptied_and_expired_ones(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """A deleted or expired namespace is not listed."""
        require(store, LISTING, KV)
        base = ids.ns()
        kept, deleted = ids.track_ns(base + ":kept"), ids.track_ns(base + ":deleted")
        await store.set(kept, "s", b"v", ttl=LONG_TTL)
        await store.set(deleted, "s", b"v", ttl=LONG_TTL)
        await store.delete(deleted, "s")
        assert await _listed(store, base) == [kept]

    @pytest.mark.asyncio
    async def test_hostile_namespaces_are_listed_verbatim(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """Namespaces holding glob characters, NUL or 10 KB of text come back exactly."""
        require(store, LISTING, KV)
        base = ids.ns()
        names = {ids.track_ns(base + hostile) for hostile in HOSTILE_IDS}
        for ns in names:
            await store.set(ns, "s", b"v", ttl=LONG_TTL)
        assert sorted(await _listed(store, base)) == sorted(names)
