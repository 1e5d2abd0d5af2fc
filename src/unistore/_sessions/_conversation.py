"""Conversation: an observable, ordered list of JSON message dicts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, NamedTuple, overload

from unistore._sessions._draft import MessageDraft
from unistore._sessions._events import MessageCompleteEvent, MessagesChangedEvent
from unistore._sessions._hub import EventHub
from unistore._sessions._messages import ListView, encode_message
from unistore.errors import ValidationError

__all__ = ["ChildSpawnedEvent", "Conversation", "ConversationKind"]

ConversationKind = Literal["root", "subagent", "checkpoint"]
_CHILD_KINDS = ("subagent", "checkpoint")
_EVENTS = ("message_complete", "messages_changed", "child_spawned", "ended")


class ChildSpawnedEvent(NamedTuple):
    """A child conversation was spawned.

    Attributes:
        child: The new conversation (its ``kind`` says what it is for).
    """

    child: Conversation


class Conversation:
    """An ordered list of JSON-compatible messages that an LLM loop appends to.

    A message is a mapping with a ``role`` string and anything else JSON can
    hold (``content`` as text or blocks, tool calls, ids). Each message is
    copied when it is completed; change one afterwards with :meth:`replace`,
    not in place (in-place edits are not seen by observers, nor saved).

    Events (subscribe with :meth:`on`; callbacks run synchronously, in order):

    * ``message_complete`` (:class:`MessageCompleteEvent`): a message was added;
    * ``messages_changed`` (:class:`MessagesChangedEvent`): existing messages
      were edited or removed, or the whole list was swapped;
    * ``child_spawned`` (:class:`ChildSpawnedEvent`): :meth:`spawn_child`;
    * ``ended`` (no payload): :meth:`end`.

    Args:
        messages: Initial messages (no events are emitted for them).
        kind: ``"root"`` for a top-level conversation; children made by
            :meth:`spawn_child` are ``"subagent"`` or ``"checkpoint"``.
    """

    def __init__(
        self, messages: Iterable[Mapping[str, Any]] = (), *, kind: ConversationKind = "root"
    ) -> None:
        if kind not in ("root", *_CHILD_KINDS):
            raise ValidationError(f"unknown conversation kind {kind!r}")
        self._messages: list[dict[str, Any]] = []
        # The JSON text of each message, made once when it is completed, so
        # that saving never re-encodes the history.
        self._encoded: list[str] = []
        for message in messages:
            copy, text = encode_message(message)
            self._messages.append(copy)
            self._encoded.append(text)
        self._view = ListView(self._messages, "messages")
        self._texts = ListView(self._encoded, "json messages")
        self._kind: ConversationKind = kind
        self._parent: Conversation | None = None
        self._children: list[Conversation] = []
        self._inherited = 0
        self._ended = False
        self._events = EventHub(_EVENTS, "Conversation")

    # -- state --------------------------------------------------------------

    @property
    def messages(self) -> Sequence[Mapping[str, Any]]:
        """The completed messages: a live, read-only view."""
        return self._view

    @property
    def kind(self) -> ConversationKind:
        """``"root"``, ``"subagent"`` or ``"checkpoint"``."""
        return self._kind

    @property
    def parent(self) -> Conversation | None:
        """The conversation that spawned this one, if any."""
        return self._parent

    @property
    def children(self) -> Sequence[Conversation]:
        """The spawned children that have not ended yet."""
        return tuple(self._children)

    @property
    def inherited(self) -> int:
        """How many leading messages were copied from the parent at spawn time."""
        return self._inherited

    @property
    def ended(self) -> bool:
        """Whether :meth:`end` was called."""
        return self._ended

    @property
    def json_messages(self) -> Sequence[str]:
        """The JSON text of each completed message: a live, read-only view.

        Each text is made once, when its message is completed or replaced, so
        a persistence layer saving the conversation never re-encodes the
        history; compare texts to find what changed.
        """
        return self._texts

    def __len__(self) -> int:
        return len(self._messages)

    def __repr__(self) -> str:
        state = " ended" if self._ended else ""
        return f"<Conversation {self._kind} messages={len(self._messages)}{state}>"

    def to_list(self) -> list[dict[str, Any]]:
        """Return fresh copies of the messages, safe to hand to an SDK that mutates."""
        return [json.loads(text) for text in self._encoded]

    # -- adding -------------------------------------------------------------

    def append(self, message: Mapping[str, Any]) -> Mapping[str, Any]:
        """Add a completed message and emit ``message_complete``.

        Returns:
            The stored copy.

        Raises:
            ValidationError: The message is not a JSON mapping with a ``role``,
                or the conversation has ended.
        """
        self._check_active()
        copy, text = encode_message(message)
        self._messages.append(copy)
        self._encoded.append(text)
        self._events.emit("message_complete", MessageCompleteEvent(len(self._messages) - 1, copy))
        return copy

    def add(self, role: str, content: Any, **extra: Any) -> Mapping[str, Any]:
        """Append ``{"role": role, "content": content, **extra}``."""
        return self.append({"role": role, "content": content, **extra})

    def extend(self, messages: Iterable[Mapping[str, Any]]) -> None:
        """Append several messages, one ``message_complete`` each."""
        for message in messages:
            self.append(message)

    def begin(self, role: str, content: Any = "", **extra: Any) -> MessageDraft:
        """Start a message to fill while it streams in; see :class:`MessageDraft`.

        The draft is not part of :attr:`messages` until it is completed.
        """
        self._check_active()
        return MessageDraft(self, role, content, extra)

    # -- editing ------------------------------------------------------------

    def replace(self, index: int, message: Mapping[str, Any]) -> Mapping[str, Any]:
        """Replace the message at ``index`` and emit ``messages_changed``.

        Raises:
            IndexError: No message at ``index``.
        """
        self._check_active()
        size = len(self._messages)
        position = index + size if index < 0 else index
        if not 0 <= position < size:
            raise IndexError(f"no message at index {index} (conversation has {size})")
        copy, text = encode_message(message)
        self._messages[position] = copy
        self._encoded[position] = text
        self._events.emit("messages_changed", MessagesChangedEvent(position, "replace"))
        return copy

    def truncate(self, length: int) -> None:
        """Keep only the first ``length`` messages (``0`` clears)."""
        self._check_active()
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise ValidationError(f"length must be a non-negative int, got {length!r}")
        if length >= len(self._messages):
            return
        del self._messages[length:]
        del self._encoded[length:]
        self._events.emit("messages_changed", MessagesChangedEvent(length, "truncate"))

    def restore(self, messages: Sequence[Mapping[str, Any]], texts: Sequence[str]) -> None:
        """Swap the whole list for stored messages; emit ``messages_changed`` (``"reset"``).

        For persistence layers, which read messages back as JSON texts and
        decoded them: ``texts[i]`` must be the JSON text of ``messages[i]``
        (it is what :attr:`json_messages` returns afterwards, and what a save
        compares). Dicts are kept as given, not copied. Works on an ended
        conversation too (loading its history is not a change of it).

        Raises:
            ValidationError: The two sequences differ in length.
        """
        if len(messages) != len(texts):
            raise ValidationError("restore() needs one JSON text per message")
        self._messages[:] = [m if type(m) is dict else dict(m) for m in messages]
        self._encoded[:] = texts
        self._events.emit("messages_changed", MessagesChangedEvent(0, "reset"))

    # -- children and ending ------------------------------------------------

    def spawn_child(
        self, kind: Literal["subagent", "checkpoint"] = "subagent", *, seed: bool = True
    ) -> Conversation:
        """Create a child conversation and emit ``child_spawned``.

        Args:
            kind: ``"subagent"`` (delegated work) or ``"checkpoint"`` (an
                internal summary of this conversation).
            seed: Start the child with a copy of this conversation's messages
                (the default), or empty for a fresh context.

        Returns:
            The child. It ends on its own :meth:`end`, or when this one ends.
        """
        self._check_active()
        if kind not in _CHILD_KINDS:
            raise ValidationError(f"a child is 'subagent' or 'checkpoint', not {kind!r}")
        child = Conversation(kind=kind)
        child._parent = self
        if seed:
            child._messages.extend(self._messages)
            child._encoded.extend(self._encoded)
            child._inherited = len(self._messages)
        self._children.append(child)
        self._events.emit("child_spawned", ChildSpawnedEvent(child))
        return child

    def end(self) -> None:
        """End the conversation (and its live children first); emit ``ended``.

        Further changes raise :class:`~unistore.ValidationError`. Calling it
        again does nothing.
        """
        if self._ended:
            return
        for child in tuple(self._children):
            child.end()
        self._ended = True
        if self._parent is not None and self in self._parent._children:
            self._parent._children.remove(self)
        self._events.emit("ended")

    def _check_active(self) -> None:
        if self._ended:
            raise ValidationError("the conversation has ended")

    # -- events -------------------------------------------------------------

    @overload
    def on(
        self, event: Literal["message_complete"], callback: Callable[[MessageCompleteEvent], object]
    ) -> Callable[[], None]: ...

    @overload
    def on(
        self, event: Literal["messages_changed"], callback: Callable[[MessagesChangedEvent], object]
    ) -> Callable[[], None]: ...

    @overload
    def on(
        self, event: Literal["child_spawned"], callback: Callable[[ChildSpawnedEvent], object]
    ) -> Callable[[], None]: ...

    @overload
    def on(self, event: Literal["ended"], callback: Callable[[], object]) -> Callable[[], None]: ...

    def on(self, event: str, callback: Callable[..., object]) -> Callable[[], None]:
        """Call ``callback`` on ``event``; return a function that unsubscribes.

        A callback that raises is logged (logger ``unistore.sessions``) and
        does not stop the others nor the change that emitted the event.

        Raises:
            ValidationError: Unknown event name.
        """
        return self._events.subscribe(event, callback)
