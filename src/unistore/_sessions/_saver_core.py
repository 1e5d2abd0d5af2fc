"""SaverCore: what a session saver knows, and how it writes only what changed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from unistore._sessions._conversation import Conversation
from unistore._sessions._events import (
    LifecycleErrorEvent,
    MessageCompleteEvent,
    MessagesChangedEvent,
    SaveEvent,
)
from unistore._sessions._hub import EventHub
from unistore._sessions._ids import new_session_id
from unistore._sessions._slug import first_user_label
from unistore._sessions._stored import decode_message
from unistore._sessions._writes import MessagesWrite, not_applied
from unistore.errors import SessionExistsError
from unistore.protocols import SessionDocuments
from unistore.telemetry import _state as _telemetry

if TYPE_CHECKING:
    import asyncio

__all__ = ["Relay", "SaverCore"]

#: Delivers a conversation event: ``relay(handler, *args)`` calls the handler
#: now or hands it to the thread that runs the saver's event loop.
Relay = Callable[..., None]

logger = logging.getLogger("unistore.sessions")


@dataclass(slots=True)
class _Creation:
    """A session creation: its id and what it stores, kept to be sent again the same."""

    session_id: str
    texts: list[str]
    label: str | None
    metadata: Mapping[str, Any] | None
    #: Where the label search stood before it (restored if it proves not applied).
    slug_from: int
    #: It was sent before and its reply was lost: a taken id means it was applied.
    sent_before: bool = False


class SaverCore:
    """The persistence engine a :class:`SessionManager` holds: state and saving.

    It remembers the JSON text of every message it knows to be stored and the
    first position that may have changed since, so a save sends only the new
    or changed tail, in O(changes) whatever the conversation's length. All
    writes of one saver are serialised by :attr:`lock`; methods ending in
    ``_locked`` expect the caller to hold it. Background saves run in one
    worker task that coalesces bursts of changes.

    It reads the conversation through its public API only
    (:attr:`Conversation.json_messages`, :meth:`Conversation.restore`).

    Every write carries an idempotency token. A write whose outcome is
    unknown (its reply was lost) stays *in doubt* and is sent again, with the
    same token, before the next one: it is applied exactly once.

    Args:
        store: The session store.
        conversation: The conversation to keep saved.
        events: Where ``save`` and ``lifecycle_error`` are emitted (the manager's).
        auto_save: Save in the background after every change.
        auto_slug: Label the session from its first user message, once.
        scope: The scope every session of this saver lives in.
        ttl: The retention of the sessions it creates (seconds), or ``None``.
        relay: How conversation events reach the saver; ``None`` calls its
            handlers directly (the conversation is changed on the saver's loop).
    """

    def __init__(
        self,
        store: SessionDocuments,
        conversation: Conversation,
        events: EventHub,
        *,
        auto_save: bool,
        auto_slug: bool,
        scope: str | None = None,
        ttl: float | None = None,
        relay: Relay | None = None,
    ) -> None:
        self.store = store
        self.scope = scope
        self.ttl = ttl
        self.conversation = conversation
        self.auto_save = bool(auto_save)
        self.auto_slug = bool(auto_slug)
        self._events = events
        # Imported here, not at module level: asyncio is slow to import and
        # `import unistore` must stay cheap for code that never saves a session.
        import asyncio

        #: Serialises every write of this saver: saves never overlap.
        self.lock = asyncio.Lock()
        self.session_id: str | None = None
        # The JSON text of each stored message, as far as this saver knows.
        self._persisted: list[str] = []
        # Positions before this one are unchanged since they were persisted.
        self._dirty_from = 0
        self._labelled = False
        self._slug_from = 0
        self._parent: SaverCore | None = None
        self._fork_pending = False
        self._wanted = False
        self._worker: asyncio.Task[None] | None = None
        self._suppress = False
        self._stopped = False
        # The last write whose reply was lost: sent again before any other.
        self._in_doubt: MessagesWrite | None = None
        # A creation whose reply was lost: sent again, the same, before any other.
        self._creating: _Creation | None = None
        # A message was completed while no session was active: the next
        # automatic save starts one (opening, listing or closing alone never do).
        self._message_waiting = False
        on_complete: Callable[[MessageCompleteEvent], None] = self._on_complete
        on_changed: Callable[[MessagesChangedEvent], None] = self._on_changed
        if relay is not None:
            on_complete = partial(relay, on_complete)
            on_changed = partial(relay, on_changed)
        self._unsubscribe = [
            conversation.on("message_complete", on_complete),
            conversation.on("messages_changed", on_changed),
        ]

    # -- state ----------------------------------------------------------------

    @property
    def worker(self) -> asyncio.Task[None] | None:
        """The background save task, if one was started."""
        return self._worker

    def dirty(self) -> bool:
        """Whether the conversation may differ from what was saved."""
        return self._dirty_from < max(len(self.conversation), len(self._persisted))

    def unsaved(self) -> int:
        """How many messages may still be waiting to be saved."""
        size = len(self.conversation)
        return size - min(self._dirty_from, size)

    def busy(self) -> bool:
        """Whether a background save is wanted or running."""
        return self._wanted or (self._worker is not None and not self._worker.done())

    def stop(self) -> None:
        """Stop following the conversation (the manager is being disposed)."""
        self._stopped = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    def adopt_fork(self, parent: SaverCore, session_id: str, *, slug_from: int) -> None:
        """Make this the saver of a child session: a fork of ``parent``'s, made at once.

        The fork is requested now (in the background), not at the child's
        first message, so it shares exactly what the parent had then.
        """
        self._parent = parent
        self.session_id = session_id
        self._fork_pending = True
        self._slug_from = slug_from
        self.request()

    # -- conversation events --------------------------------------------------

    def _on_complete(self, event: MessageCompleteEvent) -> None:
        if self.session_id is None and not self._suppress:
            self._message_waiting = True
        self._mark(event.position)

    def _on_changed(self, event: MessagesChangedEvent) -> None:
        self._mark(event.start)

    def _mark(self, start: int) -> None:
        if self._suppress:
            return
        self._dirty_from = min(self._dirty_from, start)
        self._slug_from = min(self._slug_from, start)
        if self.auto_save and not self._stopped:
            self.request()

    # -- the background worker ------------------------------------------------

    def request(self) -> None:
        """Ask the background worker for a save (coalesced with pending ones)."""
        self._wanted = True
        if self._worker is not None and not self._worker.done():
            return
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # Changed outside an event loop: the next save or flush catches up.
            return
        self._worker = loop.create_task(self._work())

    def resume(self) -> None:
        """Start the worker again if a save is wanted but nothing runs (a flush)."""
        if self._wanted and (self._worker is None or self._worker.done()):
            self.request()

    async def _work(self) -> None:
        while self._wanted:
            self._wanted = False
            async with self.lock:
                if self._fork_pending:
                    try:
                        await self._create_child_session_locked()
                    except Exception as exc:
                        self.report(exc, "child_session")
                        continue
                if self.auto_save and self.dirty():
                    try:
                        await self.save_locked(None, create=False)
                    except Exception as exc:
                        self.report(exc, "auto_save")

    async def settle(self) -> None:
        """Wait until the background worker is idle."""
        import asyncio

        while self._worker is not None and not self._worker.done():
            await asyncio.wait([self._worker])

    def report(self, error: Exception, operation: str) -> None:
        """Emit ``lifecycle_error`` here and on every ancestor (it bubbles up)."""
        context = {"session_id": self.session_id, "unsaved": self.unsaved()}
        event = LifecycleErrorEvent(error, operation, context)
        hubs = []
        node: SaverCore | None = self
        while node is not None:
            hubs.append(node._events)
            node = node._parent
        if not any(hub.has_subscribers("lifecycle_error") for hub in hubs):
            # Nobody listens: the log is the only place the failure can go.
            logger.error(
                "%s of session %s failed (%d messages unsaved)",
                operation,
                self.session_id,
                context["unsaved"],
                exc_info=error,
            )
        for hub in hubs:
            hub.emit("lifecycle_error", event)

    # -- installing a session -------------------------------------------------

    def _install(
        self,
        session_id: str | None,
        persisted: list[str],
        messages: Sequence[Mapping[str, Any]],
        texts: list[str],
        *,
        labelled: bool,
        slug_from: int,
    ) -> None:
        self._suppress = True
        try:
            self.conversation.restore(messages, texts)
        finally:
            self._suppress = False
        self.session_id = session_id
        self._persisted = persisted
        self._dirty_from = len(persisted)
        self._labelled = labelled
        self._slug_from = slug_from
        self._fork_pending = False
        self._in_doubt = None
        self._message_waiting = False

    # -- child sessions -------------------------------------------------------

    async def ensure_forked_locked(self) -> None:
        """Create the child session now if its fork is still pending."""
        if self._fork_pending:
            await self._create_child_session_locked()

    async def _create_child_session_locked(self) -> None:
        parent = self._parent
        session_id = self.session_id
        assert parent is not None
        assert session_id is not None
        await parent.settle()
        async with parent.lock:
            await parent.ensure_forked_locked()
            texts = self.conversation.json_messages
            if parent.session_id is None:
                await self.store.create_session(session_id, scope=self.scope, ttl=self.ttl)
                self._persisted = []
            else:
                shared = parent._persisted
                limit = min(len(shared), self.conversation.inherited, len(texts))
                at = 0
                while at < limit and shared[at] == texts[at]:
                    at += 1
                prefix = shared[:at]
                # Positions before `at` equal what the fork holds right now;
                # a change during the await lowers `_dirty_from` again.
                before = self._dirty_from
                self._dirty_from = max(before, at)
                try:
                    await self.store.fork_session(
                        parent.session_id, session_id, at=at, scope=self.scope, ttl=self.ttl
                    )
                except BaseException:
                    self._dirty_from = min(self._dirty_from, before)
                    raise
                self._persisted = prefix
        self._fork_pending = False

    # -- saving ---------------------------------------------------------------

    def _next_label(self) -> str | None:
        if not self.auto_slug or self._labelled:
            return None
        label, self._slug_from = first_user_label(self.conversation.messages, self._slug_from)
        return label

    async def _create_locked(self, metadata: Mapping[str, Any] | None) -> bool:
        """Create the session with every message so far, its label and ``metadata``: one write.

        A creation whose reply was lost is sent again as it was: its id is
        random, so finding it taken means the lost one was applied, messages
        and all. What changed since is written by the save that follows.

        Returns:
            Whether ``metadata`` was written with it (not so for a creation
            sent again, which carries the metadata of its first attempt).
        """
        creation = self._creating
        dirty_from = self._dirty_from
        if creation is None:
            slug_from = self._slug_from
            label = self._next_label()
            texts = list(self.conversation.json_messages)
            creation = _Creation(new_session_id(), texts, label, metadata, slug_from)
            # Positions before it are what the creation stores; a change
            # during the await lowers `_dirty_from` again. (A creation sent
            # again keeps `_dirty_from`: the save compares from there.)
            self._dirty_from = len(texts)
        self._creating = creation
        fresh = not creation.sent_before
        written = list(self.conversation.messages[: len(creation.texts)]) if fresh else []
        try:
            await self.store.create_session(
                creation.session_id,
                scope=self.scope,
                label=creation.label,
                metadata=creation.metadata,
                ttl=self.ttl,
                messages=creation.texts,
            )
        except SessionExistsError:
            if not creation.sent_before:
                self._forget_creation(creation, dirty_from)
                raise
        except BaseException as exc:
            if not_applied(exc):
                self._forget_creation(creation, dirty_from)
            else:
                self._dirty_from = min(self._dirty_from, dirty_from)
                creation.sent_before = True
            raise
        self._creating = None
        self.session_id = creation.session_id
        self._persisted = list(creation.texts)
        self._labelled = creation.label is not None
        sid, texts = creation.session_id, creation.texts
        if not fresh:
            written = [decode_message(sid, i, text) for i, text in enumerate(texts)]
        self._events.emit("save", SaveEvent(sid, written, 0, len(texts)))
        return fresh

    def _forget_creation(self, creation: _Creation, dirty_from: int) -> None:
        """A creation proved not applied: the next save builds a new one."""
        self._creating = None
        self._slug_from = creation.slug_from
        self._dirty_from = min(self._dirty_from, dirty_from)

    async def save_locked(self, metadata: Mapping[str, Any] | None, *, create: bool = True) -> bool:
        """Write what changed since the last save; return whether anything was written.

        Timed for the ``unistore_session_saved`` instruments when one is registered.

        Raises:
            SessionConflictError: Another writer changed the session.
        """
        if not _telemetry.session_saved:
            return await self._save_locked(metadata, create)
        from unistore.telemetry._events import timed_save

        save = self._save_locked(metadata, create)
        return await timed_save(save, self.store, self.scope, self.unsaved())

    async def _save_locked(self, metadata: Mapping[str, Any] | None, create: bool) -> bool:
        """Write what changed since the last save (see :meth:`save_locked`).

        With no session active, one is started if ``create`` (an explicit
        save) or if a message was completed meanwhile; otherwise (an automatic
        or final save of messages the conversation was given) nothing is written.

        Raises:
            SessionConflictError: Another writer changed the session.
        """
        await self.ensure_forked_locked()
        resolved = await self._resolve_locked()
        if self.session_id is None:
            if not (create or self._message_waiting):
                return resolved
            if await self._create_locked(metadata):
                metadata = None  # written with the record
            self._message_waiting = False
            resolved = True
        session_id = self.session_id
        assert session_id is not None
        texts_now = self.conversation.json_messages
        size = len(texts_now)
        persisted = self._persisted
        stored = len(persisted)
        start = min(self._dirty_from, size, stored)
        common = min(size, stored)
        while start < common and persisted[start] == texts_now[start]:
            start += 1
        texts = list(texts_now[start:size])
        label = self._next_label()
        if start == stored and not texts and label is None and metadata is None:
            self._dirty_from = size
            return resolved
        written = self.conversation.messages[start:size]
        self._dirty_from = size
        write = MessagesWrite.new(session_id, start, stored, texts, label, metadata)
        try:
            await self._send_locked(write)
        except BaseException:
            self._dirty_from = min(self._dirty_from, start)
            raise
        self._events.emit("save", SaveEvent(session_id, written, start, size))
        return True

    async def _send_locked(self, write: MessagesWrite) -> None:
        """Send ``write`` and record it as stored; keep it in doubt if the reply is lost."""
        self._in_doubt = write
        try:
            await write.send(self.store, self.scope)
        except BaseException as exc:
            if not_applied(exc):
                self._in_doubt = None
            raise
        self._in_doubt = None
        persisted = self._persisted
        del persisted[write.start :]
        persisted.extend(write.texts)
        if write.label is not None:
            self._labelled = True

    async def _resolve_locked(self, *, dropping: bool = False) -> bool:
        """Send the write in doubt again (same token): it is applied once, or conflicts.

        ``dropping``: the conversation is about to be replaced (load, start),
        so a write that proves not applied is dropped with it, silently.

        Returns:
            Whether a write was sent and is now stored.
        """
        write = self._in_doubt
        if write is None or write.session_id != self.session_id:
            self._in_doubt = None
            return False
        try:
            await self._send_locked(write)
        except Exception as exc:
            if dropping and not_applied(exc):
                return False
            raise
        start, sid = write.start, write.session_id
        messages = [decode_message(sid, start + i, t) for i, t in enumerate(write.texts)]
        length = start + len(write.texts)
        self._events.emit("save", SaveEvent(sid, messages, start, length))
        return True
