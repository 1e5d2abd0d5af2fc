"""Automatic session labels from the first user message."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["LABEL_LIMIT", "first_user_label", "label_from_text", "message_text"]

LABEL_LIMIT = 50
_ELLIPSIS = "\u2026"
_ZWJ = "\u200d"
# A hard cut must not separate a character from what modifies it.
_JOINED_AFTER = frozenset({_ZWJ, "\ufe0e", "\ufe0f", "\u20e3"})
_SKIN_TONES = range(0x1F3FB, 0x1F400)
_REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)


def message_text(message: Mapping[str, Any]) -> str:
    """Return the plain text of a message's ``content`` (string or text blocks)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, bytes | bytearray):
        parts = []
        for block in content:
            if isinstance(block, Mapping) and block.get("type", "text") == "text":
                text = block.get("text")
                if isinstance(text, str):
                    parts.append(text)
        return " ".join(parts)
    return ""


def _clean(text: str) -> str:
    # Control characters (NUL, escapes) become spaces; then runs of whitespace
    # of any script collapse to one space.
    visible = "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)
    return " ".join(visible.split())


def _clings(text: str, index: int) -> bool:
    """Whether cutting before ``text[index]`` would split one visible character."""
    char = text[index]
    before = text[index - 1]
    if char in _JOINED_AFTER or before == _ZWJ or unicodedata.combining(char):
        return True
    if ord(char) in _SKIN_TONES:
        return True
    if ord(char) in _REGIONAL_INDICATORS:
        # Flags are pairs of regional indicators: never leave half a flag.
        run = 0
        while index - run - 1 >= 0 and ord(text[index - run - 1]) in _REGIONAL_INDICATORS:
            run += 1
        return run % 2 == 1
    return False


def label_from_text(text: str, limit: int = LABEL_LIMIT) -> str | None:
    """Derive a label: about ``limit`` characters, cut at a word boundary.

    Whitespace collapses to single spaces. Text longer than ``limit`` is cut at
    the last space within the limit and marked with an ellipsis; a first word
    longer than the limit is cut inside, never between a character and its
    combining marks or inside an emoji sequence. Returns ``None`` for text with
    nothing visible.
    """
    clean = _clean(text)
    if not clean:
        return None
    if len(clean) <= limit:
        return clean
    cut = clean.rfind(" ", 0, limit + 1)
    if cut <= 0:
        cut = limit
        while cut > 1 and _clings(clean, cut):
            cut -= 1
    return clean[:cut].rstrip() + _ELLIPSIS


def first_user_label(
    messages: Sequence[Mapping[str, Any]], start: int = 0
) -> tuple[str | None, int]:
    """Find the label of the first user message with text from ``start`` on.

    Returns:
        The label (or ``None`` if no such message yet) and the position from
        which a later search should resume.
    """
    for index in range(start, len(messages)):
        message = messages[index]
        if message.get("role") == "user":
            label = label_from_text(message_text(message))
            if label is not None:
                return label, index
    return None, len(messages)
