"""The runner behind every blocking object: one store, one loop, one closed flag."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from unistore.errors import EventLoopError, StoreClosedError
from unistore.sync._loop import HandoffLoop

T = TypeVar("T")

# How long interpreter exit waits for one store to close.
_EXIT_GRACE = 5.0
_OPEN: weakref.WeakSet[Runner] = weakref.WeakSet()
_running_loop = asyncio.events._get_running_loop


class Runner:
    """Runs coroutines of one store on the store's own event loop.

    Args:
        name: What the blocking object is called in messages (``"store"``).
        aclose: Makes the coroutine that closes the store.
    """

    def __init__(self, name: str, aclose: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.loop = HandoffLoop(name="unistore-sync")
        self.closed = False
        self._name = name
        self._aclose = aclose
        _OPEN.add(self)

    def run(self, coro: Coroutine[Any, Any, T], api: str) -> T:
        """Block until ``coro`` ran on the store's loop; return its result.

        Args:
            coro: The call, already made (so its arguments were checked here).
            api: The async call to use instead, for the error in an event loop.

        Raises:
            EventLoopError: The caller runs an event loop: blocking it would
                stall every task on it (and could deadlock).
            StoreClosedError: The store was closed.
        """
        if _running_loop() is not None:
            coro.close()
            raise EventLoopError(
                f"unistore.sync was called inside a running event loop, which it would "
                f"block; in async code use the async API instead: {api}"
            )
        if self.closed:
            coro.close()
            raise StoreClosedError(f"the {self._name} was closed")
        return self.loop.run(coro)

    def close(self) -> None:
        """Close the store on its loop, then close the loop; idempotent.

        Allowed inside a running event loop too, unlike the other calls.
        """
        if self.closed:
            return
        try:
            # Not through run(): closing may happen anywhere, even in a loop
            # (a `with` block in async code); it blocks only for the close.
            self.loop.run(self._aclose())
        finally:
            self.closed = True
            _OPEN.discard(self)
            self.loop.close()

    def close_at_exit(self) -> None:
        """Close within a bounded time, from an exit hook: never hang, never raise."""
        if self.closed:
            return
        self.closed = True
        if not self.loop.started:
            return  # never used: the store opened no connection
        with contextlib.suppress(Exception):  # exit must neither hang nor raise over one store
            self.loop.run(self._aclose(), timeout=_EXIT_GRACE)
        self.loop.close(timeout=1.0)


def _close_at_exit() -> None:
    # Daemon threads would die with the interpreter anyway; closing first
    # lets servers see a clean disconnect and SQLite finish its journal.
    for runner in list(_OPEN):
        runner.close_at_exit()


atexit.register(_close_at_exit)
