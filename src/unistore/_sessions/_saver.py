"""SessionSaver: keeps one conversation saved in one session, writing only changes."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from unistore._sessions._conversation import Conversation
from unistore._sessions._events import (
    EventHub,
    LifecycleErrorEvent,
    MessageCompleteEvent,
    MessagesChangedEvent,
    SaveEvent,
)
from unistore._sessions._ids import new_session_id
from unistore._sessions._slug import first_user_label
from unistore.errors import CorruptionError, SessionNotFoundError
from unistore.protocols import SessionDocuments

if TYPE_CHECKING:
    import asyncio

__all__ = ["SessionSaver", "decode_message", "missing_session"]

logger = logging.getLogger("unistore.sessions")

_EVENTS = ("load", "save", "lifecycle_error", "dispose")


def decode_message(session_id: str, index: int, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CorruptionError(
            f"message {index} of session {session_id[:80]!r} is not JSON"
        ) from exc
    if not isinstance(value, dict):
        raise CorruptionError(f"message {index} of session {session_id[:80]!r} is not an object")
    return value


def missing_session(session_id: str) -> SessionNotFoundError:
    return SessionNotFoundError(f"no session {session_id[:80]!r}", session_id=session_id)


class SessionSaver:
    """The persistence engine under :class:`SessionManager`.

    It remembers the JSON text of every message it knows to be stored and the
    first position that may have changed since, so a save sends only the new
    or changed tail, in O(changes) whatever the conversation's length. All
    writes of one saver are serialised by one lock; background saves run in
    one worker task that coalesces bursts of changes.
    """

    def __init__(
        self,
        store: SessionDocuments,
        conversation: Conversation,
        *,
        auto_save: bool,
        auto_slug: bool,
    ) -> None:
        self._store = store
        self._conversation = conversation
        self._auto_save = bool(auto_save)
        self._auto_slug = bool(auto_slug)
        self._events = EventHub(_EVENTS, "SessionManager")
        # Imported here, not at module level: asyncio is slow to import and
        # `import unistore` must stay cheap for code that never saves a session.
        import asyncio

        # One lock serialises every write of this saver: saves never overlap.
        self._lock = asyncio.Lock()
        self._session_id: str | None = None
        # The JSON text of each stored message, as far as this saver knows.
        self._persisted: list[str] = []
        # Positions before this one are unchanged since they were persisted.
        self._dirty_from = 0
        self._labelled = False
        self._slug_from = 0
        self._parent: SessionSaver | None = None
        self._fork_pending = False
        self._wanted = False
        self._worker: asyncio.Task[None] | None = None
        self._suppress = False
        self._closed = False
        self._unsubscribe = [
            conversation.on("message_complete", self._on_complete),
            conversation.on("messages_changed", self._on_changed),
        ]

    def _dirty(self) -> bool:
        return self._dirty_from < max(len(self._conversation), len(self._persisted))

    def _unsaved(self) -> int:
        size = len(self._conversation)
        return size - min(self._dirty_from, size)

    # -- conversation events ------------------------------------------------

    def _on_complete(self, event: MessageCompleteEvent) -> None:
        self._mark(event.position)

    def _on_changed(self, event: MessagesChangedEvent) -> None:
        self._mark(event.start)

    def _mark(self, start: int) -> None:
        if self._suppress:
            return
        self._dirty_from = min(self._dirty_from, start)
        self._slug_from = min(self._slug_from, start)
        if self._auto_save and not self._closed:
            self._request()

    def _request(self) -> None:
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

    async def _work(self) -> None:
        while self._wanted:
            self._wanted = False
            async with self._lock:
                if self._fork_pending:
                    try:
                        await self._create_child_session_locked()
                    except Exception as exc:
                        self._report(exc, "child_session")
                        continue
                if self._auto_save and self._dirty():
                    try:
                        await self._save_locked(None)
                    except Exception as exc:
                        self._report(exc, "auto_save")

    def _report(self, error: Exception, operation: str) -> None:
        """Emit ``lifecycle_error`` here and on every ancestor (it bubbles up)."""
        context = {"session_id": self._session_id, "unsaved": self._unsaved()}
        event = LifecycleErrorEvent(error, operation, context)
        hubs = []
        node: SessionSaver | None = self
        while node is not None:
            hubs.append(node._events)
            node = node._parent
        if not any(hub.has_subscribers("lifecycle_error") for hub in hubs):
            # Nobody listens: the log is the only place the failure can go.
            logger.error(
                "%s of session %s failed (%d messages unsaved)",
                operation,
                self._session_id,
                context["unsaved"],
                exc_info=error,
            )
        for hub in hubs:
            hub.emit("lifecycle_error", event)

    # -- saving -------------------------------------------------------------

    async def _settle(self) -> None:
        """Wait until this saver's background worker is idle."""
        import asyncio

        while self._worker is not None and not self._worker.done():
            await asyncio.wait([self._worker])

    def _install(
        self,
        session_id: str | None,
        persisted: list[str],
        messages: list[dict[str, Any]],
        encoded: list[str],
        *,
        labelled: bool,
        slug_from: int,
    ) -> None:
        self._suppress = True
        try:
            self._conversation._reset(messages, encoded)
        finally:
            self._suppress = False
        self._session_id = session_id
        self._persisted = persisted
        self._dirty_from = len(persisted)
        self._labelled = labelled
        self._slug_from = slug_from
        self._fork_pending = False

    async def _create_locked(self, label: str | None) -> str:
        session_id = new_session_id()
        await self._store.create_session(session_id, label=label)
        self._session_id = session_id
        self._persisted = []
        self._dirty_from = 0
        self._labelled = label is not None
        self._slug_from = 0
        return session_id

    async def _create_child_session_locked(self) -> None:
        parent = self._parent
        session_id = self._session_id
        assert parent is not None
        assert session_id is not None
        await parent._settle()
        async with parent._lock:
            if parent._fork_pending:
                await parent._create_child_session_locked()
            encoded = self._conversation._encoded
            if parent._session_id is None:
                await self._store.create_session(session_id)
                self._persisted = []
            else:
                shared = parent._persisted
                limit = min(len(shared), self._conversation.inherited, len(encoded))
                at = 0
                while at < limit and shared[at] == encoded[at]:
                    at += 1
                prefix = shared[:at]
                # Positions before `at` equal what the fork holds right now;
                # a change during the await lowers `_dirty_from` again.
                before = self._dirty_from
                self._dirty_from = max(before, at)
                try:
                    await self._store.fork_session(parent._session_id, session_id, at=at)
                except BaseException:
                    self._dirty_from = min(self._dirty_from, before)
                    raise
                self._persisted = prefix
        self._fork_pending = False

    def _next_label(self) -> str | None:
        if not self._auto_slug or self._labelled:
            return None
        label, self._slug_from = first_user_label(self._conversation.messages, self._slug_from)
        return label

    async def _save_locked(self, metadata: Mapping[str, Any] | None) -> bool:
        if self._fork_pending:
            await self._create_child_session_locked()
        if self._session_id is None:
            await self._create_locked(None)
        session_id = self._session_id
        assert session_id is not None
        encoded = self._conversation._encoded
        size = len(encoded)
        persisted = self._persisted
        stored = len(persisted)
        start = min(self._dirty_from, size, stored)
        common = min(size, stored)
        while start < common and persisted[start] == encoded[start]:
            start += 1
        texts = encoded[start:size]
        label = self._next_label()
        if start == stored and not texts and label is None and metadata is None:
            self._dirty_from = size
            return False
        written = tuple(self._conversation._messages[start:size])
        self._dirty_from = size
        try:
            if start == stored:
                await self._store.append_messages(
                    session_id, texts, expected_length=stored, label=label, metadata=metadata
                )
            else:
                await self._store.replace_messages(
                    session_id, start, texts, expected_length=stored, label=label, metadata=metadata
                )
        except BaseException:
            self._dirty_from = min(self._dirty_from, start)
            raise
        del persisted[start:]
        persisted.extend(texts)
        if label is not None:
            self._labelled = True
        self._events.emit("save", SaveEvent(session_id, written, start, size))
        return True

    async def _rebase_locked(self) -> None:
        session_id = self._session_id
        assert session_id is not None
        record = await self._store.get_session(session_id)
        if record is None:
            raise missing_session(session_id)
        stored = await self._store.read_messages(session_id)
        messages = [decode_message(session_id, i, text) for i, text in enumerate(stored)]
        conversation = self._conversation
        mine = len(self._persisted)
        self._install(
            session_id,
            list(stored),
            messages + conversation._messages[mine:],
            list(stored) + conversation._encoded[mine:],
            labelled=self._labelled or record.label is not None,
            slug_from=record.fork_point or 0,
        )

    async def _start_locked(self, label: str | None) -> str:
        session_id = new_session_id()
        await self._store.create_session(session_id, label=label)
        self._install(session_id, [], [], [], labelled=label is not None, slug_from=0)
        return session_id
