"""Durable LLM conversations: Conversation, SessionManager and their events."""

from __future__ import annotations

from unistore._sessions._conversation import Conversation, ConversationKind, MessageDraft
from unistore._sessions._events import (
    ChildSpawnedEvent,
    LifecycleErrorEvent,
    LoadEvent,
    MessageCompleteEvent,
    MessagesChangedEvent,
    SaveEvent,
)
from unistore._sessions._manager import SessionManager

__all__ = [
    "ChildSpawnedEvent",
    "Conversation",
    "ConversationKind",
    "LifecycleErrorEvent",
    "LoadEvent",
    "MessageCompleteEvent",
    "MessageDraft",
    "MessagesChangedEvent",
    "SaveEvent",
    "SessionManager",
]
