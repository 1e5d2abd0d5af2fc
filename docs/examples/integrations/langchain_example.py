"""LangChain on unistore: a chat history and two key-value stores on one store.

Run it with a store URL (default: a SQLite file in the current folder)::

    python langchain_example.py sqlite:///langchain-demo.db

The chat model is LangChain's offline fake, so the example runs without an
API key; put any chat model in its place.
"""

from __future__ import annotations

import asyncio
import sys

from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage, SystemMessage

import unistore
from unistore.integrations.langchain import (
    UnistoreByteStore,
    UnistoreChatMessageHistory,
    UnistoreStore,
)


async def chat_turn(history: UnistoreChatMessageHistory, model: BaseChatModel, text: str) -> str:
    """Answer ``text`` with the whole history as context, then save both messages."""
    question = HumanMessage(text)
    past = await history.aget_messages()
    answer = await model.ainvoke([*past, question])
    # One atomic append: the question and its answer land together or not at all.
    await history.aadd_messages([question, answer])
    return str(answer.content)


async def main(url: str) -> list[str]:
    """Hold a two-turn chat, take notes and cache a vector, all in the store at ``url``."""
    model = FakeListChatModel(responses=["Day one: the Egyptian Museum.", "Day two: the Mole."])
    async with unistore.connect(url) as store:
        # One history per user and conversation; the scope keeps tenants apart.
        history = UnistoreChatMessageHistory("user-42", store, scope="travel-agent")
        if not await history.aget_messages():
            await history.aadd_messages([SystemMessage("You are a concise travel agent.")])
        replies = [
            await chat_turn(history, model, "Plan a weekend in Turin."),
            await chat_turn(history, model, "And the second day?"),
        ]

        # JSON values, kept for a day after their last write.
        notes = UnistoreStore(store, namespace="trip-notes", ttl=86_400)
        await notes.amset([("turin", {"days": 2, "sights": ["Egyptian Museum", "Mole"]})])

        # Bytes, such as the vectors of LangChain's CacheBackedEmbeddings.
        cache = UnistoreByteStore(store, namespace="embedding-cache")
        await cache.amset([("sha1:3f2a", b"\x00\x00\x80?\x00\x00\x00@")])
        cached = [key async for key in cache.ayield_keys(prefix="sha1:")]
        print(f"{len(await history.aget_messages())} messages, cached: {cached}")
    return replies


def blocking(url: str) -> list[str]:
    """The same stores from code without an event loop (a URL: the object owns the store)."""
    with UnistoreStore(url, namespace="trip-notes") as notes:
        notes.mset([("rome", {"days": 3})])
        return sorted(notes.yield_keys())


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "sqlite:///langchain-demo.db"
    print(asyncio.run(main(target)))
    print(blocking(target))
