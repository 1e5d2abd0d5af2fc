"""The conformance suite's fixtures shared by every Redis topology the tests run it on."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

import unistore
from unistore.testing import ConformanceSuite

__all__ = ["RedisConformance"]


class RedisConformance(ConformanceSuite):
    """The whole suite under a key prefix of each test's own, destroyed after it.

    Subclasses give ``store_url``.
    """

    @pytest.fixture
    def store_options(self) -> dict[str, Any]:
        # Not the ``prefix`` fixture: suite tests have parameters of that name.
        return {"key_prefix": f"t-{uuid.uuid4().hex[:12]}"}

    @pytest.fixture(autouse=True)
    async def _destroy_prefix(
        self, store_url: str, store_options: dict[str, Any]
    ) -> AsyncIterator[None]:
        yield
        store = unistore.connect(store_url, **store_options)
        async with store:
            await store.destroy()  # type: ignore[attr-defined]
