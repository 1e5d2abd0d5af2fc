"""The LangGraph page's example runs as printed, on memory and SQLite."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

EXAMPLE = (
    Path(__file__).resolve().parents[3]
    / "docs"
    / "examples"
    / "integrations"
    / "langgraph_example.py"
)
EXPECTED = [
    "Turin: museums at a slow pace",
    "approved: yes",
    "--",
    "Turin: museums at a slow pace",
    "approved: yes",
    "alternative: a day trip to Alba",
]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("langgraph_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # LangGraph resolves the state's type hints through the module's globals.
    sys.modules["langgraph_example"] = module
    spec.loader.exec_module(module)
    return module


async def test_example_on_memory() -> None:
    assert await _load().main("memory://") == EXPECTED


async def test_example_on_sqlite_runs_again_from_a_clean_thread(tmp_path: Path) -> None:
    example = _load()
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert await example.main(url) == EXPECTED
    assert await example.main(url) == EXPECTED
