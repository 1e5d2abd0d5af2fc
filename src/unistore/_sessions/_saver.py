"""SessionSaver: keeps one conversation saved in one session, writing only changes.

:class:`~unistore._sessions._saver_core.SaverCore` knows what is stored and
writes only what changed; this class adds what switches sessions or edits them
as a whole: start, load, delete, rename, pop and rebase.
"""

from __future__ import annotations

import json
from typing import Any

from unistore._sessions._conversation import Conversation
from unistore._sessions._hub import EventHub
from unistore._sessions._ids import new_session_id
from unistore._sessions._saver_core import Relay, SaverCore
from unistore._sessions._stored import decode_message, missing_session
from unistore.protocols import SessionDocuments

__all__ = ["SessionSaver"]


class SessionSaver(SaverCore):
    """The persistence engine a :class:`SessionManager` holds.

    Args:
        store: The session store.
        conversation: The conversation to keep saved; the messages it holds
            now are its *preamble* (a system prompt, say), which every session
            :meth:`start_locked` starts while another is active begins with.
        events: Where ``save`` and ``lifecycle_error`` are emitted (the manager's).
        auto_save: Save in the background after every change.
        auto_slug: Label the session from its first user message, once.
        scope: The scope every session of this saver lives in.
        ttl: The retention of the sessions it creates (seconds), or ``None``.
        relay: How conversation events reach the saver (``None``: directly).
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
        super().__init__(
            store,
            conversation,
            events,
            auto_save=auto_save,
            auto_slug=auto_slug,
            scope=scope,
            ttl=ttl,
            relay=relay,
        )
        # JSON texts, not dicts: the conversation keeps the dicts it is given,
        # so each start decodes fresh copies that no later edit can reach.
        self._preamble: tuple[str, ...] = tuple(conversation.json_messages)

    async def start_locked(self, label: str | None, session_id: str | None = None) -> str:
        """Create a session (with the caller's id, if given) and make it active.

        Its first messages are what the conversation holds now if no session
        was active, or else the preamble (the conversation is reset to it).

        Raises:
            SessionExistsError: ``session_id`` is taken in the saver's scope.
        """
        await self._resolve_locked(dropping=True)
        if self.session_id is None:
            texts = list(self.conversation.json_messages)
            messages = list(self.conversation.messages)
        else:
            texts = list(self._preamble)
            messages = [json.loads(text) for text in texts]
        sid = new_session_id() if session_id is None else session_id
        await self.store.create_session(sid, scope=self.scope, label=label, ttl=self.ttl)
        self._install(sid, [], messages, texts, labelled=label is not None, slug_from=0)
        if texts:
            # One tokened append, like any save: a lost reply stays in doubt
            # and is sent again before the next write, so it lands once.
            await self.save_locked(None)
        return sid

    async def load_locked(self, session_id: str) -> list[dict[str, Any]]:
        """Load a stored session into the conversation; return its messages.

        Raises:
            SessionNotFoundError: No session has this id.
        """
        await self._resolve_locked(dropping=True)
        record = await self.store.get_session(session_id, scope=self.scope)
        if record is None:
            raise missing_session(session_id)
        stored = await self.store.read_messages(session_id, scope=self.scope)
        messages = [decode_message(session_id, i, text) for i, text in enumerate(stored)]
        self._install(
            session_id,
            list(stored),
            messages,
            list(stored),
            labelled=record.label is not None,
            slug_from=record.fork_point or 0,
        )
        return messages

    async def delete_locked(self, session_id: str) -> bool:
        """Delete the active session and leave none active."""
        existed = await self.store.delete_session(session_id, scope=self.scope)
        self._install(None, [], [], [], labelled=False, slug_from=0)
        return existed

    async def rename_locked(self, label: str) -> None:
        """Label the active session; auto-slug leaves it alone afterwards."""
        await self.ensure_forked_locked()
        assert self.session_id is not None
        await self.store.update_session(self.session_id, scope=self.scope, label=label)
        self._labelled = True

    async def pop_locked(self, n: int) -> list[dict[str, Any]]:
        """Save, then remove the last ``n`` messages from the session and the conversation.

        Returns:
            The removed messages, in order.

        Raises:
            SessionConflictError: Another writer changed the session.
        """
        if self.session_id is None and not len(self.conversation):
            return []  # nothing to remove, and no reason to start a session
        await self.save_locked(None)
        session_id = self.session_id
        assert session_id is not None
        persisted = self._persisted
        texts = await self.store.pop_messages(
            session_id, n, expected_length=len(persisted), scope=self.scope
        )
        keep = len(persisted) - len(texts)
        conversation = self.conversation
        self._suppress = True
        try:
            conversation.restore(conversation.messages[:keep], conversation.json_messages[:keep])
        finally:
            self._suppress = False
        del persisted[keep:]
        self._dirty_from = keep
        self._slug_from = min(self._slug_from, keep)
        return [decode_message(session_id, keep + i, text) for i, text in enumerate(texts)]

    async def rebase_locked(self) -> None:
        """Reload the stored messages and put the ones not saved yet after them."""
        session_id = self.session_id
        assert session_id is not None
        record = await self.store.get_session(session_id, scope=self.scope)
        if record is None:
            raise missing_session(session_id)
        stored = await self.store.read_messages(session_id, scope=self.scope)
        messages = [decode_message(session_id, i, text) for i, text in enumerate(stored)]
        conversation = self.conversation
        mine = len(self._persisted)
        self._install(
            session_id,
            list(stored),
            [*messages, *conversation.messages[mine:]],
            list(stored) + list(conversation.json_messages[mine:]),
            labelled=self._labelled or record.label is not None,
            slug_from=record.fork_point or 0,
        )
