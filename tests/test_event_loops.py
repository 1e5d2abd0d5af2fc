"""An async store used from another event loop: it works, or says clearly why not.

redis-py's and asyncpg's connections belong to the loop that opened them;
SQLite's worker threads, the memory and the file drivers serve any loop. A
loop-bound store used from another loop raises EventLoopError, never a raw
RuntimeError or a third-party traceback, and closes from any loop.
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
import threading

import pytest

import unistore
from unistore.errors import EventLoopError

LOOP_BOUND = ("redis://", "postgresql")


async def _write_read(store: unistore.FullStore, value: bytes) -> bytes | None:
    await store.set("loops", "k", value, ttl=60)
    return await store.get("loops", "k")


# The connections of a loop that is closed can no longer be closed through it:
# the garbage collector closes their sockets and says so with a
# ResourceWarning (hidden by default; an error under this suite's filters).
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_successive_asyncio_run_calls(store_url: str) -> None:
    store = unistore.connect(store_url)
    assert asyncio.run(_write_read(store, b"1")) == b"1"
    if store_url.startswith(LOOP_BOUND):
        with pytest.raises(EventLoopError, match=r"another event loop.*closed.*unistore\.sync"):
            asyncio.run(_write_read(store, b"2"))
    else:
        assert asyncio.run(_write_read(store, b"2")) == b"2"
    # Closing from yet another loop neither raises nor hangs.
    asyncio.run(store.aclose())
    assert store.closed
    if store_url.startswith(LOOP_BOUND):
        # Collect the abandoned connections here, under this test's filters.
        del store
        gc.collect()


def test_a_loop_still_running_on_another_thread(store_url: str) -> None:
    if not store_url.startswith(LOOP_BOUND):
        pytest.skip("this driver's store serves any loop")
    home = asyncio.new_event_loop()
    thread = threading.Thread(target=home.run_forever, daemon=True)
    thread.start()
    store = unistore.connect(store_url)
    try:
        result = asyncio.run_coroutine_threadsafe(_write_read(store, b"home"), home).result(30)
        assert result == b"home"
        with pytest.raises(EventLoopError, match="still running"):
            asyncio.run(_write_read(store, b"elsewhere"))
        # aclose from this thread's loop closes on the home loop, and waits.
        asyncio.run(store.aclose())
        assert store.closed
    finally:
        home.call_soon_threadsafe(home.stop)
        thread.join(10)
        home.close()


def test_no_third_party_traceback_reaches_stderr(store_url: str) -> None:
    if not store_url.startswith(LOOP_BOUND):
        pytest.skip("this driver's store serves any loop")
    script = textwrap.dedent(
        f"""
        import asyncio, unistore
        store = unistore.connect({store_url!r})
        async def op():
            await store.set("loops", "k", b"v", ttl=60)
        asyncio.run(op())
        try:
            asyncio.run(op())
        except unistore.EventLoopError as exc:
            print("EventLoopError")
        asyncio.run(store.aclose())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "EventLoopError"
    assert "Traceback" not in result.stderr
    assert result.stderr == ""
