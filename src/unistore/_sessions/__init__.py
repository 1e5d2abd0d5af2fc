"""Durable LLM conversations: Conversation, SessionManager, their events, generic sessions.

The names are loaded on first use, so that importing a submodule (the generic
session documents in ``_kv`` notably) does not load the products with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unistore._sessions._conversation import (
        ChildSpawnedEvent,
        Conversation,
        ConversationKind,
    )
    from unistore._sessions._draft import MessageDraft
    from unistore._sessions._events import (
        LifecycleErrorEvent,
        LoadEvent,
        MessageCompleteEvent,
        MessagesChangedEvent,
        SaveEvent,
    )
    from unistore._sessions._kv import KVSessionDocuments, KVSessionDocumentsMixin
    from unistore._sessions._manager import SessionManager

__all__ = [
    "ChildSpawnedEvent",
    "Conversation",
    "ConversationKind",
    "KVSessionDocuments",
    "KVSessionDocumentsMixin",
    "LifecycleErrorEvent",
    "LoadEvent",
    "MessageCompleteEvent",
    "MessageDraft",
    "MessagesChangedEvent",
    "SaveEvent",
    "SessionManager",
]

#: Each name and the module defining it.
_HOMES: dict[str, str] = {
    **dict.fromkeys(
        ["ChildSpawnedEvent", "Conversation", "ConversationKind"],
        "unistore._sessions._conversation",
    ),
    "MessageDraft": "unistore._sessions._draft",
    **dict.fromkeys(
        [
            "LifecycleErrorEvent",
            "LoadEvent",
            "MessageCompleteEvent",
            "MessagesChangedEvent",
            "SaveEvent",
        ],
        "unistore._sessions._events",
    ),
    **dict.fromkeys(["KVSessionDocuments", "KVSessionDocumentsMixin"], "unistore._sessions._kv"),
    "SessionManager": "unistore._sessions._manager",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
