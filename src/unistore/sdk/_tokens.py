"""The idempotency-token log of one session, for drivers that keep it as data.

A driver that stores a session's state as one document (memory, files, the
KV-backed sessions) keeps the tokens of its latest writes in an
insertion-ordered ``dict`` of token to the length that write produced.
Drivers with a server-side log (a Redis list, an SQL table) apply the same
rule there: look the token up first, and remember it in the same atomic step
as the write, keeping at least :data:`TOKENS_KEPT` of them.
"""

from __future__ import annotations

from typing import Final

__all__ = ["TOKENS_KEPT", "recall_token", "remember_token"]

#: How many of the latest idempotency tokens a driver keeps per session, at
#: least; a retry within the last this-many writes is recognised.
TOKENS_KEPT: Final = 100


def recall_token(tokens: dict[str, int], token: str | None) -> int | None:
    """Return the length an earlier write with ``token`` produced, or ``None``."""
    if token is None:
        return None
    return tokens.get(token)


def remember_token(tokens: dict[str, int], token: str | None, length: int) -> None:
    """Record the length the write with ``token`` produced; forget the oldest past the limit."""
    if token is None:
        return
    tokens.pop(token, None)
    tokens[token] = length
    while len(tokens) > TOKENS_KEPT:
        del tokens[next(iter(tokens))]
