"""A private event loop on a thread of its own, reachable from any thread or loop.

Stores hold connections that belong to the event loop they were opened on
(redis-py and asyncpg refuse to be used from another). Code that has no loop of
its own - blocking frameworks, ``asyncio.run`` per call, a second loop on
another thread - reaches such a store through a portal: the store lives on the
portal's loop, and every call is handed over to it.

One call costs one hand-over to the portal thread and one back. Calls made on
the portal's own loop run directly, so code already running there pays nothing.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from unistore.errors import EventLoopError

T = TypeVar("T")

# How long interpreter exit waits for the loop to finish closing what it holds.
_EXIT_GRACE = 5.0


class Portal:
    """An event loop running on a daemon thread, started on first use.

    Args:
        name: The thread's name, shown by debuggers and thread dumps.
    """

    def __init__(self, name: str = "unistore-portal") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The portal's loop, started when first asked for."""
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                self._loop = self._start()
            return self._loop

    def _start(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                _finish(loop)

        self._thread = threading.Thread(target=serve, name=self._name, daemon=True)
        self._thread.start()
        ready.wait()
        return loop

    @property
    def started(self) -> bool:
        """Whether the loop runs (it starts on first use)."""
        loop = self._loop
        return loop is not None and not loop.is_closed()

    def on_portal(self) -> bool:
        """Whether the calling thread is the portal's own thread."""
        thread = self._thread
        return thread is not None and thread.ident == threading.get_ident()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule ``coro`` on the portal's loop and return its future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], *, api: str = "the async API") -> T:
        """Run ``coro`` on the portal and block until it is done.

        Args:
            coro: The coroutine to run.
            api: What to use instead, named in the error when the call is made
                on the portal's own thread.

        Raises:
            EventLoopError: The caller is the portal's thread, which would have
                to serve the call it is blocked on.
        """
        if self.on_portal():
            coro.close()
            raise EventLoopError(
                f"a blocking unistore call was made on the event loop that serves it; "
                f"it would never return: use {api} there"
            )
        return self.submit(coro).result()

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the portal from any event loop.

        Cancelling the caller cancels the call on the portal.
        """
        if self.on_portal():
            return await coro
        return await asyncio.wrap_future(self.submit(coro))

    def close(self, timeout: float = _EXIT_GRACE) -> None:
        """Stop the loop and wait up to ``timeout`` seconds for its thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not threading.current_thread():
            thread.join(timeout)


def _finish(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is still running on a stopped loop, then close it."""
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


_SHARED: Portal | None = None
_SHARED_LOCK = threading.Lock()


def shared_portal() -> Portal:
    """The process-wide portal, closed at interpreter exit."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = Portal()
            atexit.register(_SHARED.close)
        return _SHARED
