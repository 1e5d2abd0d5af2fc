"""The child sessions of a manager: who they are, their background tasks, flushing the tree."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from unistore._sessions._conversation import Conversation
from unistore._sessions._saver import SessionSaver

if TYPE_CHECKING:
    import asyncio

__all__ = ["ChildSessions"]


class _Member(Protocol):
    """What the family needs of a child's manager (its own family and saver)."""

    _family: ChildSessions[Any]
    _saver: SessionSaver

    @property
    def conversation(self) -> Conversation: ...

    async def aclose(self) -> None: ...


_M = TypeVar("_M", bound=_Member)


class ChildSessions(Generic[_M]):
    """The live child managers of one manager, by child session id, and its tasks.

    The tasks are the background disposals of children whose conversation
    ended: a flush of the parent waits for them too.
    """

    def __init__(self) -> None:
        self._members: dict[str, _M] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def view(self) -> Mapping[str, _M]:
        """The members, read-only and live."""
        return MappingProxyType(self._members)

    def add(self, key: str, member: _M) -> None:
        """Register the manager of a new child session."""
        self._members[key] = member

    def remove(self, key: str) -> None:
        """Forget a child (it was disposed)."""
        self._members.pop(key, None)

    def find(self, conversation: Conversation) -> _M | None:
        """Return the manager of a live child conversation, or ``None``."""
        for member in self._members.values():
            if member.conversation is conversation:
                return member
        return None

    def track(self, task: asyncio.Task[None]) -> None:
        """Keep a child's disposal task until it is done (a flush waits for it)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def busy(self, saver: SessionSaver) -> bool:
        """Whether ``saver`` (the owner's), a task or any descendant still has work."""
        if saver.busy() or any(not task.done() for task in self._tasks):
            return True
        return any(m._family.busy(m._saver) for m in self._members.values())

    async def flush(self, saver: SessionSaver) -> None:
        """Wait until ``saver``, the tasks and every descendant are idle."""
        import asyncio

        while True:
            saver.resume()
            pending = {task for task in self._tasks if not task.done()}
            worker = saver.worker
            if worker is not None and not worker.done():
                pending.add(worker)
            if pending:
                await asyncio.wait(pending)
                continue
            busy = [m for m in self._members.values() if m._family.busy(m._saver)]
            if not busy:
                return
            for member in busy:
                await member._family.flush(member._saver)

    async def close_all(self) -> None:
        """Dispose every child manager."""
        for member in tuple(self._members.values()):
            await member.aclose()
