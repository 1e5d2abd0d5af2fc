"""The session-documents capability and the records it returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """The metadata of one stored session (never its messages).

    Attributes:
        id: The session id.
        label: A human label, or ``None``.
        parent_id: The session this one was forked from, or ``None``. It stays
            as it was recorded even if the parent is deleted later.
        fork_point: How many of the parent's messages the fork starts with.
        metadata: Application metadata (JSON-compatible).
        created_at: Creation time (UTC).
        updated_at: Time of the last change (UTC); listings sort on it.
        message_count: Number of messages, inherited ones included.
    """

    id: str
    label: str | None
    parent_id: str | None
    fork_point: int | None
    metadata: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    message_count: int


@dataclass(frozen=True, slots=True)
class SessionPage:
    """One page of a session listing, newest first.

    Attributes:
        items: The sessions on this page.
        next_cursor: Pass to ``list_sessions(cursor=...)`` for the next page;
            ``None`` on the last page.
    """

    items: list[SessionRecord] = field(default_factory=list)
    next_cursor: str | None = None


@runtime_checkable
class SessionDocuments(Protocol):
    """Sessions: a small record plus an ordered, append-only message log.

    Forks share their parent's first ``fork_point`` messages without copying
    them. What a session loads never changes because another session is
    edited or deleted: a driver that must drop or rewrite messages a fork
    still shares first gives that fork its own copy of them.
    """

    async def create_session(
        self,
        session_id: str,
        *,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Create an empty session.

        Raises:
            SessionExistsError: The id is taken.
        """
        ...

    async def fork_session(
        self,
        parent_id: str,
        session_id: str,
        *,
        at: int | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Create ``session_id`` sharing the first ``at`` messages of the parent.

        ``at=None`` means all of them. Costs O(1) whatever the parent's length.

        Raises:
            SessionNotFoundError: The parent does not exist.
            SessionExistsError: ``session_id`` is taken.
            ValidationError: ``at`` is negative or beyond the parent's length.
        """
        ...

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[str],
        *,
        expected_length: int,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Append messages if the session has exactly ``expected_length``.

        ``label`` and ``metadata``, when not ``None``, replace the stored ones
        in the same atomic step. Costs O(len(messages)), not O(session).

        Raises:
            SessionNotFoundError: No such session.
            SessionConflictError: The stored length differs; nothing written.
        """
        ...

    async def replace_messages(
        self,
        session_id: str,
        start: int,
        messages: Sequence[str],
        *,
        expected_length: int,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Drop messages from index ``start`` on and append ``messages``.

        Raises:
            SessionNotFoundError: No such session.
            SessionConflictError: The stored length differs; nothing written.
            ValidationError: ``start`` is negative or beyond the length.
        """
        ...

    async def read_messages(self, session_id: str, *, last: int | None = None) -> list[str]:
        """Return all messages, or only the last ``last`` ones, in order.

        Raises:
            SessionNotFoundError: No such session.
        """
        ...

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """Return a session's record, or ``None``."""
        ...

    async def list_sessions(self, *, limit: int = 50, cursor: str | None = None) -> SessionPage:
        """Return records newest first (by ``updated_at``, then id), paged.

        Reads records only, never messages.
        """
        ...

    async def update_session(
        self,
        session_id: str,
        *,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Replace the label and/or metadata (``None`` keeps the stored one).

        Raises:
            SessionNotFoundError: No such session.
        """
        ...

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session; forks of it keep loading what they loaded before.

        Returns:
            Whether the session existed.
        """
        ...
