"""Session documents of the memory driver: records, message logs and O(1) forks.

Arguments arrive checked by the SDK's public methods.
"""

from __future__ import annotations

import bisect
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from unistore.errors import (
    SessionConflictError,
    SessionExistsError,
    SessionNotFoundError,
    ValidationError,
)
from unistore.protocols import SessionPage, SessionRecord
from unistore.sdk import decode_cursor, encode_cursor, short

__all__ = ["MemorySessions"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _cursor(updated_at: datetime, session_id: str) -> str:
    return encode_cursor((updated_at - _EPOCH) // timedelta(microseconds=1), session_id)


def _missing(session_id: str) -> SessionNotFoundError:
    return SessionNotFoundError(f"no session {short(session_id)}", session_id=session_id)


class _Session:
    __slots__ = (
        "base",
        "base_point",
        "created_at",
        "fork_point",
        "forks",
        "id",
        "label",
        "metadata",
        "own",
        "parent_id",
        "updated_at",
    )

    def __init__(self, session_id: str, label: str | None, metadata: dict[str, Any]) -> None:
        self.id = session_id
        self.label = label
        self.metadata = metadata
        self.parent_id: str | None = None
        self.fork_point: int | None = None
        # Storage: the first ``base_point`` messages come from ``base``; ``own``
        # holds the rest. ``forks`` are the sessions whose base is this one.
        self.base: _Session | None = None
        self.base_point = 0
        self.own: list[str] = []
        self.forks: set[_Session] = set()
        self.created_at = self.updated_at = _EPOCH

    @property
    def length(self) -> int:
        return self.base_point + len(self.own)

    def prefix(self, n: int) -> list[str]:
        """Return the first ``n`` messages, walking the base chain iteratively."""
        segments: list[list[str]] = []
        node: _Session | None = self
        while node is not None and n > 0:
            if n > node.base_point:
                segments.append(node.own[: n - node.base_point])
                n = node.base_point
            node = node.base
        out: list[str] = []
        for segment in reversed(segments):
            out.extend(segment)
        return out

    def record(self) -> SessionRecord:
        return SessionRecord(
            id=self.id,
            label=self.label,
            parent_id=self.parent_id,
            fork_point=self.fork_point,
            metadata=json.loads(json.dumps(self.metadata)),
            created_at=self.created_at,
            updated_at=self.updated_at,
            message_count=self.length,
        )


class MemorySessions:
    """All sessions of one memory backend."""

    def __init__(self) -> None:
        self._sessions: dict[str, _Session] = {}
        # Ascending (updated_at, id) keys; listings walk it from the end.
        self._order: list[tuple[datetime, str]] = []
        self._last_stamp = _EPOCH

    def clear(self) -> None:
        self._sessions.clear()
        self._order.clear()

    def _stamp(self) -> datetime:
        # Strictly increasing, so that "most recently updated" is unambiguous.
        now = datetime.now(UTC)
        if now <= self._last_stamp:
            now = self._last_stamp + timedelta(microseconds=1)
        self._last_stamp = now
        return now

    def _touch(self, session: _Session) -> None:
        key = (session.updated_at, session.id)
        index = bisect.bisect_left(self._order, key)
        if index < len(self._order) and self._order[index] == key:
            del self._order[index]
        session.updated_at = self._stamp()
        bisect.insort(self._order, (session.updated_at, session.id))

    def _get(self, session_id: str) -> _Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise _missing(session_id)
        return session

    def _add(self, session: _Session) -> SessionRecord:
        if session.id in self._sessions:
            raise SessionExistsError(
                f"session {short(session.id)} already exists", session_id=session.id
            )
        self._sessions[session.id] = session
        self._touch(session)
        session.created_at = session.updated_at
        return session.record()

    def create(
        self, session_id: str, label: str | None, metadata: dict[str, Any] | None
    ) -> SessionRecord:
        return self._add(_Session(session_id, label, metadata or {}))

    def fork(
        self,
        parent_id: str,
        session_id: str,
        at: int | None,
        label: str | None,
        metadata: dict[str, Any] | None,
    ) -> SessionRecord:
        parent = self._get(parent_id)
        point = parent.length if at is None else at
        if point > parent.length:
            raise ValidationError(f"fork point must be between 0 and {parent.length}, got {at!r}")
        child = _Session(session_id, label, metadata or {})
        child.parent_id = parent_id
        child.fork_point = point
        if point:
            child.base = parent
            child.base_point = point
        record = self._add(child)
        if point:
            parent.forks.add(child)
        return record

    def _materialise(self, fork: _Session) -> None:
        """Give ``fork`` its own copy of what it shares with its base."""
        base = fork.base
        if base is None:
            return
        fork.own = base.prefix(fork.base_point) + fork.own
        base.forks.discard(fork)
        fork.base = None
        fork.base_point = 0

    def replace(
        self,
        session_id: str,
        start: int | None,
        messages: list[str],
        expected_length: int,
        label: str | None,
        metadata: dict[str, Any] | None,
    ) -> SessionRecord:
        session = self._get(session_id)
        if session.length != expected_length:
            raise SessionConflictError(
                f"session {short(session_id)} has {session.length} messages, "
                f"expected {expected_length}",
                session_id=session_id,
                expected=expected_length,
                actual=session.length,
            )
        if start is not None and start != session.length:
            if start > session.length:
                raise ValidationError(
                    f"replace start must be between 0 and {session.length}, got {start!r}"
                )
            for fork in [f for f in session.forks if f.base_point > start]:
                self._materialise(fork)
            if start < session.base_point:
                # The kept prefix lies wholly in the base, which cannot change
                # under us (editing it would have materialised this session).
                session.base_point = start
                session.own = []
                if start == 0 and session.base is not None:
                    session.base.forks.discard(session)
                    session.base = None
            else:
                del session.own[start - session.base_point :]
        session.own.extend(messages)
        if label is not None:
            session.label = label
        if metadata is not None:
            session.metadata = metadata
        self._touch(session)
        return session.record()

    def read(self, session_id: str, last: int | None) -> list[str]:
        session = self._get(session_id)
        messages = session.prefix(session.length)
        if last is None:
            return messages
        return messages[-last:] if last else []

    def get(self, session_id: str) -> SessionRecord | None:
        session = self._sessions.get(session_id)
        return None if session is None else session.record()

    def list(self, limit: int, cursor: str | None) -> SessionPage:
        end = len(self._order)
        if cursor is not None:
            micros, last_id = decode_cursor(cursor, int, str)
            key = (_EPOCH + timedelta(microseconds=int(micros)), str(last_id))
            end = bisect.bisect_left(self._order, key)
        begin = max(0, end - limit)
        keys = self._order[begin:end][::-1]
        items = [self._sessions[sid].record() for _, sid in keys]
        next_cursor = _cursor(*keys[-1]) if keys and begin > 0 else None
        return SessionPage(items=items, next_cursor=next_cursor)

    def update(
        self, session_id: str, label: str | None, metadata: dict[str, Any] | None
    ) -> SessionRecord:
        session = self._get(session_id)
        if label is not None:
            session.label = label
        if metadata is not None:
            session.metadata = metadata
        self._touch(session)
        return session.record()

    def delete(self, session_id: str) -> bool:
        session = self._sessions.pop(session_id, None)
        if session is None:
            return False
        for fork in list(session.forks):
            self._materialise(fork)
        if session.base is not None:
            session.base.forks.discard(session)
        index = bisect.bisect_left(self._order, (session.updated_at, session.id))
        del self._order[index]
        return True
