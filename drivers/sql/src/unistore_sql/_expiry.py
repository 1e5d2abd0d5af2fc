"""Deadlines as stored: slots in float seconds, sessions in whole microseconds.

Both come from the store's clock and reach every statement as parameters.
"""

from __future__ import annotations

import math
from typing import Final

#: ``slots.expires_at`` of a slot without expiry: later than any clock
#: reading, so "live" stays ``expires_at > now`` and no sweep ever reaches it,
#: and the column keeps the NOT NULL constraint of earlier schema versions.
NEVER: Final = 2.0**62


def slot_deadline(now: float, ttl: float | None) -> float:
    """Return ``expires_at`` for a slot written at ``now`` (``ttl`` None: never)."""
    return NEVER if ttl is None else now + ttl


def seconds_left(deadline: float, now: float) -> float:
    """Return a live slot's remaining seconds, ``math.inf`` if it never expires."""
    if deadline >= NEVER:
        return math.inf
    return max(0.0, deadline - now)
