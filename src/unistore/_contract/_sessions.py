"""The session-documents capability and the records it returns."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
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
        scope: The scope the session lives in (``None``: the default scope).
        ttl: Seconds the session lives after its last write, or ``None``.
        expires_at: When it expires unless written again (UTC), or ``None``.
    """

    id: str
    label: str | None
    parent_id: str | None
    fork_point: int | None
    metadata: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    message_count: int
    scope: str | None = None
    ttl: float | None = None
    expires_at: datetime | None = None


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

    **Scopes.** Every call takes ``scope=`` (``None``: the default scope). A
    scope is part of a session's identity and a security boundary: a session
    addressed with another scope is :class:`~unistore.errors.SessionNotFoundError`,
    with no hint that it exists; a listing shows one scope only; a fork lives
    in its parent's scope. Scopes are opaque text: ``*``, ``%``, ``/`` and
    ``..`` are not patterns or paths.

    **Forks** share their parent's first ``fork_point`` messages without
    copying them. What a session loads never changes because another session
    is edited, deleted or expires: a driver that must drop or rewrite messages
    a fork still shares first gives that fork its own copy of them.

    **Retention.** A session made with ``ttl`` expires ``ttl`` seconds after
    its last write; reads do not extend it. An expired session is gone for
    every call and its space is reclaimed.

    **Exactly once.** An append or edit with a ``token`` is idempotent: if the
    session already applied a write with that token (one of its last 100 at
    least), the call returns that write's result and changes nothing.
    """

    async def create_session(
        self,
        session_id: str,
        *,
        scope: str | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        ttl: float | None = None,
        messages: Sequence[str] = (),
    ) -> SessionRecord:
        """Create a session; ``ttl`` (seconds) makes it expire after its last write.

        ``messages`` are its first messages, written with the record in one
        atomic step and one round trip where the backend has them: a session
        never exists without them. Creating with messages is the same as
        creating empty and appending them, at the cost of one write.

        Raises:
            SessionExistsError: The id is taken in this scope; nothing is
                written, and the existing session is untouched.
        """
        ...

    async def fork_session(
        self,
        parent_id: str,
        session_id: str,
        *,
        at: int | None = None,
        scope: str | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        ttl: float | None = None,
    ) -> SessionRecord:
        """Create ``session_id`` sharing the first ``at`` messages of the parent.

        ``at=None`` means all of them. Costs O(1) whatever the parent's length.
        The fork lives in the parent's scope and has its own ``ttl``.

        Raises:
            SessionNotFoundError: The parent does not exist in this scope.
            SessionExistsError: ``session_id`` is taken in this scope.
            ValidationError: ``at`` is negative or beyond the parent's length.
        """
        ...

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[str],
        *,
        expected_length: int | None = None,
        token: str | None = None,
        scope: str | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        """Append messages atomically and return the session's new length.

        Without ``expected_length`` the append is unconditional: concurrent
        writers all succeed, in some order. With it, the append happens only
        if the session has exactly that many messages. ``label`` and
        ``metadata``, when not ``None``, replace the stored ones in the same
        atomic step. A ``token`` already applied returns the earlier result.
        Costs O(len(messages)), not O(session).

        Raises:
            SessionNotFoundError: No such session in this scope.
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
        token: str | None = None,
        scope: str | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        """Drop messages from index ``start`` on, append ``messages``; return the new length.

        Raises:
            SessionNotFoundError: No such session in this scope.
            SessionConflictError: The stored length differs; nothing written.
            ValidationError: ``start`` is negative or beyond the length.
        """
        ...

    async def pop_messages(
        self,
        session_id: str,
        n: int = 1,
        *,
        expected_length: int | None = None,
        scope: str | None = None,
    ) -> list[str]:
        """Remove the last ``n`` messages atomically and return them in order.

        A shorter session loses all it has; an empty one returns ``[]``.

        Raises:
            SessionNotFoundError: No such session in this scope.
            SessionConflictError: ``expected_length`` was given and differs.
        """
        ...

    async def read_messages(
        self, session_id: str, *, last: int | None = None, scope: str | None = None
    ) -> list[str]:
        """Return all messages, or only the last ``last`` ones, in order.

        Raises:
            SessionNotFoundError: No such session in this scope.
        """
        ...

    async def get_session(
        self, session_id: str, *, scope: str | None = None
    ) -> SessionRecord | None:
        """Return a session's record, or ``None``."""
        ...

    async def list_sessions(
        self, *, scope: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> SessionPage:
        """Return one scope's records newest first (by ``updated_at``, then id), paged.

        Reads records only, never messages.
        """
        ...

    async def update_session(
        self,
        session_id: str,
        *,
        scope: str | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Replace the label and/or metadata (``None`` keeps the stored one).

        Raises:
            SessionNotFoundError: No such session in this scope.
        """
        ...

    async def delete_session(self, session_id: str, *, scope: str | None = None) -> bool:
        """Delete a session; forks of it keep loading what they loaded before.

        Returns:
            Whether the session existed.
        """
        ...

    def iter_scopes(self) -> AsyncIterator[str | None]:
        """Yield each scope that may hold sessions, once (``None``: the default).

        For tooling (copy, inspection); it may cost O(sessions in the store).
        """
        ...
