"""The writer both processes of the multi-process test run (importable by a spawned child)."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.checkpoint.base import empty_checkpoint

from unistore.integrations.langgraph import UnistoreSaver


async def write(url: str, name: str, count: int) -> None:
    """Put ``count`` chained checkpoints, each with one write, into thread "shared"."""
    async with UnistoreSaver(url) as saver:
        config: Any = {"configurable": {"thread_id": "shared", "checkpoint_ns": ""}}
        for step in range(count):
            metadata: Any = {"source": "loop", "step": step, "writer": name}
            stored = await saver.aput(config, empty_checkpoint(), metadata, {})
            await saver.aput_writes(stored, [("by", f"{name}-{step}")], f"task-{name}")
            config = stored


def child(urls: list[str], name: str, count: int, ready: Any, start: Any) -> None:
    """The spawned writer: signal readiness, wait for the start, write on every URL."""
    ready.set()
    start.wait(60)
    for url in urls:
        asyncio.run(write(url, name, count))
