"""An ADK agent whose sessions, events and state live in a unistore store.

The agent needs no model: it counts the user's visits (user state), the
app's greetings (app state) and the turns of this session (session state),
and answers with a greeting. Run it twice against a SQLite file and the
counts carry on.

    python adk_example.py sqlite:///adk.db
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncGenerator

from google.adk.agents import BaseAgent
from google.adk.agents.invocation_context import InvocationContext
from google.adk.events import Event, EventActions
from google.adk.runners import Runner
from google.genai import types

from unistore.integrations.adk import UnistoreSessionService


class Greeter(BaseAgent):
    """Greets the user and keeps three counters in the three kinds of state."""

    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        state = ctx.session.state
        turns = state.get("turns", 0) + 1
        visits = state.get("user:visits", 0) + 1
        greetings = state.get("app:greetings", 0) + 1
        text = f"Hello! Turn {turns} of this chat, visit {visits}, greeting {greetings}."
        yield Event(
            author=self.name,
            invocation_id=ctx.invocation_id,
            content=types.Content(role="model", parts=[types.Part(text=text)]),
            actions=EventActions(
                state_delta={
                    "turns": turns,
                    "user:visits": visits,
                    "app:greetings": greetings,
                    "temp:scratch": "never stored",
                }
            ),
        )


async def main(url: str) -> list[str]:
    """Run two turns in the user's session and return the agent's replies."""
    async with UnistoreSessionService(url) as sessions:
        runner = Runner(app_name="greeter", agent=Greeter(name="greeter"), session_service=sessions)
        session = await sessions.get_session(app_name="greeter", user_id="ada", session_id="chat")
        if session is None:
            session = await sessions.create_session(
                app_name="greeter", user_id="ada", session_id="chat"
            )
        replies: list[str] = []
        for text in ("hi", "hi again"):
            message = types.Content(role="user", parts=[types.Part(text=text)])
            async for event in runner.run_async(
                user_id="ada", session_id=session.id, new_message=message
            ):
                if event.content and event.content.parts and event.content.parts[0].text:
                    replies.append(event.content.parts[0].text)
        return replies


if __name__ == "__main__":
    for reply in asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "memory://")):
        print(reply)
