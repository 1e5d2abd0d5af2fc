"""The retry loop of generic session operations: conflicts, restarts, remembered watches.

An operation is an *attempt*: one transaction, given the :class:`Hints` of what
it must watch besides the session itself. It is run again when another writer
wins (:class:`~unistore.errors.TransactionConflictError`, after a backoff) or
when it finds it must watch more (:class:`Restart`, at once), a bounded number
of times.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from unistore._sessions._kv._layout import Names, encode_id
from unistore._sessions._kv._storage import Hints, Inconsistent, Restart
from unistore.errors import ContentionError, CorruptionError, TransactionConflictError
from unistore.sdk import Backoff, short

__all__ = ["BACKOFF", "NO_HINTS", "Attempt", "Runner"]

_T = TypeVar("_T")

Attempt = Callable[[Hints], Awaitable[_T]]

#: Waits between attempts that lost to another writer: short, since a session
#: transaction is a few round trips, and jittered so colliding writers spread out.
BACKOFF: Final = Backoff(base=0.001, cap=0.05)

#: Sessions whose watch hints are remembered (the oldest is forgotten first).
_HINTS_KEPT: Final = 1024

NO_HINTS: Final = Hints()


class Runner:
    """Runs attempts until one commits, remembering per session what reads must watch.

    Sessions are remembered by ``(scope, id)``: one id in two scopes is two sessions.

    Args:
        max_attempts: Tries of one operation before
            :class:`~unistore.errors.ContentionError`.
        backoff: The wait before each retry after a conflict.
    """

    def __init__(self, max_attempts: int, backoff: Backoff = BACKOFF) -> None:
        self.max_attempts = max_attempts
        self._backoff = backoff
        self._hints: dict[tuple[str, str], Hints] = {}

    def forget(self, names: Names, session_id: str) -> None:
        """Drop what was remembered about a session (it was deleted)."""
        self._hints.pop((names.scope, session_id), None)

    async def run(
        self, attempt: Attempt[_T], session_id: str, names: Names, *, hinted: bool = False
    ) -> _T:
        """Run ``attempt`` until it commits; ``hinted`` ones start from the last hints.

        Only reads, edits and deletes take hints: what they watch besides the
        session's own record (its forks and bases) is remembered per session,
        which spares the attempt that would only discover it.

        Raises:
            ContentionError: Other writers won every attempt.
            CorruptionError: Data the watches promise stayed missing.
        """
        cache = self._hints
        key = (names.scope, session_id)
        hints = cache.get(key, NO_HINTS) if hinted else NO_HINTS
        remembered = hints is not NO_HINTS
        conflict: TransactionConflictError | None = None
        inconsistent = False
        for number in range(1, self.max_attempts + 1):
            try:
                result = await attempt(hints)
            except Restart as restart:
                hints, remembered = restart.hints, False
                inconsistent = isinstance(restart, Inconsistent)
            except TransactionConflictError as exc:
                conflict, inconsistent = exc, False
                if remembered:
                    # They may name sessions no longer involved, whose changes
                    # then conflict for nothing: discover them afresh.
                    hints, remembered = NO_HINTS, False
                if number < self.max_attempts:
                    await self._backoff.sleep(number)
            else:
                if hinted:
                    cache.pop(key, None)
                    if hints != NO_HINTS:
                        if len(cache) >= _HINTS_KEPT:
                            del cache[next(iter(cache))]
                        cache[key] = hints
                return result
        if inconsistent:
            raise CorruptionError(f"session {short(session_id)} refers to missing data")
        slots = conflict.slots if conflict is not None else (names.meta(encode_id(session_id)),)
        raise ContentionError(
            f"session {short(session_id)} kept changing; gave up after "
            f"{self.max_attempts} attempts",
            slots=slots,
            attempts=self.max_attempts,
        ) from conflict
