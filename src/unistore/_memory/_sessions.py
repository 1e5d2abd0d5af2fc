"""Session documents of the memory driver: records, message logs and O(1) forks.

Arguments arrive checked by the SDK's public methods.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

from unistore.protocols import SessionPage, SessionRecord
from unistore.sdk import (
    ForkRequest,
    MessageWrite,
    decode_cursor,
    encode_cursor,
    length_conflict,
    position_error,
    session_exists,
    session_not_found,
    session_record,
)

__all__ = ["MemorySessions"]


class _Session:
    __slots__ = (
        "base",
        "base_point",
        "created_us",
        "fork_point",
        "forks",
        "id",
        "label",
        "metadata",
        "own",
        "parent_id",
        "updated_us",
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
        # Stamps in microseconds since the epoch, on the backend's clock.
        self.created_us = self.updated_us = 0

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
        return session_record(
            self.id,
            label=self.label,
            parent_id=self.parent_id,
            fork_point=self.fork_point,
            metadata=self.metadata,
            created_us=self.created_us,
            updated_us=self.updated_us,
            message_count=self.length,
        )


class MemorySessions:
    """All sessions of one memory backend."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._sessions: dict[str, _Session] = {}
        # Ascending (updated_us, id) keys; listings walk it from the end.
        self._order: list[tuple[int, str]] = []
        self._last_stamp = 0

    def clear(self) -> None:
        self._sessions.clear()
        self._order.clear()

    def _stamp(self) -> int:
        # Strictly increasing, so that "most recently updated" is unambiguous.
        now = max(int(self._clock() * 1_000_000), self._last_stamp + 1)
        self._last_stamp = now
        return now

    def _touch(self, session: _Session) -> None:
        key = (session.updated_us, session.id)
        index = bisect.bisect_left(self._order, key)
        if index < len(self._order) and self._order[index] == key:
            del self._order[index]
        session.updated_us = self._stamp()
        bisect.insort(self._order, (session.updated_us, session.id))

    def _get(self, session_id: str) -> _Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise session_not_found(session_id)
        return session

    def _add(self, session: _Session) -> SessionRecord:
        if session.id in self._sessions:
            raise session_exists(session.id)
        self._sessions[session.id] = session
        self._touch(session)
        session.created_us = session.updated_us
        return session.record()

    def create(
        self, session_id: str, label: str | None, metadata: dict[str, Any] | None
    ) -> SessionRecord:
        return self._add(_Session(session_id, label, metadata or {}))

    def fork(self, fork: ForkRequest) -> SessionRecord:
        parent_id, session_id, at = fork.parent_id, fork.session_id, fork.at
        parent = self._get(parent_id)
        point = parent.length if at is None else at
        if point > parent.length:
            raise position_error("fork point", parent.length, at)
        child = _Session(session_id, fork.label, fork.metadata or {})
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

    def write(self, write: MessageWrite) -> SessionRecord:
        session_id, start, expected_length = write.session_id, write.start, write.expected_length
        session = self._get(session_id)
        if session.length != expected_length:
            raise length_conflict(session_id, expected_length, session.length)
        if start is not None and start != session.length:
            if start > session.length:
                raise position_error("replace start", session.length, start)
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
        session.own.extend(write.messages)
        if write.label is not None:
            session.label = write.label
        if write.metadata is not None:
            session.metadata = write.metadata
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
            key = (micros, last_id)
            end = bisect.bisect_left(self._order, key)
        begin = max(0, end - limit)
        keys = self._order[begin:end][::-1]
        items = [self._sessions[sid].record() for _, sid in keys]
        next_cursor = encode_cursor(*keys[-1]) if keys and begin > 0 else None
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
        index = bisect.bisect_left(self._order, (session.updated_us, session.id))
        del self._order[index]
        return True
