"""Session documents of the memory driver: records, message logs and O(1) forks, in scopes.

Arguments arrive checked by the SDK's public methods. Every method runs
without awaiting, so each one is atomic with respect to the event loop.

Retention: a session with a TTL carries its expiry stamp. An expired session
is invisible at once (every lookup checks the stamp) and is reclaimed by the
first call that meets it, by a listing that walks past it, or by the bounded
sweep each write runs, in order of expiry. Reclaiming is a delete: the forks
sharing its messages get their own copy first, so they keep loading them.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable
from typing import Any, Final

from unistore.protocols import SessionPage, SessionRecord
from unistore.sdk import (
    ForkRequest,
    MessageWrite,
    NewSession,
    PopRequest,
    decode_cursor,
    encode_cursor,
    expiry_micros,
    length_conflict,
    position_error,
    recall_token,
    remember_token,
    session_exists,
    session_not_found,
    session_record,
)

__all__ = ["MemorySessions"]

#: Expired sessions reclaimed by one write's sweep or one listing, so that no
#: single call pays for a backlog.
_SWEEP_BATCH: Final = 16


class _Session:
    __slots__ = (
        "__weakref__",
        "base",
        "base_point",
        "created_us",
        "expires_us",
        "fork_point",
        "forks",
        "id",
        "label",
        "metadata",
        "own",
        "parent_id",
        "scope",
        "tokens",
        "ttl",
        "updated_us",
    )

    def __init__(
        self,
        session_id: str,
        scope: str,
        label: str | None,
        metadata: dict[str, Any],
        ttl: float | None,
    ) -> None:
        self.id = session_id
        self.scope = scope
        self.label = label
        self.metadata = metadata
        self.ttl = ttl
        self.parent_id: str | None = None
        self.fork_point: int | None = None
        # Storage: the first ``base_point`` messages come from ``base``; ``own``
        # holds the rest. ``forks`` are the sessions whose base is this one.
        self.base: _Session | None = None
        self.base_point = 0
        self.own: list[str] = []
        self.forks: set[_Session] = set()
        # Idempotency tokens of the latest writes, oldest first.
        self.tokens: dict[str, int] = {}
        # Stamps in microseconds since the epoch, on the backend's clock.
        self.created_us = self.updated_us = 0
        self.expires_us: int | None = None

    @property
    def length(self) -> int:
        return self.base_point + len(self.own)

    def expired(self, now: int) -> bool:
        return self.expires_us is not None and self.expires_us <= now

    def messages(self, lo: int, hi: int) -> list[str]:
        """Return messages ``[lo, hi)``, walking the base chain iteratively."""
        segments: list[list[str]] = []
        node: _Session | None = self
        while node is not None and hi > lo:
            if hi > node.base_point:
                point = node.base_point
                segments.append(node.own[max(lo, point) - point : hi - point])
                hi = point
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
            scope=self.scope,
            ttl=self.ttl,
            expires_us=self.expires_us,
        )


class _Scope:
    """The sessions of one scope and their listing order."""

    __slots__ = ("order", "sessions")

    def __init__(self) -> None:
        self.sessions: dict[str, _Session] = {}
        # Ascending (updated_us, id) keys; listings walk it from the end.
        self.order: list[tuple[int, str]] = []


class MemorySessions:
    """All sessions of one memory backend."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._spaces: dict[str, _Scope] = {}
        self._count = 0
        # (expires_us, scope, id) candidates for reclaiming; entries go stale
        # when a write slides the expiry, and are checked when popped.
        self._expiry: list[tuple[int, str, str]] = []
        self._last_stamp = 0

    def clear(self) -> None:
        self._spaces.clear()
        self._expiry.clear()
        self._count = 0

    # -- internals --------------------------------------------------------------

    def _now(self) -> int:
        return round(self._clock() * 1_000_000)

    def _find(self, scope: str, session_id: str) -> _Session | None:
        """Return the live session, reclaiming it if it expired."""
        space = self._spaces.get(scope)
        if space is None:
            return None
        session = space.sessions.get(session_id)
        if session is not None and session.expires_us is not None and session.expired(self._now()):
            self._remove(space, session)
            return None
        return session

    def _get(self, scope: str, session_id: str) -> _Session:
        session = self._find(scope, session_id)
        if session is None:
            raise session_not_found(session_id)
        return session

    def _touch(self, session: _Session) -> None:
        """Stamp a write: move the listing entry, slide the expiry."""
        order = self._spaces[session.scope].order
        key = (session.updated_us, session.id)
        index = bisect.bisect_left(order, key)
        if index < len(order) and order[index] == key:
            del order[index]
        now = self._now()
        # Strictly increasing, so that "most recently updated" is unambiguous.
        session.updated_us = self._last_stamp = max(now, self._last_stamp + 1)
        bisect.insort(order, (session.updated_us, session.id))
        # The expiry counts from the clock, not from the (maybe bumped) stamp.
        expires = session.expires_us = expiry_micros(now, session.ttl)
        if expires is not None:
            heapq.heappush(self._expiry, (expires, session.scope, session.id))

    def _add(self, session: _Session) -> SessionRecord:
        space = self._spaces.get(session.scope)
        if space is None:
            space = self._spaces[session.scope] = _Scope()
        space.sessions[session.id] = session
        self._count += 1
        self._touch(session)
        session.created_us = session.updated_us
        return session.record()

    def _remove(self, space: _Scope, session: _Session) -> None:
        """Delete a session; its forks get their own copy of what they share first."""
        for fork in list(session.forks):
            self._materialise(fork)
        if session.base is not None:
            session.base.forks.discard(session)
            session.base = None
        del space.sessions[session.id]
        order = space.order
        del order[bisect.bisect_left(order, (session.updated_us, session.id))]
        self._count -= 1
        if not space.sessions:
            del self._spaces[session.scope]

    def _materialise(self, fork: _Session) -> None:
        """Give ``fork`` its own copy of what it shares with its base."""
        base = fork.base
        if base is None:
            return
        fork.own = base.messages(0, fork.base_point) + fork.own
        base.forks.discard(fork)
        fork.base = None
        fork.base_point = 0

    def _cut(self, session: _Session, start: int) -> None:
        """Drop messages ``start..`` (``start`` below the length)."""
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

    def _sweep(self) -> None:
        """Reclaim a bounded batch of expired sessions, soonest expired first.

        Runs first in every write, never in its middle: reclaiming materialises
        forks, which must not happen to a session an operation is editing.
        """
        heap = self._expiry
        if not heap:
            return
        now = self._now()
        for _ in range(_SWEEP_BATCH):
            if not heap or heap[0][0] > now:
                break
            _, scope, session_id = heapq.heappop(heap)
            space = self._spaces.get(scope)
            session = space.sessions.get(session_id) if space is not None else None
            if space is not None and session is not None and session.expired(now):
                self._remove(space, session)
        if len(heap) > 2 * self._count + 1024:
            # Sliding expiries leave stale entries behind; rebuild from the sessions.
            self._expiry = [
                (session.expires_us, scope, session.id)
                for scope, space in self._spaces.items()
                for session in space.sessions.values()
                if session.expires_us is not None
            ]
            heapq.heapify(self._expiry)

    # -- operations -------------------------------------------------------------

    def create(self, new: NewSession) -> SessionRecord:
        self._sweep()
        if self._find(new.scope, new.session_id) is not None:
            raise session_exists(new.session_id)
        session = _Session(new.session_id, new.scope, new.label, new.metadata or {}, new.ttl)
        session.own.extend(new.messages)
        return self._add(session)

    def fork(self, fork: ForkRequest) -> SessionRecord:
        self._sweep()
        parent = self._get(fork.scope, fork.parent_id)
        if self._find(fork.scope, fork.session_id) is not None:
            raise session_exists(fork.session_id)
        point = parent.length if fork.at is None else fork.at
        if point > parent.length:
            raise position_error("fork point", parent.length, fork.at)
        child = _Session(fork.session_id, fork.scope, fork.label, fork.metadata or {}, fork.ttl)
        child.parent_id = fork.parent_id
        child.fork_point = point
        if point:
            child.base = parent
            child.base_point = point
            parent.forks.add(child)
        return self._add(child)

    def write(self, write: MessageWrite) -> int:
        self._sweep()
        session = self._get(write.scope, write.session_id)
        done = recall_token(session.tokens, write.token)
        if done is not None:
            return done
        start, expected_length = write.start, write.expected_length
        if expected_length is not None and session.length != expected_length:
            raise length_conflict(write.session_id, expected_length, session.length)
        if start is not None and start != session.length:
            if start > session.length:
                raise position_error("replace start", session.length, start)
            self._cut(session, start)
        session.own.extend(write.messages)
        if write.label is not None:
            session.label = write.label
        if write.metadata is not None:
            session.metadata = write.metadata
        self._touch(session)
        remember_token(session.tokens, write.token, session.length)
        return session.length

    def pop(self, pop: PopRequest) -> list[str]:
        self._sweep()
        session = self._get(pop.scope, pop.session_id)
        length = session.length
        if pop.expected_length is not None and length != pop.expected_length:
            raise length_conflict(pop.session_id, pop.expected_length, length)
        start = max(0, length - pop.n)
        popped = session.messages(start, length)
        if start < length:
            self._cut(session, start)
        self._touch(session)
        return popped

    def read(self, session_id: str, last: int | None, scope: str) -> list[str]:
        session = self._get(scope, session_id)
        length = session.length
        lo = 0 if last is None else max(0, length - last)
        return session.messages(lo, length)

    def get(self, session_id: str, scope: str) -> SessionRecord | None:
        session = self._find(scope, session_id)
        return None if session is None else session.record()

    def page(self, limit: int, cursor: str | None, scope: str) -> SessionPage:
        space = self._spaces.get(scope)
        if space is None:
            return SessionPage()
        order = space.order
        end = len(order)
        if cursor is not None:
            micros, last_id = decode_cursor(cursor, int, str)
            end = bisect.bisect_left(order, (micros, last_id))
        now = self._now()
        live: list[_Session] = []
        expired: list[_Session] = []
        # One live session past the page tells whether there is a next one.
        for index in range(end - 1, -1, -1):
            session = space.sessions[order[index][1]]
            if session.expired(now):
                if len(expired) < _SWEEP_BATCH:
                    expired.append(session)
                continue
            live.append(session)
            if len(live) > limit:
                break
        items = [session.record() for session in live[:limit]]
        next_cursor = None
        if len(live) > limit:
            last = live[limit - 1]
            next_cursor = encode_cursor(last.updated_us, last.id)
        for session in expired:
            # After the walk: reclaiming edits ``order`` and maybe drops ``space``.
            self._remove(space, session)
        return SessionPage(items=items, next_cursor=next_cursor)

    def update(
        self, session_id: str, label: str | None, metadata: dict[str, Any] | None, scope: str
    ) -> SessionRecord:
        self._sweep()
        session = self._get(scope, session_id)
        if label is not None:
            session.label = label
        if metadata is not None:
            session.metadata = metadata
        self._touch(session)
        return session.record()

    def delete(self, session_id: str, scope: str) -> bool:
        self._sweep()
        session = self._find(scope, session_id)
        if session is None:
            return False
        self._remove(self._spaces[scope], session)
        return True

    def scopes(self) -> list[str]:
        """Return the scopes holding sessions (empty scopes are dropped as they empty)."""
        return list(self._spaces)
