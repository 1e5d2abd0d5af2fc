"""Converters between conversation messages and the OpenAI and Anthropic formats.

A :class:`~unistore.Conversation` can hold any JSON message; these functions
give it one *neutral* form that converts to and from three provider formats,
so one stored conversation can be sent to any of them::

    from unistore import Conversation
    from unistore.integrations import messages

    conversation = Conversation(messages.from_openai_chat(chat_history))
    request = messages.to_anthropic(conversation.messages)  # {"system": ..., "messages": [...]}
    items = messages.to_openai_responses(conversation.messages)

A neutral message is a dict with:

* ``role``: ``"system"``, ``"developer"``, ``"user"``, ``"assistant"`` or ``"tool"``;
* ``content``: a ``str``, or a list of parts ``{"type": "text", "text": ...}`` and
  ``{"type": "image", "url": ..., "detail"?: ...}`` (a ``data:`` URL for inline
  images); ``None`` only in an assistant message with tool calls;
* ``tool_calls`` (assistant): ``[{"id", "name", "arguments"}]`` with the
  arguments as JSON text, plus ``item_id`` for a Responses function-call id;
* ``tool_call_id`` (tool): the call the result answers; ``is_error`` (tool,
  optional): the result is an error;
* ``name`` (optional): a participant name; ``id`` (optional): an item id.

Converting a provider's messages to neutral ones and back gives them back
unchanged (for messages in the provider's usual form; the docs list the few
spellings that are normalised). Whatever a format cannot represent raises
:class:`~unistore.errors.ValidationError` naming the message and the key;
nothing is dropped silently. No provider SDK is needed: all are plain dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from unistore.integrations._messages._anthropic import from_anthropic as _from_anthropic
from unistore.integrations._messages._anthropic import to_anthropic as _to_anthropic
from unistore.integrations._messages._canonical import check_messages
from unistore.integrations._messages._chat import from_chat, to_chat
from unistore.integrations._messages._responses import from_responses, to_responses

__all__ = [
    "from_anthropic",
    "from_openai_chat",
    "from_openai_responses",
    "to_anthropic",
    "to_openai_chat",
    "to_openai_responses",
    "validate",
]


def validate(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Check that messages are in the neutral form and return plain-dict copies.

    Raises:
        ValidationError: A message is not neutral; the error names it and the key.
    """
    return check_messages(messages)


def to_openai_chat(
    messages: Iterable[Mapping[str, Any]], *, drop_ids: bool = False
) -> list[dict[str, Any]]:
    """Convert neutral messages to OpenAI chat-completions messages.

    Args:
        messages: Neutral messages (``conversation.messages`` for instance).
        drop_ids: Leave out item ids, which chat messages have no place for;
            without it, a message with an id raises.

    Raises:
        ValidationError: A message cannot be represented (an error-marked
            tool result, an image outside a user message, an id).
    """
    return to_chat(messages, drop_ids=drop_ids)


def from_openai_chat(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Convert OpenAI chat-completions messages to neutral messages.

    Raises:
        ValidationError: A message has a role, part or key with no neutral
            form (audio, refusals, legacy ``function_call``).
    """
    return from_chat(messages)


def to_openai_responses(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Convert neutral messages to OpenAI Responses API input items.

    An assistant message becomes a message item (if it has content) followed
    by one ``function_call`` item per tool call; a tool message becomes a
    ``function_call_output`` item.

    Raises:
        ValidationError: A message cannot be represented (a participant
            name, an error-marked tool result, an image from the assistant).
    """
    return to_responses(messages)


def from_openai_responses(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Convert OpenAI Responses API input items to neutral messages.

    ``function_call`` items directly after an assistant message (or after
    each other) become that assistant message's tool calls.

    Raises:
        ValidationError: An item has no neutral form (reasoning, built-in
            tool calls, annotations) or is not completed.
    """
    return from_responses(items)


def to_anthropic(
    messages: Iterable[Mapping[str, Any]], *, drop_ids: bool = False
) -> dict[str, Any]:
    """Convert neutral messages to the ``system`` and ``messages`` of an Anthropic request.

    A first ``system`` message becomes ``system`` (absent if there is none);
    tool messages become ``tool_result`` blocks of one user turn, with the
    user blocks that directly follow them.

    Args:
        messages: Neutral messages.
        drop_ids: Leave out item ids, which Anthropic messages have no place for.

    Returns:
        ``{"system": ..., "messages": [...]}``, ready to unpack into
        ``client.messages.create(**request, ...)``.

    Raises:
        ValidationError: A message cannot be represented (a later system or
            developer message, a participant name, arguments that are not a
            JSON object, an image detail setting, an id).
    """
    return _to_anthropic(messages, drop_ids=drop_ids)


def from_anthropic(
    messages: Iterable[Mapping[str, Any]], *, system: str | list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Convert Anthropic messages (and the request's ``system``) to neutral messages.

    Raises:
        ValidationError: A block has no neutral form (thinking, documents,
            cache control), or text follows a tool use in one assistant turn.
    """
    return _from_anthropic(messages, system=system)
