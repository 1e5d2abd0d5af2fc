"""SessionDocuments of the file store: a folder per session plus a listing index."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from unistore.errors import ValidationError
from unistore.protocols import SessionPage, SessionRecord
from unistore_fs import _session_ops
from unistore_fs._names import check_id
from unistore_fs._runtime import FileRuntime
from unistore_fs._session_index import list_page
from unistore_fs._session_meta import copy_metadata

__all__ = ["SessionMethods"]


def _key(session_id: str) -> str:
    return f"s:{session_id}"


def _label(label: str | None) -> str | None:
    if label is not None and not isinstance(label, str):
        raise ValidationError(f"a session label must be a str, got {type(label).__name__}")
    return label


def _length(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"expected_length must be a non-negative int, got {value!r}")
    return value


class SessionMethods(FileRuntime):
    """Sessions stored as ``meta.json`` plus an append-only ``messages.jsonl``."""

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
        session_id = check_id(session_id, "session id")
        args = (session_id, _label(label), copy_metadata(metadata))
        return await self._write(_key(session_id), _session_ops.create, *args)

    async def fork_session(
        self,
        parent_id: str,
        session_id: str,
        *,
        at: int | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Create ``session_id`` sharing the parent's first ``at`` messages, in O(1).

        Raises:
            SessionNotFoundError: The parent does not exist.
            SessionExistsError: ``session_id`` is taken.
            ValidationError: ``at`` is negative or beyond the parent's length.
        """
        parent_id = check_id(parent_id, "parent session id")
        session_id = check_id(session_id, "session id")
        args = (parent_id, session_id, at, _label(label), copy_metadata(metadata))
        return await self._write(_key(parent_id), _session_ops.fork, *args)

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[str],
        *,
        expected_length: int,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Append messages if the session has exactly ``expected_length`` (writes only them).

        Raises:
            SessionNotFoundError: No such session.
            SessionConflictError: The stored length differs; nothing was written.
        """
        session_id = check_id(session_id, "session id")
        args = (
            session_id,
            None,
            messages,
            _length(expected_length),
            _label(label),
            copy_metadata(metadata),
        )
        return await self._write(_key(session_id), _session_ops.write_messages, *args)

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
            SessionConflictError: The stored length differs; nothing was written.
            ValidationError: ``start`` is negative or beyond the length.
        """
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ValidationError(f"replace start must be a non-negative int, got {start!r}")
        session_id = check_id(session_id, "session id")
        args = (
            session_id,
            start,
            messages,
            _length(expected_length),
            _label(label),
            copy_metadata(metadata),
        )
        return await self._write(_key(session_id), _session_ops.write_messages, *args)

    async def read_messages(self, session_id: str, *, last: int | None = None) -> list[str]:
        """Return all messages, or the last ``last`` (read from the end of the log).

        Raises:
            SessionNotFoundError: No such session.
        """
        session_id = check_id(session_id, "session id")
        return await self._read(_session_ops.read_messages, session_id, last)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """Return a session's record, or ``None``."""
        session_id = check_id(session_id, "session id")
        return await self._read(_session_ops.get, session_id)

    async def list_sessions(self, *, limit: int = 50, cursor: str | None = None) -> SessionPage:
        """Return records newest first (by ``updated_at``, then id), one page at a time.

        Reads the index and the metadata of about ``limit`` sessions; never a message.
        """
        return await self._read(list_page, limit, cursor)

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
        session_id = check_id(session_id, "session id")
        args = (session_id, _label(label), copy_metadata(metadata))
        return await self._write(_key(session_id), _session_ops.update, *args)

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session; its forks first get their own copy of what they share."""
        session_id = check_id(session_id, "session id")
        return await self._write(_key(session_id), _session_ops.delete, session_id)
