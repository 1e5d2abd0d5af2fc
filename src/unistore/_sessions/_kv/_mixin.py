"""KVSessionDocumentsMixin: an SDK store gets SessionDocuments from its hashes and transactions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar, cast

from unistore._sessions._kv._documents import KVSessionDocuments
from unistore._sessions._kv._layout import DEFAULT_NAMESPACE
from unistore._sessions._kv._ops import KVSessionStore
from unistore.protocols import SessionPage, SessionRecord
from unistore.sdk import (
    ForkRequest,
    MessageWrite,
    NewSession,
    PopRequest,
    SessionDocumentsBase,
)

__all__ = ["KVSessionDocumentsMixin"]


class KVSessionDocumentsMixin(SessionDocumentsBase):
    """SessionDocuments for an SDK store class, by delegation to :class:`KVSessionDocuments`.

    It implements the :class:`~unistore.sdk.SessionDocumentsBase` primitives;
    the public session methods (closed check, argument checks, error mapping)
    are the SDK's. Put it first, with the store's other capability bases; the
    store must implement Hash and Transactions::

        class MyStore(KVSessionDocumentsMixin, HashBase, TransactionsBase):
            NAME = "mine"
            ...  # the hash and transaction primitives

    :attr:`~unistore.sdk.StoreBase.capabilities` then includes
    ``SESSION_DOCUMENTS``. Set :attr:`kv_sessions_namespace` to move the
    sessions to another namespace.

    Attributes:
        kv_sessions_namespace: The namespace reserved for sessions.
    """

    kv_sessions_namespace: ClassVar[str] = DEFAULT_NAMESPACE
    _kv_sessions_impl: KVSessionDocuments | None = None

    @property
    def kv_sessions(self) -> KVSessionDocuments:
        """The :class:`KVSessionDocuments` the primitives delegate to (made on first use)."""
        impl = self._kv_sessions_impl
        if impl is None:
            impl = KVSessionDocuments(
                cast(KVSessionStore, self), namespace=type(self).kv_sessions_namespace
            )
            self._kv_sessions_impl = impl
        return impl

    async def _create_session(self, new: NewSession) -> SessionRecord:
        return await self.kv_sessions._create_session(new)

    async def _fork_session(self, fork: ForkRequest) -> SessionRecord:
        return await self.kv_sessions._fork_session(fork)

    async def _write_messages(self, write: MessageWrite) -> int:
        return await self.kv_sessions._write_messages(write)

    async def _pop_messages(self, pop: PopRequest) -> list[str]:
        return await self.kv_sessions._pop_messages(pop)

    async def _read_messages(self, session_id: str, last: int | None, scope: str) -> list[str]:
        return await self.kv_sessions._read_messages(session_id, last, scope)

    async def _get_session(self, session_id: str, scope: str) -> SessionRecord | None:
        return await self.kv_sessions._get_session(session_id, scope)

    async def _list_sessions(self, limit: int, cursor: str | None, scope: str) -> SessionPage:
        return await self.kv_sessions._list_sessions(limit, cursor, scope)

    async def _update_session(
        self, session_id: str, label: str | None, metadata: dict[str, Any] | None, scope: str
    ) -> SessionRecord:
        return await self.kv_sessions._update_session(session_id, label, metadata, scope)

    async def _delete_session(self, session_id: str, scope: str) -> bool:
        return await self.kv_sessions._delete_session(session_id, scope)

    async def _scopes(self) -> AsyncIterator[str]:
        async for scope in self.kv_sessions._scopes():
            yield scope
