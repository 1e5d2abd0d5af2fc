"""The payloads of conversation and session events.

Payloads are named tuples: immutable, cheap to create, and quick to define at
import time (``import unistore`` must stay fast). :class:`ChildSpawnedEvent`,
which carries a conversation, lives with :class:`Conversation`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

__all__ = [
    "LifecycleErrorEvent",
    "LoadEvent",
    "MessageCompleteEvent",
    "MessagesChangedEvent",
    "SaveEvent",
]


class MessageCompleteEvent(NamedTuple):
    """A message was completed and added to a conversation.

    Attributes:
        position: Its index in :attr:`Conversation.messages`.
        message: The stored message.
    """

    position: int
    message: Mapping[str, Any]


class MessagesChangedEvent(NamedTuple):
    """Messages already in a conversation were edited, removed or swapped out.

    Attributes:
        start: The first position that may differ from before.
        reason: ``"replace"`` (one message edited), ``"truncate"`` (messages
            removed from ``start`` on) or ``"reset"`` (the whole list was
            swapped, as when a session is loaded).
    """

    start: int
    reason: Literal["replace", "truncate", "reset"]


class LoadEvent(NamedTuple):
    """A session was loaded into the conversation.

    Attributes:
        id: The session id.
        messages: The loaded messages, in order.
    """

    id: str
    messages: Sequence[Mapping[str, Any]]


class SaveEvent(NamedTuple):
    """A save wrote to the store.

    Only what changed is written, so ``messages`` holds the messages this save
    wrote, which start at position ``start``; ``length`` is the stored length
    afterwards (a save that only removed messages has ``messages == ()``).

    Attributes:
        id: The session id.
        messages: The messages written by this save.
        start: The position of the first message written.
        length: The number of messages stored after the save.
    """

    id: str
    messages: Sequence[Mapping[str, Any]]
    start: int
    length: int


class LifecycleErrorEvent(NamedTuple):
    """A background operation (auto-save, child session, dispose) failed.

    Attributes:
        error: The exception.
        operation: ``"auto_save"``, ``"child_session"`` or ``"dispose"``.
        context: Details such as ``session_id`` and ``unsaved`` (how many
            messages are still waiting to be saved).
    """

    error: Exception
    operation: str
    context: Mapping[str, Any]
