"""A mixin that gives a hash-and-transaction store the SessionDocuments methods."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, cast

from unistore._kv_sessions import KVSessionDocuments, KVSessionStore
from unistore._kv_sessions_layout import DEFAULT_NAMESPACE
from unistore.protocols import SessionPage, SessionRecord

__all__ = ["KVSessionDocumentsMixin"]


class KVSessionDocumentsMixin:
    """SessionDocuments for a store class, by delegation to :class:`KVSessionDocuments`.

    Put it before the base class and declare the capability::

        class MyStore(KVSessionDocumentsMixin, BaseStore):
            CAPABILITIES = frozenset({Capability.HASH, Capability.TRANSACTIONS,
                                      Capability.SESSION_DOCUMENTS, ...})

    The store must implement the Hash and Transactions capabilities. Set
    :attr:`kv_sessions_namespace` to move the sessions to another namespace.

    Attributes:
        kv_sessions_namespace: The namespace reserved for sessions.
    """

    kv_sessions_namespace: ClassVar[str] = DEFAULT_NAMESPACE
    _kv_sessions_impl: KVSessionDocuments | None = None

    @property
    def kv_sessions(self) -> KVSessionDocuments:
        """The :class:`KVSessionDocuments` the session methods delegate to."""
        impl = self._kv_sessions_impl
        if impl is None:
            impl = KVSessionDocuments(
                cast(KVSessionStore, self), namespace=type(self).kv_sessions_namespace
            )
            self._kv_sessions_impl = impl
        return impl

    async def create_session(
        self,
        session_id: str,
        *,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Create an empty session (see :class:`~unistore.protocols.SessionDocuments`)."""
        return await self.kv_sessions.create_session(session_id, label=label, metadata=metadata)

    async def fork_session(
        self,
        parent_id: str,
        session_id: str,
        *,
        at: int | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Fork a session in O(1)."""
        return await self.kv_sessions.fork_session(
            parent_id, session_id, at=at, label=label, metadata=metadata
        )

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[str],
        *,
        expected_length: int,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Append messages if the session has exactly ``expected_length``."""
        return await self.kv_sessions.append_messages(
            session_id,
            messages,
            expected_length=expected_length,
            label=label,
            metadata=metadata,
        )

    async def replace_messages(
        self,
        session_id: str,
        start: int,
        messages: Sequence[str],
        *,
        expected_length: int,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Drop messages from ``start`` on and append ``messages``."""
        return await self.kv_sessions.replace_messages(
            session_id,
            start,
            messages,
            expected_length=expected_length,
            label=label,
            metadata=metadata,
        )

    async def read_messages(self, session_id: str, *, last: int | None = None) -> list[str]:
        """Return all messages, or the last ``last`` ones."""
        return await self.kv_sessions.read_messages(session_id, last=last)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """Return a session's record, or ``None``."""
        return await self.kv_sessions.get_session(session_id)

    async def list_sessions(self, *, limit: int = 50, cursor: str | None = None) -> SessionPage:
        """Return records newest first, paged."""
        return await self.kv_sessions.list_sessions(limit=limit, cursor=cursor)

    async def update_session(
        self,
        session_id: str,
        *,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Replace the label and/or metadata."""
        return await self.kv_sessions.update_session(session_id, label=label, metadata=metadata)

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session; its forks keep what they load."""
        return await self.kv_sessions.delete_session(session_id)
