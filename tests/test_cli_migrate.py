"""``unistore migrate URL`` on drivers that have no old layout to move."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner

import unistore
from unistore._cli._app import cli


def test_the_migrate_command_on_other_drivers(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/none.db"
    result = CliRunner().invoke(cli, ["migrate", db])
    assert result.exit_code != 0  # a missing store is not made up
    assert not (tmp_path / "none.db").exists()
    asyncio.run(_touch(db))
    result = CliRunner().invoke(cli, ["migrate", db])
    assert result.exit_code == 0, result.output
    assert "the sql store is in the current layout" in result.output
    folder = f"file://{tmp_path}/files"
    asyncio.run(_touch(folder))
    result = CliRunner().invoke(cli, ["migrate", "--json", folder])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"driver": "file", "migrates": False, "moved": None}


async def _touch(url: str) -> None:
    async with unistore.connect(url) as store:
        await store.set("ns", "a", b"1", ttl=None)
