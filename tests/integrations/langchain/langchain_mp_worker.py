"""A worker process appending through UnistoreChatMessageHistory (spawned by a test)."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage

from unistore.integrations.langchain import UnistoreChatMessageHistory


def append_all(urls: list[str], worker: int, count: int, barrier: Any, session: str) -> None:
    """For each URL, wait for the other worker, then append ``count`` messages one by one."""
    for url in urls:
        with UnistoreChatMessageHistory(session, url, scope="mp") as history:
            assert isinstance(history.messages, list)  # connected before the start
            barrier.wait(30)
            for n in range(count):
                history.add_messages([HumanMessage(f"{worker}:{n}", id=f"{worker}-{n}")])
