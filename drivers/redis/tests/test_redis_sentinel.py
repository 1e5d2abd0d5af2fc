"""The unistore conformance suite on the master that a private Sentinel set names."""

from __future__ import annotations

import pytest
from conformance_base import RedisConformance
from servers import SentinelSet

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


class TestRedisSentinelConformance(RedisConformance):
    @pytest.fixture
    def store_url(self, sentinel_servers: SentinelSet) -> str:
        return sentinel_servers.url
