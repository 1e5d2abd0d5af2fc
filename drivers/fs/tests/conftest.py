"""Fixtures of the file driver tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

import unistore
from unistore_fs import FileStore


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The store folder (not created yet)."""
    return tmp_path / "store"


@pytest_asyncio.fixture
async def store(root: Path) -> AsyncIterator[FileStore]:
    """A file store on a fresh folder."""
    opened = unistore.connect(f"file://{root}")
    assert isinstance(opened, FileStore)
    async with opened:
        yield opened
