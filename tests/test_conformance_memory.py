"""The memory driver passes the conformance suite."""

from __future__ import annotations

import uuid

import pytest

from unistore.testing import ConformanceSuite


class TestMemoryConformance(ConformanceSuite):
    @pytest.fixture
    def store_url(self) -> str:
        # A name of its own per test: two connections share data, tests do not.
        return f"memory://conformance-{uuid.uuid4().hex}"
