"""The options of the file driver (URL query or ``connect()`` keywords)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from unistore.protocols import Option
from unistore.sdk import CLOCK_OPTION, CREATE_OPTION

__all__ = ["OPTIONS"]


def _durability(value: Any) -> str:
    if value not in ("fsync", "flush"):
        raise ValueError("expected 'fsync' or 'flush'")
    return str(value)


def _interval(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a number of seconds")
    seconds = float(value)
    if not 0 <= seconds < math.inf:
        raise ValueError("expected a number of seconds >= 0")
    return seconds


def _seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a number of seconds")
    seconds = float(value)
    if not 0 < seconds < math.inf:
        raise ValueError("expected a positive number of seconds")
    return seconds


def _count(minimum: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, (bool, float)):
            raise TypeError("expected an integer")
        number = int(value)
        if number < minimum:
            raise ValueError(f"expected an integer >= {minimum}")
        return number

    return parse


_SWEEP_EVERY = _count(0)
_SWEEP_BATCH = _count(1)

OPTIONS: tuple[Option, ...] = (
    Option(
        "durability",
        _durability,
        "fsync",
        "fsync: every write is on disk before it returns; flush: survives a crashed "
        "process but not a power cut",
        check=_durability,
    ),
    Option(
        "lock_timeout",
        _seconds,
        10.0,
        "seconds to wait for a lock held by another process",
        check=_seconds,
    ),
    Option(
        "sweep_every",
        _SWEEP_EVERY,
        256,
        "writes between two wake-ups of the expiry sweeper (0: writes never wake it)",
        check=_SWEEP_EVERY,
    ),
    Option(
        "sweep_batch",
        _SWEEP_BATCH,
        500,
        "directory entries the first step of an expiry sweep run examines (it then adapts)",
        check=_SWEEP_BATCH,
    ),
    Option(
        "sweep_interval",
        _interval,
        60.0,
        "seconds between two expiry sweep runs started by the timer (0: no timer)",
        check=_interval,
    ),
    # The driver computes every expiry and updated_at itself: tests inject time.
    CLOCK_OPTION,
    CREATE_OPTION,
)
"""Every option the file driver accepts, with its default."""
