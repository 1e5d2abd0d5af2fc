"""UnistoreSaver under real graphs, against InMemorySaver, and at its edges."""

from __future__ import annotations

import asyncio
import operator
import threading
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

import unistore
from unistore.errors import SessionExistsError, ValidationError
from unistore.integrations.langgraph import UnistoreSaver
from unistore.integrations.langgraph._config import derive_scope


class State(TypedDict):
    log: Annotated[list[str], operator.add]
    answer: str


def _graph(checkpointer: Any) -> Any:
    """A graph with a parallel fan-out (several writes per step) and an interrupt."""

    def left(state: State) -> dict[str, Any]:
        return {"log": ["left"]}

    def right(state: State) -> dict[str, Any]:
        return {"log": ["right"]}

    def ask(state: State) -> dict[str, Any]:
        reply = interrupt("name?")
        return {"log": [f"ask:{reply}"], "answer": reply}

    builder = StateGraph(State)
    builder.add_node("left", left)
    builder.add_node("right", right)
    builder.add_node("ask", ask)
    builder.add_edge(START, "left")
    builder.add_edge(START, "right")
    builder.add_edge("left", "ask")
    builder.add_edge("right", "ask")
    builder.add_edge("ask", END)
    return builder.compile(checkpointer=checkpointer)


async def _scenario(checkpointer: Any) -> list[Any]:
    """Run, interrupt, resume, run again; return what LangGraph shows of the thread."""
    graph = _graph(checkpointer)
    config: Any = {"configurable": {"thread_id": "t-1"}}
    seen: list[Any] = []
    first = await graph.ainvoke({"log": ["start"], "answer": ""}, config)
    seen.append(sorted(first["log"]))
    state = await graph.aget_state(config)
    seen.append([task.interrupts[0].value for task in state.tasks])
    final = await graph.ainvoke(Command(resume="Ada"), config)
    seen.append((sorted(final["log"]), final["answer"]))
    await graph.ainvoke({"log": ["again"]}, config)
    history = [snapshot async for snapshot in graph.aget_state_history(config)]
    seen.append(
        [
            (s.metadata["source"], s.metadata["step"], sorted(s.values.get("log", [])))
            for s in history
        ]
    )
    seen.append([tuple(sorted(s.next)) for s in history])
    limited = [s async for s in graph.aget_state_history(config, limit=2)]
    seen.append(
        [s.config["configurable"]["checkpoint_id"] for s in limited]
        == [s.config["configurable"]["checkpoint_id"] for s in history[:2]]
    )
    # Time travel: the state as of an older checkpoint.
    old = await graph.aget_state(history[3].config)
    seen.append(sorted(old.values.get("log", [])))
    return seen


async def test_a_graph_sees_the_same_thread_as_with_the_in_memory_saver(store_url: str) -> None:
    expected = await _scenario(InMemorySaver())
    async with UnistoreSaver(store_url) as saver:
        assert await _scenario(saver) == expected


def test_the_blocking_api_runs_a_graph_from_plain_code() -> None:
    with UnistoreSaver("memory://") as saver:
        graph = _graph(saver)
        config: Any = {"configurable": {"thread_id": "sync"}}
        graph.invoke({"log": ["x"], "answer": ""}, config)
        graph.invoke(Command(resume="Bo"), config)
        assert graph.get_state(config).values["answer"] == "Bo"
        assert len(list(saver.list(config))) == len(list(graph.get_state_history(config)))
        saver.copy_thread("sync", "copy")
        assert graph.get_state({"configurable": {"thread_id": "copy"}}).values["answer"] == "Bo"
        saver.delete_thread("sync")
        assert saver.get_tuple(config) is None


async def test_copy_thread_is_a_session_fork_that_outlives_its_source(store_url: str) -> None:
    async with unistore.connect(store_url) as store:
        saver = UnistoreSaver(store, scope="app")
        graph = _graph(saver)
        source: Any = {"configurable": {"thread_id": "src"}}
        await graph.ainvoke({"log": ["a"], "answer": ""}, source)
        await graph.ainvoke(Command(resume="Cy"), source)
        await saver.acopy_thread("src", "dst")
        record = await store.get_session("dst", scope=derive_scope("app"))
        assert record is not None
        assert record.parent_id == "src"
        await saver.adelete_thread("src")
        target: Any = {"configurable": {"thread_id": "dst"}}
        assert (await graph.aget_state(target)).values["answer"] == "Cy"
        await graph.ainvoke({"log": ["more"]}, target)
        assert "more" in (await graph.aget_state(target)).values["log"]
        with pytest.raises(SessionExistsError):
            await saver.acopy_thread("dst", "dst")


async def _put(saver: UnistoreSaver, thread: str, ns: str = "", parent: str | None = None) -> Any:
    config: Any = {"configurable": {"thread_id": thread, "checkpoint_ns": ns}}
    if parent:
        config["configurable"]["checkpoint_id"] = parent
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"who": thread}
    checkpoint["channel_versions"] = {"who": 1}
    return await saver.aput(config, checkpoint, {"source": "loop", "step": 0}, {"who": 1})


HOSTILE = [
    "*",
    "?",
    "[a]",
    "a:b",
    "a",
    "a:",
    ":a",
    "{x}",
    "../a",
    "a/..",
    "%",
    "%2F",
    "\n",
    "é",
    "x" * 1000,
]


async def test_hostile_thread_ids_and_namespaces_stay_apart(store_url: str) -> None:
    async with UnistoreSaver(store_url) as saver:
        for thread in HOSTILE:
            await _put(saver, thread)
            await _put(saver, "shared", ns=thread)
        for thread in HOSTILE:
            found = await saver.aget_tuple({"configurable": {"thread_id": thread}})
            assert found is not None
            assert found.checkpoint["channel_values"] == {"who": thread}
            assert len([t async for t in saver.alist({"configurable": {"thread_id": thread}})]) == 1
            in_ns = [
                t
                async for t in saver.alist(
                    {"configurable": {"thread_id": "shared", "checkpoint_ns": thread}}
                )
            ]
            assert [t.config["configurable"]["checkpoint_ns"] for t in in_ns] == [thread]
        await saver.adelete_thread("*")
        assert await saver.aget_tuple({"configurable": {"thread_id": "*"}}) is None
        assert await saver.aget_tuple({"configurable": {"thread_id": "a"}}) is not None
        listed = {t.config["configurable"]["thread_id"] async for t in saver.alist(None)}
        assert listed == (set(HOSTILE) - {"*"}) | {"shared"}


async def test_scopes_keep_savers_apart_and_away_from_other_sessions(store_url: str) -> None:
    async with unistore.connect(store_url) as store:
        savers = {
            scope: UnistoreSaver(store, scope=scope) for scope in (None, "a", "a:b", "*", "%")
        }
        for scope, saver in savers.items():
            await _put(saver, f"own-{scope}")
            await _put(saver, "same")
        for scope, saver in savers.items():
            threads = {t.config["configurable"]["thread_id"] async for t in saver.alist(None)}
            assert threads == {f"own-{scope}", "same"}
        await savers["a"].adelete_thread("same")
        assert await savers["a:b"].aget_tuple({"configurable": {"thread_id": "same"}}) is not None
        # Nothing lands in the default scope other code lists its sessions in.
        assert (await store.list_sessions()).items == []


async def test_a_retried_put_or_put_writes_changes_nothing_a_reader_sees(store_url: str) -> None:
    async with UnistoreSaver(store_url) as saver:
        first = await _put(saver, "t")
        stored = await saver.aget_tuple(first)
        assert stored is not None
        second = await _put(saver, "t", parent=first["configurable"]["checkpoint_id"])
        await saver.aput_writes(first, [("who", "w"), ("other", 1)], "task")
        # The replies were lost; the same calls run again, the put after a
        # newer checkpoint was stored.
        again = await saver.aput(
            {"configurable": {"thread_id": "t", "checkpoint_ns": ""}},
            stored.checkpoint,
            {"source": "loop", "step": 0},
            {},
        )
        await saver.aput_writes(first, [("who", "w"), ("other", 1)], "task")
        assert again == first
        listed = [t async for t in saver.alist({"configurable": {"thread_id": "t"}})]
        assert [t.config for t in listed] == [second, first]
        latest = await saver.aget_tuple({"configurable": {"thread_id": "t"}})
        assert latest is not None
        assert latest.config == second
        found = await saver.aget_tuple(first)
        assert found is not None
        assert found.pending_writes == [("task", "who", "w"), ("task", "other", 1)]


async def test_latest_checkpoint_reads_a_short_tail_of_a_long_thread() -> None:
    async with unistore.connect("memory://") as store:
        saver = UnistoreSaver(store)
        parent = None
        for _ in range(300):
            config = await _put(saver, "long", parent=parent)
            parent = config["configurable"]["checkpoint_id"]
        asked: list[int | None] = []
        original = store.read_messages

        async def spy(session_id: str, *, last: int | None = None, scope: str | None = None) -> Any:
            asked.append(last)
            return await original(session_id, last=last, scope=scope)

        store.read_messages = spy  # type: ignore[method-assign]
        found = await saver.aget_tuple({"configurable": {"thread_id": "long"}})
        assert found is not None
        assert found.config["configurable"]["checkpoint_id"] == parent
        page = [t async for t in saver.alist({"configurable": {"thread_id": "long"}}, limit=3)]
        assert len(page) == 3
        assert all(last is not None and last <= 32 for last in asked), asked


async def test_writes_stored_just_before_their_checkpoint_are_found() -> None:
    # LangGraph's async durability can store a step's writes before the put
    # of their checkpoint lands; other namespaces may fill the tail after it.
    async with UnistoreSaver("memory://") as saver:
        for _ in range(40):
            await _put(saver, "t", ns="filler")
        checkpoint = empty_checkpoint()
        early: Any = {
            "configurable": {
                "thread_id": "t",
                "checkpoint_ns": "",
                "checkpoint_id": checkpoint["id"],
            }
        }
        await saver.aput_writes(early, [("who", "early")], "task")
        await saver.aput(
            {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}, checkpoint, {}, {}
        )
        for _ in range(31):
            await _put(saver, "t", ns="child")
        latest: Any = {"configurable": {"thread_id": "t"}}
        for config in (latest, early):
            found = await saver.aget_tuple(config)
            assert found is not None
            assert found.config["configurable"]["checkpoint_id"] == checkpoint["id"]
            assert found.pending_writes == [("task", "who", "early")]


async def test_bad_input_raises_errors_that_name_the_problem() -> None:
    async with UnistoreSaver("memory://") as saver:
        with pytest.raises(ValidationError, match="thread_id"):
            await saver.aget_tuple({"configurable": {}})
        with pytest.raises(ValidationError, match="thread_id must not be empty"):
            await saver.aget_tuple({"configurable": {"thread_id": ""}})
        with pytest.raises(ValidationError, match="str, int or UUID"):
            await saver.aget_tuple({"configurable": {"thread_id": ["x"]}})
        with pytest.raises(ValidationError, match="checkpoint_id"):
            await saver.aput_writes({"configurable": {"thread_id": "t"}}, [("c", 1)], "task")
        with pytest.raises(ValidationError, match="checkpoint_ns"):
            await saver.aget_tuple({"configurable": {"thread_id": "t", "checkpoint_ns": 3}})
        with pytest.raises(ValidationError, match="limit"):
            [t async for t in saver.alist(None, limit="2")]  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="not a str"):
            await saver.adelete_for_runs("run")
    with pytest.raises(ValidationError, match="scope"):
        UnistoreSaver("memory://", scope="")
    with pytest.raises(ValidationError, match="ttl"):
        UnistoreSaver("memory://", ttl=-1)
    with pytest.raises(ValidationError, match="URL or an open unistore store"):
        UnistoreSaver(42)  # type: ignore[arg-type]


async def test_ttl_applies_to_every_thread_and_copy() -> None:
    async with unistore.connect("memory://") as store:
        saver = UnistoreSaver(store, ttl=90)
        await _put(saver, "t")
        await saver.acopy_thread("t", "u")
        for thread in ("t", "u"):
            record = await store.get_session(thread, scope=derive_scope(None))
            assert record is not None
            assert record.ttl == 90


def test_threads_and_loops_share_one_owned_saver(store_url: str) -> None:
    saver = UnistoreSaver(store_url)
    try:
        # asyncio.run per call, as a framework's blocking runner does, from threads.
        asyncio.run(_put(saver, "x"))
        workers = [threading.Thread(target=lambda: asyncio.run(_put(saver, "x"))) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert len(list(saver.list({"configurable": {"thread_id": "x"}}))) == 5
    finally:
        saver.close()


def test_importing_without_langgraph_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    for name in list(sys.modules):
        if name == "unistore.integrations.langgraph" or name.startswith(
            "unistore.integrations.langgraph."
        ):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "langgraph.checkpoint.base", None)
    with pytest.raises(ImportError, match=r'pip install "unistore\[langgraph\]"'):
        importlib.import_module("unistore.integrations.langgraph")
