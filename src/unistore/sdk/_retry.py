"""One backoff policy for every retry loop: CAS, session commits, locks, busy databases.

Exponential growth with jitter, capped, optionally bounded by a deadline.
Loops keep their own control flow (what counts as retryable differs); the
waiting is decided here, once.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Final, Literal

from unistore.errors import StoreTimeoutError

__all__ = ["Backoff", "Deadline"]

_MAX_EXPONENT: Final = 30


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before retry number ``attempt`` (1 for the first retry).

    Attributes:
        base: The bound of the first wait, in seconds.
        cap: The largest bound, in seconds.
        factor: Growth of the bound per attempt.
        jitter: ``"full"`` waits a uniform time in ``[0, bound]`` (AWS's "full
            jitter": colliding writers spread out best); ``"equal"`` waits in
            ``[bound/2, 3*bound/2]`` (lock polling, where a floor avoids
            spinning).
    """

    base: float = 0.005
    cap: float = 0.5
    factor: float = 2.0
    jitter: Literal["full", "equal"] = "full"

    def bound(self, attempt: int) -> float:
        """Return the un-jittered wait before retry ``attempt``."""
        exponent = min(max(attempt, 1) - 1, _MAX_EXPONENT)
        return float(min(self.cap, self.base * self.factor**exponent))

    def delay(self, attempt: int) -> float:
        """Return the jittered wait before retry ``attempt``."""
        bound = self.bound(attempt)
        if self.jitter == "full":
            return random.random() * bound
        return bound * (0.5 + random.random())

    async def sleep(self, attempt: int) -> None:
        """Wait before retry ``attempt`` (asyncio)."""
        import asyncio  # only colliding writers pay for the import

        await asyncio.sleep(self.delay(attempt))


class Deadline:
    """A time budget for a retry loop: waits never run past it.

    Args:
        seconds: The budget.
        what: What is being waited for, for the timeout message.
        backoff: The wait policy.
    """

    def __init__(self, seconds: float, what: str, backoff: Backoff) -> None:
        self._end = time.monotonic() + seconds
        self._seconds = seconds
        self._what = what
        self._backoff = backoff
        self._attempt = 0

    def next_delay(self) -> float:
        """Return the wait before the next attempt, within the budget.

        Raises:
            StoreTimeoutError: The budget is spent.
        """
        left = self._end - time.monotonic()
        if left <= 0:
            raise StoreTimeoutError(f"could not {self._what} within {self._seconds:g} s")
        self._attempt += 1
        return min(self._backoff.delay(self._attempt), left)
