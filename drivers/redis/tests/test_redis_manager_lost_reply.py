"""A session save whose reply is lost is stored exactly once, through the session manager.

The private redis-server is paused (SIGSTOP) while a save is in flight, so the
client times out although the server applies the write once it resumes. The
documented remedy, saving again (with or without ``on_conflict="rebase"``),
must not store the message a second time.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

import pytest

import unistore
from unistore import Conversation, SessionManager
from unistore.errors import StoreTimeoutError

pytestmark = pytest.mark.redis

_PAUSE = 1.5


def _contents(texts: list[str]) -> list[Any]:
    return [json.loads(text)["content"] for text in texts]


async def _paused_save(manager: SessionManager, pid: int) -> bool:
    """Save while the server is paused; return whether the save reported success."""
    loop = asyncio.get_running_loop()
    os.kill(pid, signal.SIGSTOP)
    resumed = loop.create_future()

    def resume() -> None:
        os.kill(pid, signal.SIGCONT)
        resumed.set_result(None)

    loop.call_later(_PAUSE, resume)
    try:
        await manager.save()
        succeeded = True
    except StoreTimeoutError:
        succeeded = False
    finally:
        await resumed
    return succeeded


@pytest.mark.parametrize("on_conflict", ["raise", "rebase"])
async def test_a_retried_save_after_a_lost_reply_stores_each_message_once(
    private_server: Any, on_conflict: str
) -> None:
    process = private_server.process
    assert process is not None
    store = unistore.connect(private_server.url, socket_timeout=0.3)
    try:
        conversation = Conversation()
        manager = SessionManager(store, conversation, auto_save=False)
        conversation.add("user", "hello")
        await manager.save()
        session_id = manager.session_id
        assert session_id is not None
        conversation.add("user", "second")

        await _paused_save(manager, process.pid)
        # Whatever the first attempt reported, saving again converges on one copy.
        await manager.save(on_conflict=on_conflict)  # type: ignore[arg-type]
        assert not manager.has_unsaved_changes

        stored = await store.read_messages(session_id)
        assert _contents(stored) == ["hello", "second"]
        conversation.add("user", "third")
        await manager.save()
        assert _contents(await store.read_messages(session_id)) == ["hello", "second", "third"]
    finally:
        await store.aclose()
