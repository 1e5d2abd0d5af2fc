"""langchain-tests' standard BaseStore suites, on every driver, for both stores.

The sync suites share one store per driver for the module, opened from its
URL by an adapter (so it lives on the adapter's private loop), and give each
test an empty namespace of its own; the adapters under test borrow that
store. The async suites borrow a fresh store per test, open on the test's
own loop. Together they cover both ways in, at a bounded cost.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from langchain_tests.integration_tests import BaseStoreAsyncTests, BaseStoreSyncTests

import unistore
from unistore import StoreURL, UnknownSchemeError
from unistore.integrations.langchain import UnistoreByteStore, UnistoreStore
from unistore.protocols import FullStore
from unistore_test_support import DRIVERS, make_store_url


@pytest.fixture(scope="module", params=DRIVERS)
def shared_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FullStore]:
    """One store per driver for the module, living on the adapters' private loop."""
    url = make_store_url(request.param, tmp_path_factory.mktemp("langchain-standard"))
    try:
        unistore.get_driver(StoreURL.parse(url).scheme)
    except UnknownSchemeError as exc:
        pytest.skip(str(exc))
    opener = UnistoreByteStore(url)
    yield opener.store
    if hasattr(opener.store, "destroy"):
        opener._bridge.run(lambda store: store.destroy())  # type: ignore[attr-defined]
    opener.close()


def _fresh_namespace() -> str:
    # An empty store for each test, as the suites require, without a new store.
    return f"standard-{uuid.uuid4().hex}"


class TestByteStoreSync(BaseStoreSyncTests[bytes]):
    @pytest.fixture
    def kv_store(self, shared_store: FullStore) -> UnistoreByteStore:
        return UnistoreByteStore(shared_store, namespace=_fresh_namespace())

    @pytest.fixture
    def three_values(self) -> tuple[bytes, bytes, bytes]:
        return b"foo", b"\x00bar\xff", b"buzz" * 1000


class TestByteStoreAsync(BaseStoreAsyncTests[bytes]):
    @pytest.fixture
    async def kv_store(self, store: unistore.Store) -> AsyncIterator[UnistoreByteStore]:
        async with UnistoreByteStore(store, namespace="standard") as kv:
            yield kv

    @pytest.fixture
    def three_values(self) -> tuple[bytes, bytes, bytes]:
        return b"foo", b"\x00bar\xff", b"buzz" * 1000


JSON_VALUES = ({"a": 1, "nested": [True, None, 2.5]}, ["two", "\u00e9\u6f22"], "three")


class TestJsonStoreSync(BaseStoreSyncTests[Any]):
    @pytest.fixture
    def kv_store(self, shared_store: FullStore) -> UnistoreStore:
        return UnistoreStore(shared_store, namespace=_fresh_namespace())

    @pytest.fixture
    def three_values(self) -> tuple[Any, Any, Any]:
        return JSON_VALUES


class TestJsonStoreAsync(BaseStoreAsyncTests[Any]):
    @pytest.fixture
    async def kv_store(self, store: unistore.Store) -> AsyncIterator[UnistoreStore]:
        async with UnistoreStore(store, namespace="standard") as kv:
            yield kv

    @pytest.fixture
    def three_values(self) -> tuple[Any, Any, Any]:
        return JSON_VALUES
