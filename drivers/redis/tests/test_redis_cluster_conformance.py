"""The unistore conformance suite on a private Redis Cluster (three masters, three replicas)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from servers import RedisCluster

import unistore
from unistore.testing import ConformanceSuite

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


class TestRedisClusterConformance(ConformanceSuite):
    @pytest.fixture
    def store_url(self, cluster_servers: RedisCluster) -> str:
        return cluster_servers.url

    @pytest.fixture
    def store_options(self) -> dict[str, Any]:
        return {"key_prefix": f"t-{uuid.uuid4().hex[:12]}"}

    @pytest.fixture(autouse=True)
    async def _destroy_prefix(
        self, store_url: str, store_options: dict[str, Any]
    ) -> AsyncIterator[None]:
        yield
        store = unistore.connect(store_url, **store_options)
        async with store:
            await store.destroy()  # type: ignore[attr-defined]
