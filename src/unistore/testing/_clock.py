"""A manual clock for expiry tests, and ``pass_time``: advance it or really wait.

A driver that computes expiry itself declares the ``clock`` option
(:data:`unistore.sdk.CLOCK_OPTION`); the suite then connects it with a
:class:`ManualClock` and lets TTLs run out instantly. A driver whose server
keeps time (Redis, PostgreSQL's ``now()``) does not declare it, and the same
tests really sleep.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import unistore
from unistore.errors import UnknownSchemeError

__all__ = [
    "LONG_WHILE",
    "ManualClock",
    "clock_for",
    "pass_a_long_time",
    "pass_time",
    "supports_clock",
]


class ManualClock:
    """A wall clock that moves only when told: seconds since the epoch.

    Pass it as ``unistore.connect(url, clock=ManualClock())`` to a driver that
    declares the ``clock`` option.

    Args:
        start: The initial time (default: the real time now, so that stored
            timestamps stay plausible).
    """

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else float(start)

    def __call__(self) -> float:
        """Return the current (manual) time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (at least 0)."""
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self.now += seconds

    def __repr__(self) -> str:
        return f"ManualClock({self.now!r})"


#: One manual clock per store URL for the whole run: a driver may bind the clock
#: to data shared by every connection to a name (``memory://NAME`` does), so two
#: tests on one URL must not bring two clocks. Tests only move it forward.
_CLOCKS: dict[str, ManualClock] = {}


def clock_for(url: str) -> ManualClock:
    """Return the manual clock of every suite store opened on ``url`` in this process."""
    clock = _CLOCKS.get(url)
    if clock is None:
        clock = _CLOCKS[url] = ManualClock()
    return clock


def supports_clock(url: str) -> bool:
    """Return whether the driver of ``url`` declares an option named ``clock``."""
    try:
        driver = unistore.get_driver(unistore.StoreURL.parse(url).scheme)
    except UnknownSchemeError:
        return False
    return any(option.name == "clock" for option in driver.options)


def clock_of(store_or_clock: Any) -> ManualClock | None:
    """Return the manual clock of a store (its ``clock`` attribute), or the clock given."""
    if isinstance(store_or_clock, ManualClock):
        return store_or_clock
    clock = getattr(store_or_clock, "clock", None)
    return clock if isinstance(clock, ManualClock) else None


async def pass_time(store_or_clock: Any, seconds: float) -> None:
    """Let ``seconds`` pass for a store: advance its manual clock, or really sleep.

    Args:
        store_or_clock: A store opened by the suite (a manual clock is found on
            its ``clock`` attribute), a :class:`ManualClock`, or ``None``.
        seconds: How long expiry must see pass.
    """
    clock = clock_of(store_or_clock)
    if clock is None:
        await asyncio.sleep(seconds)
        return
    clock.advance(seconds)
    # Let other tasks run, as a real wait would.
    await asyncio.sleep(0)


#: How far :func:`pass_a_long_time` moves a manual clock: longer than any
#: "practically forever" TTL a driver might use in place of no expiry.
LONG_WHILE = 400 * 24 * 3600.0


async def pass_a_long_time(store_or_clock: Any, real_seconds: float) -> None:
    """Let a long while pass: :data:`LONG_WHILE` on a manual clock, else really wait.

    Args:
        store_or_clock: As for :func:`pass_time`.
        real_seconds: How long to sleep when time is real (keep it short).
    """
    if clock_of(store_or_clock) is None:
        await asyncio.sleep(real_seconds)
    else:
        await pass_time(store_or_clock, LONG_WHILE)
