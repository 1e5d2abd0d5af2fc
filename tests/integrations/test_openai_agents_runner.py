"""UnistoreSession driven by the SDK's Runner (run, run_sync, run_streamed) and by processes.

The model is a small local ``Model`` that answers from its input (no network),
so what it was sent shows what the session gave the Runner. Each scenario runs
on ``SQLiteSession`` too, and the two must agree.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import multiprocessing
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agents import (
    Agent,
    Model,
    ModelResponse,
    ModelSettings,
    RunConfig,
    Runner,
    SQLiteSession,
    Usage,
    function_tool,
)
from agents.memory import SessionSettings
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

import unistore
from unistore.integrations.openai_agents import UnistoreSession
from unistore_test_support import destroy_url, make_store_url


def _texts(items: list[Any]) -> list[str]:
    """The plain text of each user or assistant message the model was sent."""
    out: list[str] = []
    for item in items:
        content = item.get("content")
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out.append("".join(part.get("text", "") for part in content))
        elif item.get("type") == "function_call_output":
            out.append(f"tool={item['output']}")
    return out


class EchoModel(Model):
    """Answers with what it saw; asks for the ``add`` tool when told "add"."""

    def __init__(self) -> None:
        self.inputs: list[list[str]] = []
        self.turn = 0

    def _output(self, input: str | list[Any]) -> list[Any]:
        items = [{"role": "user", "content": input}] if isinstance(input, str) else input
        seen = _texts(items)
        self.inputs.append(seen)
        self.turn += 1
        last = items[-1]
        if seen[-1].startswith("add") and last.get("type") != "function_call_output":
            return [
                ResponseFunctionToolCall(
                    type="function_call",
                    id=f"fc_{self.turn}",
                    call_id=f"call_{self.turn}",
                    name="add",
                    arguments=json.dumps({"a": 2, "b": 3}),
                    status="completed",
                )
            ]
        text = f"reply {len(seen)}: {seen[-1]}"
        return [
            ResponseOutputMessage(
                id=f"msg_{self.turn}",
                type="message",
                role="assistant",
                status="completed",
                content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
            )
        ]

    async def get_response(  # type: ignore[override]
        self, system_instructions: str | None, input: str | list[Any], *args: Any, **kwargs: Any
    ) -> ModelResponse:
        return ModelResponse(output=self._output(input), usage=Usage(), response_id=None)

    async def stream_response(  # type: ignore[override]
        self, system_instructions: str | None, input: str | list[Any], *args: Any, **kwargs: Any
    ) -> AsyncIterator[Any]:
        response = Response(
            id=f"resp_{self.turn}",
            created_at=0,
            model="echo",
            object="response",
            output=self._output(input),
            parallel_tool_calls=False,
            tool_choice="auto",
            tools=[],
        )
        yield ResponseCompletedEvent(
            type="response.completed", sequence_number=0, response=response
        )


@function_tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _agent(model: EchoModel) -> Agent[Any]:
    return Agent(name="echo", instructions="Echo.", model=model, tools=[add])


CONFIG = RunConfig(tracing_disabled=True, model_settings=ModelSettings())


def _run_sync_on_a_new_loop(*args: Any, **kwargs: Any) -> Any:
    # What the SDK's own session tests do for run_sync: a thread, a loop of its own.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return Runner.run_sync(*args, **kwargs)
    finally:
        asyncio.set_event_loop(None)
        loop.close()


async def _run(method: str, agent: Agent[Any], input: Any, **kwargs: Any) -> None:
    kwargs.setdefault("run_config", CONFIG)
    if method == "run":
        await Runner.run(agent, input, **kwargs)
    elif method == "run_sync":
        await asyncio.to_thread(_run_sync_on_a_new_loop, agent, input, **kwargs)
    else:
        run = Runner.run_streamed(agent, input, **kwargs)
        async for _ in run.stream_events():
            pass


def _limited(limit: int) -> RunConfig:
    return RunConfig(tracing_disabled=True, session_settings=SessionSettings(limit=limit))


async def _conversation(make: Any, method: str) -> tuple[list[Any], list[Any], list[Any]]:
    model = EchoModel()
    agent = _agent(model)
    session, other = make("chat"), make("other")
    for text in ["hello", "add two and three", "again"]:
        await _run(method, agent, text, session=session)
    # A list input is appended as it is; another session keeps its own history.
    await _run(method, agent, [{"role": "user", "content": "as a list"}], session=session)
    await _run(method, agent, "elsewhere", session=other)
    # session_settings given to the run: only the latest N history items go out.
    for limit in (2, 0, 100):
        await _run(method, agent, f"limit {limit}", session=session, run_config=_limited(limit))
    return model.inputs, await session.get_items(), await other.get_items()


def _strip_ids(items: list[Any]) -> list[Any]:
    return [{k: v for k, v in item.items() if k != "id"} for item in items]


@pytest.mark.parametrize("method", ["run", "run_sync", "run_streamed"])
async def test_runner_sees_the_same_history_as_with_sqlite_session(
    store_url: str, tmp_path: Path, method: str
) -> None:
    async with unistore.connect(store_url) as store:
        # run_sync runs on loops of its own: give it the store by URL.
        source: Any = store_url if method == "run_sync" else store
        opened: list[Any] = []

        def ours(sid: str) -> UnistoreSession:
            opened.append(UnistoreSession(sid, source))
            return opened[-1]

        def theirs(sid: str) -> SQLiteSession:
            opened.append(SQLiteSession(sid, tmp_path / "reference.db"))
            return opened[-1]

        try:
            our_inputs, our_items, our_other = await _conversation(ours, method)
            ref_inputs, ref_items, ref_other = await _conversation(theirs, method)
        finally:
            for session in opened:
                result = session.close()
                if result is not None:  # pragma: no cover - SQLiteSession.close is sync
                    await result
    assert our_inputs == ref_inputs
    assert _strip_ids(our_items) == _strip_ids(ref_items)
    assert _strip_ids(our_other) == _strip_ids(ref_other)
    # The history reached the model: the third turn saw the first two.
    assert our_inputs[2][:2] == ["hello", "reply 1: hello"]
    assert "tool=5" in our_inputs[2]
    assert our_inputs[4][-1] == "as a list"
    assert our_inputs[5] == ["elsewhere"]
    assert len(our_inputs[6]) == 3  # limit 2: two history items + the new input
    assert our_inputs[7] == ["limit 0"]
    assert our_inputs[8][0] == "hello"  # limit 100: all of it
    assert our_inputs[8][-1] == "limit 100"


def test_run_sync_keeps_history_across_runs(store_url: str) -> None:
    session = UnistoreSession("sync", store_url, session_settings={"limit": 10})
    model = EchoModel()
    agent = _agent(model)
    try:
        first = Runner.run_sync(agent, "one", session=session, run_config=CONFIG)
        second = Runner.run_sync(agent, "two", session=session, run_config=CONFIG)
        # run_sync leaves the thread a default event loop of its own and never
        # closes it; close it here so it is not reported when collected.
        leftover = asyncio.get_event_loop_policy().get_event_loop()
        asyncio.set_event_loop(None)
        leftover.close()
        assert first.final_output == "reply 1: one"
        assert second.final_output == "reply 3: two"
        items = asyncio.run(session.get_items())
        assert _texts(items) == ["one", "reply 1: one", "two", "reply 3: two"]
    finally:
        session.close()


WORKER = """
import asyncio
import importlib.util
from unistore.integrations.openai_agents import UnistoreSession

async def work(urls, worker, count):
    for url in urls:
        session = UnistoreSession("shared", url)
        for n in range(count):
            pair = [{"worker": worker, "n": n}, {"worker": worker, "n": n, "end": 1}]
            await session.add_items(pair)
        await session.aclose()

ready.set()
start.wait(60)
asyncio.run(work(urls, worker, count))
"""


def test_two_processes_append_to_one_session_on_every_shared_driver(tmp_path: Path) -> None:
    # This process is one writer, a spawned one the other: the SDK takes
    # seconds to import, so one child (serving every driver) keeps it short.
    urls = [make_store_url(d, tmp_path, name=d) for d in ("sqlite", "postgresql", "redis", "file")]
    count = 20
    ctx = multiprocessing.get_context("spawn")
    ready, start = ctx.Event(), ctx.Event()
    child = ctx.Process(
        target=exec,
        args=(WORKER, {"urls": urls, "worker": 1, "count": count, "ready": ready, "start": start}),
    )
    try:
        child.start()
        assert ready.wait(60)
        start.set()
        namespace: dict[str, Any] = {}
        exec(WORKER.split("ready.set()")[0], namespace)
        asyncio.run(namespace["work"](urls, 0, count))
        child.join(60)
        assert child.exitcode == 0
        for url in urls:
            session = UnistoreSession("shared", url)
            items = asyncio.run(session.get_items())
            session.close()
            assert len(items) == 2 * 2 * count, url
            for first, second in zip(items[::2], items[1::2], strict=True):
                assert second == {**first, "end": 1}
            for w in range(2):
                assert [i["n"] for i in items[::2] if i["worker"] == w] == list(range(count))
    finally:
        if child.is_alive():
            child.kill()
        for url in urls:
            if url.startswith(("redis", "postgresql")):
                destroy_url(url)


EXAMPLE = (
    Path(__file__).parents[2] / "docs" / "examples" / "integrations" / "openai_agents_example.py"
)


@pytest.mark.parametrize("driver", ["memory", "sqlite"])
def test_the_docs_example_runs_and_remembers(driver: str, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("openai_agents_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    url = make_store_url(driver, tmp_path)
    assert asyncio.run(example.main(url)) == [
        "I remember 0 earlier items.",
        "I remember 2 earlier items.",
    ]
    if driver == "sqlite":  # a second run carries on from the stored chat
        assert asyncio.run(example.main(url))[0] == "I remember 4 earlier items."
