"""Generic SessionDocuments on any store with hashes and optimistic transactions.

:class:`KVSessionDocuments` works on any such store; :class:`KVSessionDocumentsMixin`
gives an SDK store class the capability by delegating to one. Importing this
package loads neither asyncio nor the session products.
"""

from __future__ import annotations

from unistore._sessions._kv._documents import KVSessionDocuments
from unistore._sessions._kv._mixin import KVSessionDocumentsMixin
from unistore._sessions._kv._ops import KVSessionStore

__all__ = ["KVSessionDocuments", "KVSessionDocumentsMixin", "KVSessionStore"]
