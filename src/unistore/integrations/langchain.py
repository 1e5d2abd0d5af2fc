"""LangChain on unistore: key-value stores and chat message histories on any driver.

Install with ``pip install "unistore[langchain]"``::

    from unistore.integrations.langchain import (
        UnistoreByteStore,
        UnistoreChatMessageHistory,
        UnistoreStore,
    )

    cache = UnistoreByteStore("redis://localhost:6379/0", namespace="embeddings")
    history = UnistoreChatMessageHistory("user-42", "sqlite:///chats.db", scope="support")

* :class:`UnistoreByteStore` - a ``BaseStore[str, bytes]`` (LangChain's
  ``ByteStore``), for ``CacheBackedEmbeddings`` and document stores.
* :class:`UnistoreStore` - a ``BaseStore[str, Any]`` for JSON-serialisable values.
* :class:`UnistoreChatMessageHistory` - a ``BaseChatMessageHistory`` on a
  unistore session, appended to atomically.

Each takes a store URL (opened by the object, closed by its ``close()``) or an
open store (borrowed). The async methods are native; the blocking ones work
from any thread and from code without an event loop.
"""

from __future__ import annotations

from unistore.integrations._langchain._history import UnistoreChatMessageHistory
from unistore.integrations._langchain._kv import UnistoreByteStore, UnistoreStore

__all__ = ["UnistoreByteStore", "UnistoreChatMessageHistory", "UnistoreStore"]

for _cls in (UnistoreByteStore, UnistoreChatMessageHistory, UnistoreStore):
    # Shown (and documented) where users import them from.
    _cls.__module__ = __name__
del _cls
