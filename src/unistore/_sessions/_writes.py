"""One save's write, sent with an idempotency token so a retry is applied once.

A save whose reply is lost (a timeout, a dropped connection, a cancelled
task) may or may not have been applied. The saver keeps such a write *in
doubt* and, before its next write, sends it again with the same token: the
store either recognises the token and returns the earlier result, applies it
now, or reports a conflict (it was not applied and someone else wrote). So a
retried or rebased save never writes a message twice.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from unistore.errors import (
    ConfigurationError,
    NotSupportedError,
    SessionError,
    SlotKindError,
    StoreClosedError,
    ValidationError,
)
from unistore.protocols import SessionDocuments

__all__ = ["MessagesWrite", "not_applied"]

# Errors that prove the store did not apply the write: a retry must not repeat it.
_NOT_APPLIED = (
    SessionError,
    ValidationError,
    SlotKindError,
    NotSupportedError,
    StoreClosedError,
    ConfigurationError,
)


def not_applied(error: BaseException) -> bool:
    """Whether ``error`` proves that a write was not applied (else it is in doubt)."""
    return isinstance(error, _NOT_APPLIED)


@dataclass(frozen=True, slots=True)
class MessagesWrite:
    """An append (``start == expected``) or an edit from ``start``, with its token.

    Attributes:
        session_id: The session written.
        start: The first position written.
        expected: The length the session must have.
        texts: The JSON texts written from ``start``.
        label: The label set with the write, or ``None``.
        metadata: The metadata set with the write, or ``None``.
        token: The idempotency token (fresh per write, kept across its retries).
    """

    session_id: str
    start: int
    expected: int
    texts: list[str]
    label: str | None
    metadata: Mapping[str, Any] | None
    token: str

    @classmethod
    def new(
        cls,
        session_id: str,
        start: int,
        expected: int,
        texts: list[str],
        label: str | None,
        metadata: Mapping[str, Any] | None,
    ) -> MessagesWrite:
        """Return a write with a fresh random token."""
        return cls(session_id, start, expected, texts, label, metadata, secrets.token_urlsafe(18))

    async def send(self, store: SessionDocuments, scope: str | None) -> int:
        """Send the write; return the session's length after it.

        Raises:
            SessionConflictError: The session does not have ``expected``
                messages and never applied this token.
        """
        options: dict[str, Any] = {
            "expected_length": self.expected,
            "token": self.token,
            "scope": scope,
            "label": self.label,
            "metadata": self.metadata,
        }
        if self.start == self.expected:
            return await store.append_messages(self.session_id, self.texts, **options)
        return await store.replace_messages(self.session_id, self.start, self.texts, **options)
