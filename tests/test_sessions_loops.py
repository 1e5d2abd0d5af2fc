"""The OpenAI- and Anthropic-style loops of the sessions guide, against fake models."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from unistore import Conversation, SessionManager, Store

Model = Callable[[list[dict[str, Any]]], Awaitable[dict[str, Any]]]
Tool = Callable[[str, Any], Awaitable[Any]]


async def chat_turn(
    conversation: Conversation, call_model: Model, run_tool: Tool, text: str
) -> Any:
    conversation.add("user", text)
    while True:
        reply = await call_model(conversation.to_list())
        conversation.append(reply)
        if not reply.get("tool_calls"):
            return reply["content"]
        for call in reply["tool_calls"]:
            arguments = json.loads(call["function"]["arguments"])
            result = await run_tool(call["function"]["name"], arguments)
            conversation.add("tool", json.dumps(result), tool_call_id=call["id"])


async def agent_turn(
    conversation: Conversation, call_model: Model, run_tool: Tool, text: str
) -> None:
    conversation.add("user", [{"type": "text", "text": text}])
    while True:
        reply = await call_model(conversation.to_list())
        conversation.add("assistant", reply["content"])
        if reply["stop_reason"] != "tool_use":
            return
        results = [
            {
                "type": "tool_result",
                "tool_use_id": block["id"],
                "content": await run_tool(block["name"], block["input"]),
            }
            for block in reply["content"]
            if block["type"] == "tool_use"
        ]
        conversation.add("user", results)


async def weather(name: str, arguments: Any) -> Any:
    assert name == "weather"
    return {"city": arguments["city"], "sky": "clear"}


async def test_openai_style_loop_is_saved_message_by_message(store: Store) -> None:
    async def call_model(messages: list[dict[str, Any]]) -> dict[str, Any]:
        if messages[-1]["role"] == "tool":
            return {"role": "assistant", "content": "Clear skies in Oslo."}
        call = {
            "id": "call_1",
            "type": "function",
            "function": {"name": "weather", "arguments": json.dumps({"city": "Oslo"})},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}

    conversation = Conversation([{"role": "system", "content": "Be brief."}])
    async with SessionManager(store, conversation) as manager:
        answer = await chat_turn(conversation, call_model, weather, "Weather in Oslo?")
        assert answer == "Clear skies in Oslo."
        await manager.flush()
        assert manager.session_id is not None
        stored = [json.loads(t) for t in await manager.store.read_messages(manager.session_id)]
        assert stored == conversation.to_list()
        assert [m["role"] for m in stored] == ["system", "user", "assistant", "tool", "assistant"]
        record = await manager.store.get_session(manager.session_id)
        assert record is not None
        assert record.label == "Weather in Oslo?"


async def test_anthropic_style_loop_with_a_streamed_reply(store: Store) -> None:
    async def call_model(messages: list[dict[str, Any]]) -> dict[str, Any]:
        if messages[-1]["content"][0]["type"] == "tool_result":
            return {"content": [{"type": "text", "text": "Clear."}], "stop_reason": "end_turn"}
        block = {"type": "tool_use", "id": "tu_1", "name": "weather", "input": {"city": "Oslo"}}
        return {"content": [block], "stop_reason": "tool_use"}

    async def stream_model(messages: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        for piece in ("Any", "thing ", "else?"):
            yield {"type": "content_block_delta", "delta": {"type": "text_delta", "text": piece}}

    conversation = Conversation()
    async with SessionManager(store, conversation) as manager:
        await manager.start_new()
        await agent_turn(conversation, call_model, weather, "Weather in Oslo?")
        with conversation.begin("assistant") as draft:
            async for event in stream_model(conversation.to_list()):
                if event["type"] == "content_block_delta":
                    draft.write(event["delta"]["text"])
        await manager.flush()
        assert manager.session_id is not None
        stored = [json.loads(t) for t in await manager.store.read_messages(manager.session_id)]
        assert stored == conversation.to_list()
        assert stored[-1] == {"role": "assistant", "content": "Anything else?"}
        assert len(stored) == 5


async def test_readme_example(store_url: str) -> None:
    conversation = Conversation()
    async with SessionManager(store_url, conversation) as sessions:
        await sessions.load()  # the latest session, or a new one
        conversation.add("user", "Plan a weekend in Turin")
        conversation.add("assistant", "Day 1: the Egyptian Museum. Day 2: the Langhe hills.")
        assert sessions.session_id is not None
        branch = await sessions.fork(sessions.session_id, at=1, label="Milan instead?")
        await sessions.load(branch)
        conversation.add("assistant", "Day 1: the Duomo. Day 2: the Navigli.")
        await sessions.flush()
        records = (await sessions.list()).items
        assert [(r.label, r.message_count) for r in records] == [
            ("Milan instead?", 2),
            ("Plan a weekend in Turin", 2),
        ]
        destroy = getattr(sessions.store, "destroy", None)
        if destroy is not None:
            await destroy()
