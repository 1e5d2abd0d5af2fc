"""An OpenAI Agents SDK agent whose conversation memory lives in a unistore store.

So that it runs anywhere, the agent's model is a small local one that counts
what it remembers; give the agent ``model="gpt-4.1"`` (and set
``OPENAI_API_KEY``) for a real one. Run it twice against a SQLite file and the
memory carries on:

    python openai_agents_example.py sqlite:///agents.db
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

from agents import Agent, Model, ModelResponse, RunConfig, Runner, Usage
from openai.types.responses import ResponseOutputMessage, ResponseOutputText

from unistore.integrations.openai_agents import UnistoreSession


class CountingModel(Model):
    """Answers with how many earlier items of the conversation it was sent."""

    async def get_response(
        self, system_instructions: str | None, input: str | list[Any], *args: Any, **kwargs: Any
    ) -> ModelResponse:
        """Answer one turn."""
        remembered = 0 if isinstance(input, str) else len(input) - 1
        text = f"I remember {remembered} earlier items."
        reply = ResponseOutputMessage(
            id="msg_local",
            type="message",
            role="assistant",
            status="completed",
            content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
        )
        return ModelResponse(output=[reply], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """Not used here: the example runs with ``Runner.run``."""
        raise NotImplementedError("this example does not stream")


async def main(url: str) -> list[str]:
    """Run two turns of one user's chat and return the agent's answers."""
    agent = Agent(name="assistant", instructions="Be brief.", model=CountingModel())
    config = RunConfig(tracing_disabled=True)
    # One session per user and chat; the scope keeps tenants apart.
    async with UnistoreSession("chat-1", url, scope="user:ada") as session:
        answers = []
        for question in ("Hello!", "What did I just say?"):
            result = await Runner.run(agent, question, session=session, run_config=config)
            answers.append(str(result.final_output))
        return answers


if __name__ == "__main__":
    for answer in asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "memory://")):
        print(answer)
