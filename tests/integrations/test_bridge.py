"""The store bridge every adapter stands on: any loop, any thread, blocking code."""

from __future__ import annotations

import asyncio
import threading

import pytest

import unistore
from unistore.errors import EventLoopError, ValidationError
from unistore.integrations._bridge import StoreBridge
from unistore.protocols import FullStore


async def _put(store: FullStore, value: bytes) -> None:
    await store.set("bridge:ns", "slot", value, ttl=None)


async def _get(store: FullStore) -> bytes | None:
    return await store.get("bridge:ns", "slot")


def test_owned_store_serves_successive_loops_threads_and_blocking_code(store_url: str) -> None:
    bridge = StoreBridge(store_url, owner="test")
    try:
        # Two asyncio.run calls: two loops, each closed after its call, as a
        # framework's blocking runner does. The store must survive both.
        asyncio.run(bridge.call(lambda s: _put(s, b"one")))
        assert asyncio.run(bridge.call(_get)) == b"one"
        bridge.run(lambda s: _put(s, b"two"))
        seen: list[bytes | None] = []
        workers = [threading.Thread(target=lambda: seen.append(bridge.run(_get))) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert seen == [b"two"] * 4
        bridge.run(lambda s: s.delete("bridge:ns", "slot"))
    finally:
        bridge.close()
    assert bridge.store.closed  # type: ignore[attr-defined]


async def test_blocking_call_on_the_loop_serving_a_borrowed_store_raises() -> None:
    async with unistore.connect("memory://") as store:
        bridge = StoreBridge(store, owner="Thing")
        await bridge.call(lambda s: _put(s, b"x"))
        with pytest.raises(EventLoopError, match="async methods of Thing"):
            bridge.run(_get)
        # From another thread the blocking call is served by the store's loop.
        result = await asyncio.to_thread(bridge.run, _get)
        assert result == b"x"
        await bridge.aclose()  # borrowed: stays open
        assert await store.get("bridge:ns", "slot") == b"x"


def test_blocking_call_on_the_portal_thread_raises_instead_of_deadlocking() -> None:
    bridge = StoreBridge("memory://", owner="Thing")

    async def nested(store: FullStore) -> object:
        return bridge.run(_get)

    with pytest.raises(EventLoopError, match="never return"):
        bridge.run(nested)
    bridge.close()


def test_refuses_what_is_not_a_store_or_url() -> None:
    with pytest.raises(ValidationError, match="not int"):
        StoreBridge(42, owner="Thing")  # type: ignore[arg-type]


async def test_options_only_with_a_url() -> None:
    async with unistore.connect("memory://") as store:
        with pytest.raises(ValidationError, match="options apply to a URL"):
            StoreBridge(store, owner="Thing", options={"x": 1})


async def test_blocking_call_with_an_unused_borrowed_store_inside_a_loop_raises() -> None:
    # The store most likely belongs to the running loop: blocking on it here
    # would deadlock, or use its connections from another loop.
    async with unistore.connect("memory://") as store:
        bridge = StoreBridge(store, owner="Thing")
        with pytest.raises(EventLoopError, match="give the adapter a URL"):
            bridge.run(_get)


def test_blocking_call_with_a_borrowed_store_outside_any_loop_is_served() -> None:
    store = unistore.connect("memory://")
    bridge = StoreBridge(store, owner="Thing")
    bridge.run(lambda s: _put(s, b"v"))
    assert bridge.run(_get) == b"v"
    asyncio.run(store.aclose())
