"""The LangChain page's example runs as printed, on memory and SQLite."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLE = (
    Path(__file__).resolve().parents[2]
    / "docs"
    / "examples"
    / "integrations"
    / "langchain_example.py"
)


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("langchain_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_example_on_memory(capsys: pytest.CaptureFixture[str]) -> None:
    replies = await _load().main("memory://")
    assert replies == ["Day one: the Egyptian Museum.", "Day two: the Mole."]
    assert "5 messages, cached: ['sha1:3f2a']" in capsys.readouterr().out


async def test_example_on_sqlite_resumes_the_history(tmp_path: Path) -> None:
    example = _load()
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    await example.main(url)
    await example.main(url)  # a second run continues the same chat
    from unistore.integrations.langchain import UnistoreChatMessageHistory

    async with UnistoreChatMessageHistory("user-42", url, scope="travel-agent") as history:
        messages = await history.aget_messages()
    assert [m.type for m in messages] == ["system"] + ["human", "ai"] * 4
    assert example.blocking(url) == ["rome", "turin"]
