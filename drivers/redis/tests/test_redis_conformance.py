"""The unistore conformance suite on a real Redis server."""

from __future__ import annotations

import pytest
from conformance_base import RedisConformance

pytestmark = pytest.mark.redis


class TestRedisConformance(RedisConformance):
    @pytest.fixture
    def store_url(self, url: str) -> str:
        return url
