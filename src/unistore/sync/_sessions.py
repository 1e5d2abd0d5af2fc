"""The blocking session manager: the async one, living on its store's event loop."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

from unistore._sessions import Conversation
from unistore._sessions import SessionManager as AsyncSessionManager
from unistore._url import StoreURL
from unistore.protocols import SessionPage
from unistore.sync._loop import HandoffLoop
from unistore.sync._namespaced import open_sync_store
from unistore.sync._runner import Runner
from unistore.sync._store import Store

__all__ = ["SessionManager"]

T = TypeVar("T")


def _served_from(loop: HandoffLoop, runner: Runner) -> type[AsyncSessionManager]:
    """An async manager class whose conversation events reach the store's ``loop``."""

    class LoopSessionManager(AsyncSessionManager):
        def _deliver(self, handler: Callable[..., None], *args: Any) -> None:
            # The conversation is changed on the application's threads; the
            # saver's state belongs to the store's loop, so it is changed
            # there only, in the order the events happened.
            if loop.in_loop():
                handler(*args)
            elif not runner.closed:
                loop.call_soon(handler, *args)

    return LoopSessionManager


class SessionManager:
    """Blocking twin of :class:`unistore.SessionManager`: same arguments, methods and errors.

    The conversation is an ordinary :class:`unistore.Conversation`, changed
    from the application's thread; auto-saves run in the background on the
    store's loop, which runs on a helper thread once a manager uses it,
    exactly as in the async manager. Change one conversation from one thread
    at a time. Event callbacks registered with :meth:`on` run on that thread.

    Args:
        store_or_url: A store URL (opened here, closed by :meth:`close`) or a
            :class:`unistore.sync.Store` (borrowed).
        conversation: The conversation to keep saved; the messages it holds
            now are its preamble (see :meth:`unistore.SessionManager.start_new`).
        auto_save: Save after every completed message or edit, in the background.
        auto_slug: Label a session from its first user message, once.
        scope: The scope the manager's sessions live in (``None``: the default).
        session_ttl: Retention of the sessions it creates, or ``None``.

    Raises:
        NotSupportedError: The store has no session documents.
    """

    def __init__(
        self,
        store_or_url: str | StoreURL | Store,
        conversation: Conversation,
        *,
        auto_save: bool = True,
        auto_slug: bool = True,
        scope: str | None = None,
        session_ttl: float | timedelta | None = None,
    ) -> None:
        store, owns = open_sync_store(store_or_url, "unistore.sync.SessionManager")
        runner = store.runner
        # The auto-saver is a task that outlives every call: it needs a
        # thread of its own to run on.
        runner.loop.pin()
        served = _served_from(runner.loop, runner)

        async def make() -> AsyncSessionManager:
            return served(
                store.async_store,
                conversation,
                auto_save=auto_save,
                auto_slug=auto_slug,
                scope=scope,
                session_ttl=session_ttl,
            )

        try:
            self._manager = runner.run(make(), "unistore.SessionManager(...)")
        except BaseException:
            if owns:
                store.close()
            raise
        self._store = store
        self._owns = owns
        self._runner = runner

    # -- state ------------------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        """The active session's id, or ``None``."""
        return self._manager.session_id

    @property
    def scope(self) -> str | None:
        """The scope the manager's sessions live in."""
        return self._manager.scope

    @property
    def conversation(self) -> Conversation:
        """The conversation kept saved."""
        return self._manager.conversation

    @property
    def store(self) -> Store:
        """The blocking store underneath."""
        return self._store

    @property
    def closed(self) -> bool:
        """Whether the manager was closed."""
        return self._manager.closed

    @property
    def parent(self) -> SessionManager | None:
        """For the manager of a child session: its parent's manager."""
        parent = self._manager.parent
        return None if parent is None else self._view(parent)

    @property
    def children(self) -> Mapping[str, SessionManager]:
        """The managers of the live child sessions, by key."""
        return {key: self._view(child) for key, child in self._manager.children.items()}

    def child_for(self, conversation: Conversation) -> SessionManager | None:
        """Return the manager of a live child conversation, or ``None``."""
        child = self._manager.child_for(conversation)
        return None if child is None else self._view(child)

    def _view(self, manager: AsyncSessionManager) -> SessionManager:
        """A blocking handle on a manager this one's family made (it owns no store)."""
        view = object.__new__(SessionManager)
        view._manager = manager
        view._store = self._store
        view._owns = False
        view._runner = self._runner
        return view

    @property
    def has_unsaved_changes(self) -> bool:
        """Whether the conversation may differ from what was saved."""
        # Read on the store's thread, after the events already handed to it.
        return self._run(_value(lambda: self._manager.has_unsaved_changes), "has_unsaved_changes")

    def __repr__(self) -> str:
        return repr(self._manager).replace("<SessionManager", "<unistore.sync.SessionManager", 1)

    # -- operations -------------------------------------------------------------

    def start_new(self, label: str | None = None, *, session_id: str | None = None) -> str:
        """Blocking :meth:`unistore.SessionManager.start_new`."""
        return self._run(self._manager.start_new(label, session_id=session_id), "start_new")

    def load(self, session_id: str | None = None, *, include_forks: bool = False) -> str:
        """Blocking :meth:`unistore.SessionManager.load`."""
        call = self._manager.load(session_id, include_forks=include_forks)
        return self._run(call, "load")

    def save(
        self,
        metadata: Mapping[str, Any] | None = None,
        *,
        on_conflict: Literal["raise", "rebase"] = "raise",
    ) -> bool:
        """Blocking :meth:`unistore.SessionManager.save`."""
        return self._run(self._manager.save(metadata, on_conflict=on_conflict), "save")

    def fork(self, parent_id: str, at: int | None = None, label: str | None = None) -> str:
        """Blocking :meth:`unistore.SessionManager.fork`."""
        return self._run(self._manager.fork(parent_id, at, label), "fork")

    def pop(self, n: int = 1) -> list[dict[str, Any]]:
        """Blocking :meth:`unistore.SessionManager.pop`."""
        return self._run(self._manager.pop(n), "pop")

    def list(self, limit: int = 50, cursor: str | None = None) -> SessionPage:
        """Blocking :meth:`unistore.SessionManager.list`."""
        return self._run(self._manager.list(limit, cursor), "list")

    def delete(self, session_id: str) -> bool:
        """Blocking :meth:`unistore.SessionManager.delete`."""
        return self._run(self._manager.delete(session_id), "delete")

    def rename(self, session_id: str, label: str) -> None:
        """Blocking :meth:`unistore.SessionManager.rename`."""
        self._run(self._manager.rename(session_id, label), "rename")

    def flush(self) -> None:
        """Blocking :meth:`unistore.SessionManager.flush`: wait for pending auto-saves."""
        self._run(self._manager.flush(), "flush")

    def on(self, event: str, callback: Callable[..., object]) -> Callable[[], None]:
        """Subscribe to ``load``, ``save``, ``lifecycle_error`` or ``dispose``.

        Callbacks run on the store's thread. Returns a function that unsubscribes.

        Raises:
            ValidationError: Unknown event name.
        """
        return self._manager.on(event, callback)  # type: ignore[call-overload, no-any-return]

    # -- lifetime ---------------------------------------------------------------

    def close(self) -> None:
        """Blocking :meth:`unistore.SessionManager.aclose`; closes a store opened from a URL."""
        if not self._runner.closed:
            self._run(self._manager.aclose(), "aclose")
        if self._owns:
            self._store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, call: Coroutine[Any, Any, T], name: str) -> T:
        return self._runner.run(call, f"await manager.{name}(...)")


async def _value(read: Callable[[], T]) -> T:
    return read()
