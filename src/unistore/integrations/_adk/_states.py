"""The session state this service last saw stored, by session and revision."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any


class StateCache:
    """Saves ``append_event`` the read of the stored state before it appends.

    An entry is the session state stored at one revision (message count) of
    one session. A session's state changes only with an append, and an append
    changes the count, so an entry that matches the revision the caller's
    session object names is what the store holds at that revision; the append
    itself is then conditional on that revision, so a stale entry can never
    be written over another writer's events. Bounded, least recently used
    out; shared by the loops and threads that call one service.
    """

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, str], tuple[int, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, scope: str, session_id: str, revision: int) -> dict[str, Any] | None:
        """Return a copy of the state stored at ``revision``, if known."""
        key = (scope, session_id)
        with self._lock:
            entry = self._items.get(key)
            if entry is None or entry[0] != revision:
                return None
            self._items.move_to_end(key)
            return dict(entry[1])

    def put(self, scope: str, session_id: str, revision: int, state: dict[str, Any]) -> None:
        """Remember the state stored at ``revision`` (the caller no longer changes it)."""
        with self._lock:
            self._items[(scope, session_id)] = (revision, state)
            self._items.move_to_end((scope, session_id))
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def drop(self, scope: str, session_id: str) -> None:
        """Forget a session (deleted)."""
        with self._lock:
            self._items.pop((scope, session_id), None)
