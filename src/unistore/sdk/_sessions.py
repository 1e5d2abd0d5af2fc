"""SessionDocumentsBase: the session capability's checks, written once.

Primitives receive checked arguments: ``str`` ids, ``list[str]`` messages
(valid UTF-8, no NUL), ``int`` counts of at least 0, a deep-copied ``dict``
of JSON-compatible metadata or ``None`` (keep the stored one), a positive
``limit`` and the cursor text of a previous page (decode it with
:func:`~unistore.sdk.decode_cursor`). Writes with many arguments arrive as one
request object (:class:`MessageWrite`, :class:`ForkRequest`), so that a new
argument of the contract is one new field, not a new signature in every driver.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
)
from unistore.sdk._store import StoreBase

__all__ = ["ForkRequest", "MessageWrite", "SessionDocumentsBase"]

_SID = "a session id"


@dataclass(frozen=True, slots=True)
class MessageWrite:
    """A checked append or edit of a session's messages.

    Attributes:
        session_id: The session.
        messages: The messages to append (after the cut, for an edit).
        expected_length: The length the session must have; otherwise the
            write is a conflict and changes nothing.
        start: ``None`` to append; else drop messages from this index on
            first (at least 0; refuse it past the length).
        label: The new label, or ``None`` to keep the stored one.
        metadata: The new metadata, or ``None`` to keep the stored one.
    """

    session_id: str
    messages: list[str]
    expected_length: int
    start: int | None = None
    label: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ForkRequest:
    """A checked fork: ``session_id`` shares the parent's first ``at`` messages.

    Attributes:
        parent_id: The session forked from.
        session_id: The new session.
        at: The fork point (``None``: all of the parent's messages); at least
            0, refuse it past the parent's length.
        label: The new session's label.
        metadata: The new session's metadata.
    """

    parent_id: str
    session_id: str
    at: int | None = None
    label: str | None = None
    metadata: dict[str, Any] | None = None


class SessionDocumentsBase(StoreBase):
    """Sessions: a record plus an append-only message log.

    See :class:`~unistore.protocols.SessionDocuments` for the contract.
    """

    _CAPABILITY: ClassVar[Capability | None] = Capability.SESSION_DOCUMENTS

    @final
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
        if self._closed:
            raise self._closed_error()
        sid = check_id(session_id, _SID)
        label, meta = check_label(label), check_metadata(metadata)
        return await self._mapped(self._create_session(sid, label, meta))

    @final
    async def fork_session(
        self,
        parent_id: str,
        session_id: str,
        *,
        at: int | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Create ``session_id`` sharing the first ``at`` messages of the parent, in O(1).

        Raises:
            SessionNotFoundError: The parent does not exist.
            SessionExistsError: ``session_id`` is taken.
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
        )
        return await self._mapped(self._fork_session(fork))

    @final
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

        Raises:
            SessionNotFoundError: No such session.
            SessionConflictError: The stored length differs; nothing written.
        """
        if self._closed:
            raise self._closed_error()
        write = MessageWrite(
            check_id(session_id, _SID),
            check_messages(messages),
            check_count(expected_length, "expected_length"),
            None,
            check_label(label),
            check_metadata(metadata),
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
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Drop messages from index ``start`` on and append ``messages``.

        Raises:
            SessionNotFoundError: No such session.
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
        )
        return await self._mapped(self._write_messages(write))

    @final
    async def read_messages(self, session_id: str, *, last: int | None = None) -> list[str]:
        """Return all messages, or only the last ``last`` ones, in order.

        Raises:
            SessionNotFoundError: No such session.
        """
        if self._closed:
            raise self._closed_error()
        sid, tail = check_id(session_id, _SID), check_last(last)
        return await self._mapped(self._read_messages(sid, tail))

    @final
    async def get_session(self, session_id: str) -> SessionRecord | None:
        """Return a session's record, or ``None``."""
        if self._closed:
            raise self._closed_error()
        sid = check_id(session_id, _SID)
        return await self._mapped(self._get_session(sid))

    @final
    async def list_sessions(self, *, limit: int = 50, cursor: str | None = None) -> SessionPage:
        """Return records newest first (by ``updated_at``, then id), paged; never reads messages."""
        if self._closed:
            raise self._closed_error()
        size, after = check_limit(limit), check_cursor(cursor)
        return await self._mapped(self._list_sessions(size, after))

    @final
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
        if self._closed:
            raise self._closed_error()
        sid = check_id(session_id, _SID)
        label, meta = check_label(label), check_metadata(metadata)
        return await self._mapped(self._update_session(sid, label, meta))

    @final
    async def delete_session(self, session_id: str) -> bool:
        """Delete a session; forks of it keep loading what they loaded before."""
        if self._closed:
            raise self._closed_error()
        sid = check_id(session_id, _SID)
        return await self._mapped(self._delete_session(sid))

    # -- primitives -------------------------------------------------------------

    @abstractmethod
    async def _create_session(
        self, session_id: str, label: str | None, metadata: dict[str, Any] | None
    ) -> SessionRecord: ...

    @abstractmethod
    async def _fork_session(self, fork: ForkRequest) -> SessionRecord:
        """Fork in O(1) (see :class:`ForkRequest`)."""

    @abstractmethod
    async def _write_messages(self, write: MessageWrite) -> SessionRecord:
        """Append, or cut at ``write.start`` and append, atomically (see :class:`MessageWrite`)."""

    @abstractmethod
    async def _read_messages(self, session_id: str, last: int | None) -> list[str]: ...

    @abstractmethod
    async def _get_session(self, session_id: str) -> SessionRecord | None: ...

    @abstractmethod
    async def _list_sessions(self, limit: int, cursor: str | None) -> SessionPage: ...

    @abstractmethod
    async def _update_session(
        self, session_id: str, label: str | None, metadata: dict[str, Any] | None
    ) -> SessionRecord: ...

    @abstractmethod
    async def _delete_session(self, session_id: str) -> bool: ...
