"""One lock per session key and event loop, alive only while in use."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class KeyedLocks:
    """Serialises the tasks of one event loop that work on the same key.

    Parallel branches of an ADK invocation append to one session object at
    once; run one after the other, each sees the revision the previous one
    wrote, instead of all but one failing as stale. Tasks of different loops
    (threads) or processes are not serialised here: for them the store's
    length check decides, as between any two writers.
    """

    def __init__(self) -> None:
        self._held: dict[tuple[int, Hashable], tuple[asyncio.Lock, list[int]]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        """Hold the lock of ``key`` for the running loop."""
        # Keyed by loop: an asyncio.Lock serves only the loop that waits on
        # it, and the entry is dropped with its last user, so a later loop
        # that happens to get the same id() starts afresh.
        slot = (id(asyncio.get_running_loop()), key)
        entry = self._held.get(slot)
        if entry is None:
            entry = self._held[slot] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._held[slot]
