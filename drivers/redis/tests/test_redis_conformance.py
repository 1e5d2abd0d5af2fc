"""The unistore conformance suite on a real Redis server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import unistore
from unistore.testing import ConformanceSuite

pytestmark = pytest.mark.redis


class TestRedisConformance(ConformanceSuite):
    @pytest.fixture
    def store_url(self, url: str) -> str:
        return url

    @pytest.fixture
    def store_options(self, prefix: str) -> dict[str, Any]:
        return {"key_prefix": prefix}

    @pytest.fixture(autouse=True)
    async def _destroy_prefix(
        self, store_url: str, store_options: dict[str, Any]
    ) -> AsyncIterator[None]:
        yield
        store = unistore.connect(store_url, **store_options)
        async with store:
            await store.destroy()  # type: ignore[attr-defined]
