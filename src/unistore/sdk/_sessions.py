"""SessionDocumentsBase: the session capability's checks, written once.

Primitives receive checked arguments: ``str`` ids, ``list[str]`` messages
(valid UTF-8, no NUL), ``int`` counts of at least 0, a deep-copied ``dict``
of JSON-compatible metadata or ``None`` (keep the stored one), a positive
``limit`` and the cursor text of a previous page (decode it with
:func:`~unistore.sdk.decode_cursor`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
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

__all__ = ["SessionDocumentsBase"]

_SID = "a session id"


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
        try:
            return await self._create_session(sid, label, meta)
        except self._catches as exc:
            raise self._translate(exc) from exc

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
        parent, sid = check_id(parent_id, "a parent session id"), check_id(session_id, _SID)
        point = None if at is None else check_count(at, "at")
        label, meta = check_label(label), check_metadata(metadata)
        try:
            return await self._fork_session(parent, sid, point, label, meta)
        except self._catches as exc:
            raise self._translate(exc) from exc

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
        sid, texts = check_id(session_id, _SID), check_messages(messages)
        expected = check_count(expected_length, "expected_length")
        label, meta = check_label(label), check_metadata(metadata)
        try:
            return await self._replace_messages(sid, None, texts, expected, label, meta)
        except self._catches as exc:
            raise self._translate(exc) from exc

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
        sid, texts = check_id(session_id, _SID), check_messages(messages)
        begin = check_count(start, "start")
        expected = check_count(expected_length, "expected_length")
        label, meta = check_label(label), check_metadata(metadata)
        try:
            return await self._replace_messages(sid, begin, texts, expected, label, meta)
        except self._catches as exc:
            raise self._translate(exc) from exc

    @final
    async def read_messages(self, session_id: str, *, last: int | None = None) -> list[str]:
        """Return all messages, or only the last ``last`` ones, in order.

        Raises:
            SessionNotFoundError: No such session.
        """
        if self._closed:
            raise self._closed_error()
        sid, tail = check_id(session_id, _SID), check_last(last)
        try:
            return await self._read_messages(sid, tail)
        except self._catches as exc:
            raise self._translate(exc) from exc

    @final
    async def get_session(self, session_id: str) -> SessionRecord | None:
        """Return a session's record, or ``None``."""
        if self._closed:
            raise self._closed_error()
        sid = check_id(session_id, _SID)
        try:
            return await self._get_session(sid)
        except self._catches as exc:
            raise self._translate(exc) from exc

    @final
    async def list_sessions(self, *, limit: int = 50, cursor: str | None = None) -> SessionPage:
        """Return records newest first (by ``updated_at``, then id), paged; never reads messages."""
        if self._closed:
            raise self._closed_error()
        size, after = check_limit(limit), check_cursor(cursor)
        try:
            return await self._list_sessions(size, after)
        except self._catches as exc:
            raise self._translate(exc) from exc

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
        try:
            return await self._update_session(sid, label, meta)
        except self._catches as exc:
            raise self._translate(exc) from exc

    @final
    async def delete_session(self, session_id: str) -> bool:
        """Delete a session; forks of it keep loading what they loaded before."""
        if self._closed:
            raise self._closed_error()
        sid = check_id(session_id, _SID)
        try:
            return await self._delete_session(sid)
        except self._catches as exc:
            raise self._translate(exc) from exc

    # -- primitives -------------------------------------------------------------

    @abstractmethod
    async def _create_session(
        self, session_id: str, label: str | None, metadata: dict[str, Any] | None
    ) -> SessionRecord: ...

    @abstractmethod
    async def _fork_session(
        self,
        parent_id: str,
        session_id: str,
        at: int | None,
        label: str | None,
        metadata: dict[str, Any] | None,
    ) -> SessionRecord:
        """Fork; ``at`` is at least 0 but may exceed the parent's length (refuse it)."""

    @abstractmethod
    async def _replace_messages(
        self,
        session_id: str,
        start: int | None,
        messages: list[str],
        expected_length: int,
        label: str | None,
        metadata: dict[str, Any] | None,
    ) -> SessionRecord:
        """Append (``start is None``) or truncate at ``start`` and append.

        ``start`` is at least 0 but may exceed the length (refuse it).
        """

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
