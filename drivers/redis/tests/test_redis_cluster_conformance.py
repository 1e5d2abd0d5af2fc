"""The unistore conformance suite on a private Redis Cluster (three masters, three replicas)."""

from __future__ import annotations

import pytest
from conformance_base import RedisConformance
from servers import RedisCluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


class TestRedisClusterConformance(RedisConformance):
    @pytest.fixture
    def store_url(self, cluster_servers: RedisCluster) -> str:
        return cluster_servers.url
