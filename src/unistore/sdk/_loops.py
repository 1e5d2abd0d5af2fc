"""Event-loop affinity: which loop a store's connections belong to.

redis-py's and asyncpg's connections are bound to the event loop that opened
them: used from another loop they fail with a raw ``RuntimeError`` ("Event
loop is closed", "attached to a different loop") or print tracebacks while
the dead loop's sockets are torn down. A driver whose connections are bound
so keeps one :class:`LoopAffinity`, checks it where an operation takes its
client or connection, and closes through :meth:`LoopAffinity.close`. A store
used from the wrong loop then raises :class:`~unistore.errors.EventLoopError`
that says what happened and what to do instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from unistore.errors import EventLoopError

if TYPE_CHECKING:
    import asyncio

__all__ = ["LoopAffinity"]


class LoopAffinity:
    """The event loop a store's connections belong to: the first one that used them.

    Args:
        what: Names the store in messages (its redacted description).
    """

    __slots__ = ("_asyncio", "_home", "_running", "_what")
    _asyncio: Any

    def __init__(self, what: str) -> None:
        # Imported here: `import unistore.sdk` must not load asyncio, and a
        # store with loop-bound connections has imported it long before.
        import asyncio

        self._asyncio = asyncio
        # None outside a loop, where there is nothing to check (a transaction
        # object made by blocking code, say): its I/O runs in a loop later.
        self._running = asyncio.events._get_running_loop
        self._what = what
        self._home: asyncio.AbstractEventLoop | None = None

    @property
    def home(self) -> asyncio.AbstractEventLoop | None:
        """The loop the connections belong to, or ``None`` before the first use."""
        return self._home

    def check(self) -> None:
        """Bind to the running loop on first use; afterwards, insist on it.

        Raises:
            EventLoopError: The running loop is not the one the store's
                connections belong to.
        """
        loop = self._running()
        home = self._home
        if home is loop or loop is None:
            return
        if home is None:
            self._home = loop
            return
        state = "has been closed" if home.is_closed() else "is another one, still running"
        raise EventLoopError(
            f"{self._what} was first used on another event loop, which {state}; its "
            f"connections belong to that loop. Open one store per event loop (inside "
            f"asyncio.run(...), say), or use unistore.sync from code without a loop"
        )

    async def close(
        self,
        close: Callable[[], Awaitable[None]],
        abandon: Callable[[], Awaitable[None]],
    ) -> None:
        """Close the connections on the loop they belong to, or let go of them.

        Args:
            close: Closes them gracefully; it must run on their loop.
            abandon: Drops them without I/O, for a home loop that is closed or
                stopped: they cannot be closed there any more, and closing them
                from here would fail inside the client library.
        """
        aio = self._asyncio
        home = self._home
        self._home = None
        loop = self._running()
        if home is None or home is loop:
            await close()
        elif home.is_closed() or not home.is_running():
            await abandon()
        else:
            # The home loop runs on another thread: close there, wait here.
            future = aio.run_coroutine_threadsafe(_as_coroutine(close), home)
            await aio.wrap_future(future)


async def _as_coroutine(fn: Callable[[], Awaitable[None]]) -> None:
    await fn()
