"""LangGraph on unistore: durable threads and long-term memory in one store.

Run it with a store URL (default: a SQLite file in the current folder)::

    python langgraph_example.py sqlite:///langgraph-demo.db

The graph asks a human for approval (an interrupt), so the thread is resumed
from its checkpoint; a second thread starts from a copy of the first; and the
user's preferences live in the long-term store, shared by every thread.
"""

from __future__ import annotations

import asyncio
import operator
import sys
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from langgraph.types import Command, interrupt

import unistore
from unistore.integrations.langgraph import UnistoreSaver, UnistoreStore


class Trip(TypedDict):
    """The graph's state: where to, and the plan so far (appended to)."""

    city: str
    plan: Annotated[list[str], operator.add]


async def draft(state: Trip, *, store: BaseStore) -> dict[str, Any]:
    """Draft a day using what the long-term memory knows about the user."""
    prefs = await store.aget(("users", "ada"), "prefs")
    pace = prefs.value["pace"] if prefs else "normal"
    return {"plan": [f"{state['city']}: museums at a {pace} pace"]}


def approve(state: Trip) -> dict[str, Any]:
    """Stop until a human answers; the answer resumes the graph."""
    verdict = interrupt({"question": "Book it?", "plan": state["plan"]})
    return {"plan": [f"approved: {verdict}"]}


def build(checkpointer: UnistoreSaver, store: UnistoreStore) -> Any:
    """Draft, then wait for approval; checkpoints and memory both in unistore."""
    builder = StateGraph(Trip)
    builder.add_node("draft", draft)
    builder.add_node("approve", approve)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "approve")
    builder.add_edge("approve", END)
    return builder.compile(checkpointer=checkpointer, store=store)


async def main(url: str) -> list[str]:
    """Plan a trip, stop for approval, resume, then branch a copy of the thread."""
    async with unistore.connect(url) as backing:
        # One open store serves both; a scope and a prefix keep this app's data apart.
        saver = UnistoreSaver(backing, scope="trip-planner")
        memory = UnistoreStore(backing, prefix="trip-planner")
        await memory.aput(("users", "ada"), "prefs", {"pace": "slow"}, ttl=60 * 24 * 30)
        graph = build(saver, memory)

        thread: Any = {"configurable": {"thread_id": "ada-turin"}}
        await saver.adelete_thread("ada-turin")  # start fresh on every run
        await saver.adelete_thread("ada-turin-alt")
        await graph.ainvoke({"city": "Turin", "plan": []}, thread)
        waiting = await graph.aget_state(thread)
        assert waiting.next == ("approve",)  # stopped at the interrupt, state saved

        # Later, maybe in another process: resume the thread with the answer.
        done = await graph.ainvoke(Command(resume="yes"), thread)

        # copy_thread is O(1): the new thread shares the old one's checkpoints.
        await saver.acopy_thread("ada-turin", "ada-turin-alt")
        alt: Any = {"configurable": {"thread_id": "ada-turin-alt"}}
        await graph.aupdate_state(alt, {"plan": ["alternative: a day trip to Alba"]})
        branched = (await graph.aget_state(alt)).values["plan"]
        return [*done["plan"], "--", *branched]


if __name__ == "__main__":
    for line in asyncio.run(
        main(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///langgraph-demo.db")
    ):
        print(line)
