"""SessionDocumentsBase: the session capability's checks, written once.

Primitives receive checked arguments: ``str`` ids, ``list[str]`` messages
(valid UTF-8, no NUL), ``int`` counts of at least 0, a deep-copied ``dict``
of JSON-compatible metadata or ``None`` (keep the stored one), a positive
``limit``, the cursor text of a previous page (decode it with
:func:`~unistore.sdk.decode_cursor`), and a ``scope``: ``""`` for the
default scope, else the caller's non-empty text. A scope is part of a
session's identity: ``("a", "s1")`` and ``("b", "s1")`` are two sessions, and
a primitive never lets one scope see, list or touch another's sessions.

Writes with many arguments arrive as one request object (:class:`NewSession`,
:class:`ForkRequest`, :class:`MessageWrite`, :class:`PopRequest`), so that a
new argument of the contract is one new field, not a new signature in every
driver.

Retention: a session created or forked with a ``ttl`` expires ``ttl`` seconds
after its last write (create, fork, append, replace, pop, update); reads do
not extend it. An expired session is gone for every call, its id is free
again, and its forks keep the messages they share with it.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, final

from unistore.protocols import Capability, SessionPage, SessionRecord
from unistore.sdk._checks import (
    check_count,
    check_cursor,
    check_id,
    check_label,
    check_last,
    check_limit,
    check_messages,
    check_metadata,
    check_pop,
    check_retention,
    check_scope,
    check_token,
)
from unistore.sdk._store import StoreBase
from unistore.sdk._tokens import TOKENS_KEPT

__all__ = [
    "TOKENS_KEPT",
    "ForkRequest",
    "MessageWrite",
    "NewSession",
    "PopRequest",
    "SessionDocumentsBase",
]

_SID = "a session id"


@dataclass(frozen=True, slots=True)
class NewSession:
    """A checked creation of a session, empty or with its first messages.

    Attributes:
        session_id: The new session's id.
        scope: Its scope (``""``: the default scope).
        label: Its label.
        metadata: Its metadata.
        ttl: Seconds it lives after its last write, or ``None``: forever.
        messages: Its first messages, written in the same atomic step as the
            record (the record's ``message_count`` is their number); when the
            id is taken, none of them is written.
    """

    session_id: str
    scope: str = ""
    label: str | None = None
    metadata: dict[str, Any] | None = None
    ttl: float | None = None
    messages: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MessageWrite:
    """A checked append or edit of a session's messages.

    Attributes:
        session_id: The session.
        messages: The messages to append (after the cut, for an edit).
        expected_length: The length the session must have, otherwise the
            write is a conflict and changes nothing; ``None`` (appends only):
            append whatever the length.
        start: ``None`` to append; else drop messages from this index on
            first (at least 0; refuse it past the length).
        label: The new label, or ``None`` to keep the stored one.
        metadata: The new metadata, or ``None`` to keep the stored one.
        scope: The session's scope.
        token: An idempotency token, or ``None``. If the session already
            applied a write with this token (one of its last
            :data:`TOKENS_KEPT`), return the length that write produced and
            change nothing, before any length check; otherwise apply the write
            and remember the token with the new length, in the same atomic step.
    """

    session_id: str
    messages: list[str]
    expected_length: int | None
    start: int | None = None
    label: str | None = None
    metadata: dict[str, Any] | None = None
    scope: str = ""
    token: str | None = None


@dataclass(frozen=True, slots=True)
class ForkRequest:
    """A checked fork: ``session_id`` shares the parent's first ``at`` messages.

    Attributes:
        parent_id: The session forked from, looked up in ``scope``.
        session_id: The new session, created in the same scope.
        at: The fork point (``None``: all of the parent's messages); at least
            0, refuse it past the parent's length.
        label: The new session's label.
        metadata: The new session's metadata.
        scope: The scope of both sessions (a fork inherits its parent's).
        ttl: The new session's retention, or ``None``: forever.
    """

    parent_id: str
    session_id: str
    at: int | None = None
    label: str | None = None
    metadata: dict[str, Any] | None = None
    scope: str = ""
    ttl: float | None = None


@dataclass(frozen=True, slots=True)
class PopRequest:
    """A checked removal of a session's last messages.

    Attributes:
        session_id: The session.
        n: How many to remove, at least 1; fewer if the session is shorter.
        expected_length: The length the session must have, or ``None``.
        scope: The session's scope.
    """

    session_id: str
    n: int
    expected_length: int | None = None
    scope: str = ""


class SessionDocumentsBase(StoreBase):
    """Sessions: a record plus an append-only message log, in scopes.

    See :class:`~unistore.protocols.SessionDocuments` for the contract.
    """

    _CAPABILITY: ClassVar[Capability | None] = Capability.SESSION_DOCUMENTS

    @final
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
        """Create a session holding ``messages`` (none by default), in one atomic step.

        Raises:
            SessionExistsError: The id is taken in this scope; nothing written.
        """
        if self._closed:
            raise self._closed_error()
        new = NewSession(
            check_id(session_id, _SID),
            check_scope(scope),
            check_label(label),
            check_metadata(metadata),
            check_retention(ttl),
            check_messages(messages),
        )
        return await self._mapped(self._create_session(new))

    @final
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
        """Create ``session_id`` sharing the first ``at`` messages of the parent, in O(1).

        Raises:
            SessionNotFoundError: The parent does not exist in this scope.
            SessionExistsError: ``session_id`` is taken in this scope.
            ValidationError: ``at`` is negative or beyond the parent's length.
        """
        if self._closed:
            raise self._closed_error()
        fork = ForkRequest(
            check_id(parent_id, "a parent session id"),
            check_id(session_id, _SID),
            None if at is None else check_count(at, "at"),
            check_label(label),
            check_metadata(metadata),
            check_scope(scope),
            check_retention(ttl),
        )
        return await self._mapped(self._fork_session(fork))

    @final
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
        """Append messages atomically; return the session's new length.

        Raises:
            SessionNotFoundError: No such session in this scope.
            SessionConflictError: ``expected_length`` was given and differs
                from the stored length; nothing written.
        """
        if self._closed:
            raise self._closed_error()
        write = MessageWrite(
            check_id(session_id, _SID),
            check_messages(messages),
            None if expected_length is None else check_count(expected_length, "expected_length"),
            None,
            check_label(label),
            check_metadata(metadata),
            check_scope(scope),
            check_token(token),
        )
        return await self._mapped(self._write_messages(write))

    @final
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
        """Drop messages from index ``start`` on and append ``messages``; return the new length.

        Raises:
            SessionNotFoundError: No such session in this scope.
            SessionConflictError: The stored length differs; nothing written.
            ValidationError: ``start`` is negative or beyond the length.
        """
        if self._closed:
            raise self._closed_error()
        write = MessageWrite(
            check_id(session_id, _SID),
            check_messages(messages),
            check_count(expected_length, "expected_length"),
            check_count(start, "start"),
            check_label(label),
            check_metadata(metadata),
            check_scope(scope),
            check_token(token),
        )
        return await self._mapped(self._write_messages(write))

    @final
    async def pop_messages(
        self,
        session_id: str,
        n: int = 1,
        *,
        expected_length: int | None = None,
        scope: str | None = None,
    ) -> list[str]:
        """Remove the last ``n`` messages atomically and return them, in order.

        A session shorter than ``n`` loses all its messages (an empty one
        returns ``[]``).

        Raises:
            SessionNotFoundError: No such session in this scope.
            SessionConflictError: ``expected_length`` was given and differs.
        """
        if self._closed:
            raise self._closed_error()
        pop = PopRequest(
            check_id(session_id, _SID),
            check_pop(n),
            None if expected_length is None else check_count(expected_length, "expected_length"),
            check_scope(scope),
        )
        return await self._mapped(self._pop_messages(pop))

    @final
    async def read_messages(
        self, session_id: str, *, last: int | None = None, scope: str | None = None
    ) -> list[str]:
        """Return all messages, or only the last ``last`` ones, in order.

        Raises:
            SessionNotFoundError: No such session in this scope.
        """
        if self._closed:
            raise self._closed_error()
        sid, tail, where = check_id(session_id, _SID), check_last(last), check_scope(scope)
        return await self._mapped(self._read_messages(sid, tail, where))

    @final
    async def get_session(
        self, session_id: str, *, scope: str | None = None
    ) -> SessionRecord | None:
        """Return a session's record, or ``None`` (also for another scope's session)."""
        if self._closed:
            raise self._closed_error()
        sid, where = check_id(session_id, _SID), check_scope(scope)
        return await self._mapped(self._get_session(sid, where))

    @final
    async def list_sessions(
        self, *, scope: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> SessionPage:
        """Return one scope's records newest first (by ``updated_at``, then id), paged.

        Never reads messages, nor another scope's records.
        """
        if self._closed:
            raise self._closed_error()
        size, after, where = check_limit(limit), check_cursor(cursor), check_scope(scope)
        return await self._mapped(self._list_sessions(size, after, where))

    @final
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
        if self._closed:
            raise self._closed_error()
        sid, where = check_id(session_id, _SID), check_scope(scope)
        label, meta = check_label(label), check_metadata(metadata)
        return await self._mapped(self._update_session(sid, label, meta, where))

    @final
    async def delete_session(self, session_id: str, *, scope: str | None = None) -> bool:
        """Delete a session; forks of it keep loading what they loaded before."""
        if self._closed:
            raise self._closed_error()
        sid, where = check_id(session_id, _SID), check_scope(scope)
        return await self._mapped(self._delete_session(sid, where))

    @final
    async def iter_scopes(self) -> AsyncIterator[str | None]:
        """Yield each scope that may hold sessions, once (``None``: the default scope).

        For tooling (copy, inspection): it may cost O(sessions in the store).
        """
        if self._closed:
            raise self._closed_error()
        seen: set[str] = set()
        try:
            async for scope in self._scopes():
                if scope not in seen:
                    seen.add(scope)
                    yield scope or None
        except self._catches as exc:
            raise self._translate(exc) from exc

    # -- primitives -------------------------------------------------------------

    @abstractmethod
    async def _create_session(self, new: NewSession) -> SessionRecord:
        """Create an empty session (see :class:`NewSession`)."""

    @abstractmethod
    async def _fork_session(self, fork: ForkRequest) -> SessionRecord:
        """Fork in O(1) (see :class:`ForkRequest`)."""

    @abstractmethod
    async def _write_messages(self, write: MessageWrite) -> int:
        """Append, or cut at ``write.start`` and append, atomically; return the new length."""

    @abstractmethod
    async def _pop_messages(self, pop: PopRequest) -> list[str]:
        """Remove and return the last ``pop.n`` messages atomically (see :class:`PopRequest`)."""

    @abstractmethod
    async def _read_messages(self, session_id: str, last: int | None, scope: str) -> list[str]: ...

    @abstractmethod
    async def _get_session(self, session_id: str, scope: str) -> SessionRecord | None: ...

    @abstractmethod
    async def _list_sessions(self, limit: int, cursor: str | None, scope: str) -> SessionPage: ...

    @abstractmethod
    async def _update_session(
        self, session_id: str, label: str | None, metadata: dict[str, Any] | None, scope: str
    ) -> SessionRecord:
        """Replace label and/or metadata; like every write, it restarts the session's TTL."""

    @abstractmethod
    async def _delete_session(self, session_id: str, scope: str) -> bool: ...

    @abstractmethod
    def _scopes(self) -> AsyncIterator[str]:
        """Yield the scopes that may hold live sessions (``""``: the default one)."""
