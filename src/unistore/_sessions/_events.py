"""Plain synchronous callbacks and the payloads of conversation and session events.

Payloads are named tuples: immutable, cheap to create, and quick to define at
import time (``import unistore`` must stay fast).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from unistore.errors import ValidationError

if TYPE_CHECKING:
    from unistore._sessions._conversation import Conversation

__all__ = [
    "ChildSpawnedEvent",
    "EventHub",
    "LifecycleErrorEvent",
    "LoadEvent",
    "MessageCompleteEvent",
    "MessagesChangedEvent",
    "SaveEvent",
]

logger = logging.getLogger("unistore.sessions")


class EventHub:
    """Callbacks per event name, called in subscription order.

    A callback that raises is logged and skipped: one faulty subscriber must
    not break the others, nor the code that emitted the event (an LLM loop).
    """

    __slots__ = ("_callbacks", "_owner")

    def __init__(self, names: Sequence[str], owner: str) -> None:
        self._callbacks: dict[str, list[Callable[..., object]]] = {name: [] for name in names}
        self._owner = owner

    def subscribe(self, event: str, callback: Callable[..., object]) -> Callable[[], None]:
        callbacks = self._callbacks.get(event)
        if callbacks is None:
            known = ", ".join(sorted(self._callbacks))
            raise ValidationError(f"{self._owner} has no event {event!r} (known: {known})")
        if not callable(callback):
            raise ValidationError(f"the callback for {event!r} is not callable")
        if inspect.iscoroutinefunction(callback):
            # Nothing would await it: the event (a lifecycle_error even) would be lost.
            raise ValidationError(
                f"the callback for {event!r} is an async function; callbacks run "
                "synchronously (start a task from a plain function instead)"
            )
        # A wrapper per subscription, so the same function subscribed twice is
        # unsubscribed once per call of the returned function.
        entry: list[Callable[..., object]] = [callback]

        def call(*args: Any) -> object:
            return entry[0](*args)

        callbacks.append(call)

        def unsubscribe() -> None:
            if call in callbacks:
                callbacks.remove(call)

        return unsubscribe

    def has_subscribers(self, event: str) -> bool:
        return bool(self._callbacks.get(event))

    def emit(self, event: str, *args: Any) -> None:
        for callback in tuple(self._callbacks[event]):
            try:
                callback(*args)
            except Exception:
                logger.exception("a %s callback of %s raised; ignored", event, self._owner)

    def clear(self) -> None:
        for callbacks in self._callbacks.values():
            callbacks.clear()


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


class ChildSpawnedEvent(NamedTuple):
    """A child conversation was spawned.

    Attributes:
        child: The new conversation (its ``kind`` says what it is for).
    """

    child: Conversation


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
