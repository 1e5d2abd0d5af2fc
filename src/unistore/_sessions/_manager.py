"""SessionManager: keeps a Conversation durable in a store's session documents."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import partial
from types import TracebackType
from typing import Any, Literal, Self, overload

from unistore._sessions._conversation import ChildSpawnedEvent, Conversation
from unistore._sessions._disposal import Disposal
from unistore._sessions._events import LifecycleErrorEvent, LoadEvent, SaveEvent
from unistore._sessions._family import ChildSessions
from unistore._sessions._hub import EventHub
from unistore._sessions._ids import new_session_id
from unistore._sessions._opening import (
    check_count,
    check_label,
    check_scope,
    check_session_id,
    check_session_ttl,
    open_store,
)
from unistore._sessions._saver import SessionSaver
from unistore._url import StoreURL
from unistore.errors import SessionConflictError, StoreClosedError, ValidationError
from unistore.protocols import SessionDocuments, SessionPage, Store

__all__ = ["SessionManager"]

_EVENTS = ("load", "save", "lifecycle_error", "dispose")


class SessionManager:
    """Keeps a :class:`Conversation` saved in a store, as sessions.

    A session is a stored record (id, label, lineage, metadata, times) plus
    the ordered messages. The manager has at most one *active* session: the
    one :meth:`start_new` created or :meth:`load` loaded (or the one started
    by the first message completed while none was active, or by an explicit
    :meth:`save`; opening, listing and closing never start one). Saving
    writes only what changed since the last save: new messages are appended;
    after an edit, the messages are rewritten from the first changed one.
    Every write states the length it expects, so two writers of one session
    never interleave: the second gets :class:`~unistore.SessionConflictError`.
    Every write also carries an idempotency token: a save whose reply was
    lost is sent again, with the same token, before the next write, so a
    retried or rebased save never stores a message twice.

    Every session of a manager lives in its ``scope`` (an app, a user, a
    tenant): the manager lists, loads, forks and deletes only there, and a
    session of another scope is not found.

    Use it as ``async with SessionManager(url, conversation) as manager:``;
    leaving the block (or :meth:`aclose`) waits for pending saves, closes the
    child sessions, emits ``dispose`` and closes the store if the manager
    opened it from a URL. Ending the conversation disposes the manager too.

    Events (subscribe with :meth:`on`; callbacks run synchronously):

    * ``load`` (:class:`LoadEvent`): a session was loaded;
    * ``save`` (:class:`SaveEvent`): a save wrote to the store;
    * ``lifecycle_error`` (:class:`LifecycleErrorEvent`): a background
      operation failed (auto-save, child session, final save); failures of
      child sessions are emitted on their parent's manager too;
    * ``dispose`` (no payload): the manager was disposed.

    Args:
        store_or_url: A store with session documents, or a URL to open one
            (the manager then owns it and closes it when disposed).
        conversation: The conversation to keep saved. The messages it holds
            now (a system prompt, say) are its preamble: the first messages
            of every session :meth:`start_new` starts.
        auto_save: Save after every completed message or edit, in the
            background. Failures go to ``lifecycle_error``; nothing is raised
            into the code that changed the conversation.
        auto_slug: Label a session from its first user message, once, unless
            it already has a label.
        scope: The scope the manager's sessions live in; ``None`` is the
            default scope.
        session_ttl: Retention of the sessions the manager creates (seconds
            or ``timedelta``): each expires that long after its last write.
            ``None``: they never expire.

    Raises:
        NotSupportedError: The store has no session documents.
    """

    def __init__(
        self,
        store_or_url: str | StoreURL | Store | SessionDocuments,
        conversation: Conversation,
        *,
        auto_save: bool = True,
        auto_slug: bool = True,
        scope: str | None = None,
        session_ttl: float | timedelta | None = None,
    ) -> None:
        if not isinstance(conversation, Conversation):
            raise ValidationError("conversation must be a unistore Conversation")
        scope = check_scope(scope)
        ttl = check_session_ttl(session_ttl)
        store, owns = open_store(store_or_url)
        self._store = store
        self._conversation = conversation
        self._events = EventHub(_EVENTS, "SessionManager")
        # The persistence engine: what is stored, what changed, the save worker.
        self._saver = SessionSaver(
            store,
            conversation,
            self._events,
            auto_save=auto_save,
            auto_slug=auto_slug,
            scope=scope,
            ttl=ttl,
            relay=self._deliver,
        )
        self._family: ChildSessions[SessionManager] = ChildSessions()
        # For the manager of a child session: its parent's manager.
        self._owner: SessionManager | None = None
        unsubscribe = [
            conversation.on("child_spawned", partial(self._deliver, self._on_child)),
            conversation.on("ended", partial(self._deliver, self._on_ended)),
        ]
        self._disposal = Disposal(
            self._saver, self._family, self._events, unsubscribe, store, owns_store=owns
        )

    # -- state --------------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        """The active session's id, or ``None``."""
        return self._saver.session_id

    @property
    def scope(self) -> str | None:
        """The scope of the manager's sessions (``None``: the default scope)."""
        return self._saver.scope

    @property
    def conversation(self) -> Conversation:
        """The conversation this manager saves."""
        return self._conversation

    @property
    def store(self) -> SessionDocuments:
        """The store sessions live in."""
        return self._store

    @property
    def parent(self) -> SessionManager | None:
        """For a child session's manager, the manager of the parent session."""
        return self._owner

    @property
    def children(self) -> Mapping[str, SessionManager]:
        """Managers of the live child conversations, by child session id."""
        return self._family.view()

    def child_for(self, conversation: Conversation) -> SessionManager | None:
        """Return the manager of a live child conversation, or ``None``."""
        return self._family.find(conversation)

    @property
    def closed(self) -> bool:
        """Whether the manager was disposed."""
        return self._disposal.closed

    @property
    def has_unsaved_changes(self) -> bool:
        """Whether the conversation may differ from what was saved."""
        return self._saver.dirty()

    def __repr__(self) -> str:
        state = " closed" if self._disposal.closed else ""
        return f"<SessionManager session={self._saver.session_id!r}{state}>"

    def _check_open(self) -> None:
        if self._disposal.started:
            raise StoreClosedError("the session manager is closed")

    # -- conversation events --------------------------------------------------

    def _deliver(self, handler: Callable[..., None], *args: Any) -> None:
        """Run the handler of a conversation event.

        The conversation is changed on the manager's event loop, so handlers
        run at once; the blocking facade, whose manager lives on another
        thread, overrides this to hand them to that thread's loop.
        """
        handler(*args)

    # -- children and ending ------------------------------------------------

    def _on_child(self, event: ChildSpawnedEvent) -> None:
        if self._disposal.started:
            return
        child_conversation = event.child
        saver = self._saver
        # type(self): a child is served the way its parent is (see _deliver).
        child = type(self)(
            self._store,
            child_conversation,
            auto_save=saver.auto_save,
            auto_slug=saver.auto_slug and child_conversation.kind != "checkpoint",
            scope=saver.scope,
            session_ttl=saver.ttl,
        )
        child._owner = self
        key = new_session_id()
        self._family.add(key, child)
        child._disposal.detach = partial(self._family.remove, key)
        child._saver.adopt_fork(saver, key, slug_from=child_conversation.inherited)

    def _on_ended(self) -> None:
        task = self._disposal.start_soon()
        if task is not None and self._owner is not None:
            self._owner._family.track(task)

    # -- public API ---------------------------------------------------------

    async def start_new(self, label: str | None = None, *, session_id: str | None = None) -> str:
        """Create a session and make it active.

        Its first messages are the conversation's messages if no session was
        active; otherwise the conversation is reset to its *preamble* (the
        messages it held when the manager was created, such as a system
        prompt), and the new session begins with that. Pending auto-saves of
        the previous session are waited for first; with ``auto_save=False``,
        changes not saved are dropped with the previous messages.

        Args:
            label: An explicit label (auto-slug then leaves it alone).
            session_id: The id to give the session (``"user_123"``);
                ``None`` generates one.

        Returns:
            The new session id (generated ones have 26 characters, sortable
            by creation time).

        Raises:
            SessionExistsError: ``session_id`` is taken in the manager's scope.
        """
        self._check_open()
        check_label(label)
        if session_id is not None:
            check_session_id(session_id)
        saver = self._saver
        await saver.settle()
        async with saver.lock:
            return await saver.start_locked(label, session_id)

    async def load(self, session_id: str | None = None, *, include_forks: bool = False) -> str:
        """Load a session into the conversation and make it active.

        The conversation's messages are replaced (this does not trigger an
        auto-save). Pending auto-saves of the previous session are waited for
        first; what still could not be saved (already reported through
        ``lifecycle_error``) is dropped with the old messages.

        Args:
            session_id: The session to load; ``None`` loads the scope's most
                recently updated *root* session (one that is not a fork), or
                starts a new session if there is none.
            include_forks: With ``session_id=None``, consider forks too: the
                most recently updated session of any kind is loaded.

        Returns:
            The id of the loaded (or started) session.

        Raises:
            SessionNotFoundError: No session has this id.
        """
        self._check_open()
        if session_id is not None:
            check_session_id(session_id)
        saver = self._saver
        await saver.settle()
        async with saver.lock:
            if session_id is None:
                session_id = await self._latest(include_forks)
                if session_id is None:
                    return await saver.start_locked(None)
            messages = await saver.load_locked(session_id)
        self._events.emit("load", LoadEvent(session_id, tuple(messages)))
        return session_id

    async def _latest(self, include_forks: bool) -> str | None:
        """The id of the scope's most recently updated root session (or any session)."""
        cursor: str | None = None
        while True:
            page = await self._store.list_sessions(
                scope=self._saver.scope, limit=1 if include_forks else 50, cursor=cursor
            )
            for record in page.items:
                if include_forks or record.parent_id is None:
                    return record.id
            if page.next_cursor is None or include_forks:
                return None
            cursor = page.next_cursor

    async def save(
        self,
        metadata: Mapping[str, Any] | None = None,
        *,
        on_conflict: Literal["raise", "rebase"] = "raise",
    ) -> bool:
        """Persist what changed since the last save, and optionally metadata.

        New messages are appended; if earlier messages were edited or
        removed, the session is rewritten from the first changed message
        only. Starts a session first if none is active.

        Args:
            metadata: JSON-compatible metadata replacing the stored one
                (``None`` keeps it).
            on_conflict: What to do when another writer changed the session
                since this manager last read or wrote it: ``"raise"``
                :class:`~unistore.SessionConflictError` (nothing written), or
                ``"rebase"``: reload the stored messages, put the messages
                this manager had not saved yet after them, and save again
                (local edits of already-saved messages are dropped).

        Returns:
            Whether anything was written.

        Raises:
            SessionConflictError: Another writer changed the session (with
                ``on_conflict="raise"``, or if it changed again while rebasing).
        """
        self._check_open()
        if on_conflict not in ("raise", "rebase"):
            raise ValidationError(f"on_conflict must be 'raise' or 'rebase', not {on_conflict!r}")
        if metadata is not None and not isinstance(metadata, Mapping):
            raise ValidationError("metadata must be a mapping")
        saver = self._saver
        async with saver.lock:
            try:
                return await saver.save_locked(metadata)
            except SessionConflictError:
                if on_conflict == "raise":
                    raise
                await saver.rebase_locked()
                return await saver.save_locked(metadata)

    async def fork(self, parent_id: str, at: int | None = None, label: str | None = None) -> str:
        """Create a session sharing the first ``at`` messages of another.

        Nothing is copied, whatever the parent's length. The active session
        does not change: :meth:`load` the fork to continue in it.

        Args:
            parent_id: The session to fork (pending auto-saves are waited for
                when it is the active one).
            at: How many of the parent's messages to share; ``None`` for all.
            label: A label for the fork.

        Returns:
            The new session's id.

        Raises:
            SessionNotFoundError: No session has ``parent_id``.
            ValidationError: ``at`` is negative or beyond the parent's length.
        """
        self._check_open()
        check_session_id(parent_id)
        check_label(label)
        saver = self._saver
        if parent_id == saver.session_id:
            await saver.settle()
            async with saver.lock:
                # Checked under the lock: a concurrent fork may have made it meanwhile.
                await saver.ensure_forked_locked()
        session_id = new_session_id()
        await self._store.fork_session(
            parent_id, session_id, at=at, scope=saver.scope, label=label, ttl=saver.ttl
        )
        return session_id

    async def pop(self, n: int = 1) -> list[dict[str, Any]]:
        """Remove the last ``n`` messages from the active session and the conversation.

        Unsaved changes are saved first; the removal is one atomic store
        operation that fails, changing nothing, if another writer changed the
        session meanwhile. A shorter conversation loses all its messages.

        Returns:
            The removed messages, in order.

        Raises:
            SessionConflictError: Another writer changed the session.
        """
        self._check_open()
        count = check_count(n, "n")
        saver = self._saver
        await saver.settle()
        async with saver.lock:
            return await saver.pop_locked(count)

    async def list(self, limit: int = 50, cursor: str | None = None) -> SessionPage:
        """Return the records of the manager's scope, most recently updated first (no messages).

        Args:
            limit: The page size.
            cursor: ``next_cursor`` of the previous page.
        """
        self._check_open()
        return await self._store.list_sessions(scope=self._saver.scope, limit=limit, cursor=cursor)

    async def delete(self, session_id: str) -> bool:
        """Delete a session; sessions forked from it keep loading the same.

        Deleting the active one clears the conversation and leaves no session
        active (the next save starts a new one).

        Returns:
            Whether the session existed.
        """
        self._check_open()
        check_session_id(session_id)
        saver = self._saver
        if session_id != saver.session_id:
            return await self._store.delete_session(session_id, scope=saver.scope)
        async with saver.lock:
            return await saver.delete_locked(session_id)

    async def rename(self, session_id: str, label: str) -> None:
        """Set a session's label; auto-slug never replaces it afterwards.

        Raises:
            SessionNotFoundError: No session has this id.
        """
        self._check_open()
        check_session_id(session_id)
        if not isinstance(label, str):
            raise ValidationError("a label must be a str")
        saver = self._saver
        if session_id != saver.session_id:
            await self._store.update_session(session_id, scope=saver.scope, label=label)
            return
        async with saver.lock:
            await saver.rename_locked(label)

    async def flush(self) -> None:
        """Wait until every pending auto-save (children's included) is done.

        Failures were reported through ``lifecycle_error``; this does not
        raise them. :attr:`has_unsaved_changes` tells whether all succeeded.
        """
        await self._family.flush(self._saver)

    # -- events and disposal --------------------------------------------------

    @overload
    def on(
        self, event: Literal["load"], callback: Callable[[LoadEvent], object]
    ) -> Callable[[], None]: ...

    @overload
    def on(
        self, event: Literal["save"], callback: Callable[[SaveEvent], object]
    ) -> Callable[[], None]: ...

    @overload
    def on(
        self, event: Literal["lifecycle_error"], callback: Callable[[LifecycleErrorEvent], object]
    ) -> Callable[[], None]: ...

    @overload
    def on(
        self, event: Literal["dispose"], callback: Callable[[], object]
    ) -> Callable[[], None]: ...

    def on(self, event: str, callback: Callable[..., object]) -> Callable[[], None]:
        """Call ``callback`` on ``event``; return a function that unsubscribes.

        A callback that raises is logged (logger ``unistore.sessions``) and
        ignored.

        Raises:
            ValidationError: Unknown event name.
        """
        return self._events.subscribe(event, callback)

    async def aclose(self) -> None:
        """Dispose: finish pending saves, close child sessions, emit ``dispose``.

        Unsaved changes get one last save attempt (with auto-save on); a
        failure goes to ``lifecycle_error``. A store opened from a URL is
        closed. Calling it again does nothing.
        """
        await self._disposal.wait()

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
