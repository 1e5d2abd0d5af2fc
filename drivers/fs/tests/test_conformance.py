"""The shared conformance suite, run against the file driver (both durability modes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from unistore.testing import ConformanceSuite


class TestFileConformance(ConformanceSuite):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"file://{tmp_path}/store"


class TestFileConformanceFlush(ConformanceSuite):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"file://{tmp_path}/store"

    @pytest.fixture
    def store_options(self) -> dict[str, Any]:
        return {"durability": "flush", "sweep_every": 3}
