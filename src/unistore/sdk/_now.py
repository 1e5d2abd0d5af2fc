"""The answer of a read-at-once primitive that cannot answer without waiting.

A driver whose backend can sometimes answer a point read synchronously (an
embedded database on the loop's thread, a local cache) implements the
optional ``_get_now`` / ``_hget_now`` primitives next to ``_get`` / ``_hget``.
The SDK calls the synchronous form first and awaits the asynchronous one only
when it returns :data:`LATER`: a read answered at once costs no coroutine.
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["LATER", "Later"]


class Later(enum.Enum):
    """The type of :data:`LATER` (an enum, so that ``x is LATER`` narrows types)."""

    LATER = "later"

    def __repr__(self) -> str:
        return "LATER"


#: Returned by ``_get_now`` / ``_hget_now``: "not at once; await ``_get`` / ``_hget``".
LATER: Final = Later.LATER
