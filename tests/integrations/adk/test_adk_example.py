"""The documented example runs, on memory and on SQLite, and resumes its state."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

EXAMPLE = Path(__file__).parents[3] / "docs" / "examples" / "integrations" / "adk_example.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("adk_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_example_runs_in_memory() -> None:
    replies = await load_example().main("memory://")
    assert replies == [
        "Hello! Turn 1 of this chat, visit 1, greeting 1.",
        "Hello! Turn 2 of this chat, visit 2, greeting 2.",
    ]


async def test_the_example_carries_its_state_over_runs_on_sqlite(tmp_path: Path) -> None:
    example = load_example()
    url = f"sqlite:///{tmp_path / 'adk.db'}"
    await example.main(url)
    replies = await example.main(url)
    assert replies == [
        "Hello! Turn 3 of this chat, visit 3, greeting 3.",
        "Hello! Turn 4 of this chat, visit 4, greeting 4.",
    ]
