"""The whole conformance suite on every driver, through the shipped wrappers stacked.

``Compressed(min_size=0)`` compresses (or heads) every value, message and
metadata value; when the encryption extra is installed, ``Encrypted`` sits
under it, so one run covers both wrappers, their composition through
``connect(url, wrappers=[...])`` and the :class:`~unistore.sdk.StoreWrapper` base.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from unistore.testing import ConformanceSuite


class TestWrappedConformance(ConformanceSuite):
    @pytest.fixture
    def store_url(self, shared_store: tuple[str, Path]) -> str:
        url = shared_store[0]
        # Memory: a name of its own per test, as the memory driver's own run does.
        return f"memory://wrapped-{uuid.uuid4().hex}" if url == "memory://" else url

    @pytest.fixture
    def store_options(self, wrapper_stack: list[Any]) -> dict[str, Any]:
        return {"wrappers": wrapper_stack}
