"""How a SessionManager ends: once, in order, whether closed or its conversation ended."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from unistore._sessions._family import ChildSessions
from unistore._sessions._hub import EventHub
from unistore._sessions._saver import SessionSaver
from unistore.protocols import SessionDocuments, Store

if TYPE_CHECKING:
    import asyncio

__all__ = ["Disposal"]


class Disposal:
    """The disposal of one manager: pending saves, children, final save, ``dispose``.

    Args:
        saver: The manager's saver.
        family: The manager's child sessions.
        events: The manager's events (``dispose`` is emitted, then all cleared).
        unsubscribe: Undo the manager's own conversation subscriptions.
        store: The session store.
        owns_store: Close the store at the end (the manager opened it).

    Attributes:
        detach: For a child's manager: removes it from its parent's family.
    """

    def __init__(
        self,
        saver: SessionSaver,
        family: ChildSessions[Any],
        events: EventHub,
        unsubscribe: list[Callable[[], None]],
        store: SessionDocuments,
        *,
        owns_store: bool,
    ) -> None:
        self._saver = saver
        self._family = family
        self._events = events
        self._unsubscribe = unsubscribe
        self._store = store
        self._owns_store = owns_store
        self._task: asyncio.Task[None] | None = None
        self.closed = False
        self.detach: Callable[[], None] | None = None

    @property
    def started(self) -> bool:
        """Whether the disposal began (the manager refuses new work)."""
        return self._task is not None

    def start_soon(self) -> asyncio.Task[None] | None:
        """Start the disposal in the background; return its task if this started it."""
        if self._task is not None:
            return None
        import asyncio  # not at module level: `import unistore` stays cheap

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        self._task = loop.create_task(self._run())
        return self._task

    async def wait(self) -> None:
        """Start the disposal unless it began, and wait for its end."""
        import asyncio

        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        await asyncio.shield(self._task)

    async def _run(self) -> None:
        saver, family = self._saver, self._family
        await family.flush(saver)
        await family.close_all()
        if saver.auto_save and saver.dirty():
            async with saver.lock:
                try:
                    await saver.save_locked(None, create=False)
                except Exception as exc:
                    saver.report(exc, "dispose")
        saver.stop()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        # A change made while the final save was writing started an auto-save:
        # it must end before the store closes, not outlive the manager.
        await saver.settle()
        self.closed = True
        self._events.emit("dispose")
        self._events.clear()
        if self.detach is not None:
            self.detach()
        if self._owns_store:
            closer = self._store
            assert isinstance(closer, Store)
            await closer.aclose()
