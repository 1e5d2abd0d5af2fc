"""MessageDraft: a message being streamed into a conversation."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol

from unistore.errors import ValidationError

__all__ = ["MessageDraft"]


class _Appends(Protocol):
    """What a draft needs of its conversation: adding the completed message."""

    def append(self, message: Mapping[str, Any], /) -> Mapping[str, Any]: ...


class MessageDraft:
    """A message being streamed: fill it in, then :meth:`complete` it.

    Use it as a context manager to complete on success and discard on error::

        with conversation.begin("assistant") as draft:
            for chunk in stream:
                draft.write(chunk)
    """

    def __init__(
        self, conversation: _Appends, role: str, content: Any, extra: Mapping[str, Any]
    ) -> None:
        self._conversation = conversation
        self._fields: dict[str, Any] = {"role": role, **extra}
        self._chunks: list[str] = []
        self._content: Any = content
        self._done = False

    @property
    def role(self) -> str:
        """The role of the message."""
        role: str = self._fields["role"]
        return role

    @property
    def content(self) -> Any:
        """The content so far."""
        if self._chunks:
            self._content = self._content + "".join(self._chunks)
            self._chunks.clear()
        return self._content

    @content.setter
    def content(self, value: Any) -> None:
        self._check_open()
        self._chunks.clear()
        self._content = value

    @property
    def done(self) -> bool:
        """Whether the draft was completed or discarded."""
        return self._done

    def write(self, text: str) -> None:
        """Append streamed text to a text content."""
        self._check_open()
        if not isinstance(self._content, str):
            raise ValidationError("write() needs a text content; set .content for blocks")
        self._chunks.append(text)

    def update(self, **fields: Any) -> None:
        """Set other fields of the message (tool calls, ids, ...)."""
        self._check_open()
        if "content" in fields:
            self.content = fields.pop("content")
        self._fields.update(fields)

    @property
    def message(self) -> dict[str, Any]:
        """The message as it would be completed now."""
        fields = dict(self._fields)
        return {"role": fields.pop("role"), "content": self.content, **fields}

    def complete(self) -> Mapping[str, Any]:
        """Add the message to the conversation (emits ``message_complete``)."""
        self._check_open()
        stored = self._conversation.append(self.message)
        self._done = True
        return stored

    def discard(self) -> None:
        """Drop the draft without adding anything."""
        self._done = True

    def _check_open(self) -> None:
        if self._done:
            raise ValidationError("the message draft is already completed or discarded")

    def __enter__(self) -> MessageDraft:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._done:
            return
        if exc_type is None:
            self.complete()
        else:
            self.discard()
