"""Automatic labels: the text rules (the manager's use of them is in test_sessions_manager)."""

from __future__ import annotations

from typing import Any

import pytest

from unistore._sessions._slug import first_user_label, label_from_text, message_text


def test_short_text_is_kept_whole() -> None:
    assert label_from_text("Plan a trip") == "Plan a trip"


def test_exactly_the_limit_is_not_cut() -> None:
    text = "x" * 50
    assert label_from_text(text) == text


def test_long_text_is_cut_at_a_word_boundary() -> None:
    text = "Can you help me plan a three week trip through the mountains of northern Italy"
    label = label_from_text(text)
    assert label == "Can you help me plan a three week trip through the\u2026"
    assert len(label) <= 51
    assert text.startswith(label[:-1])


def test_word_ending_exactly_at_the_limit_is_kept() -> None:
    text = "a" * 45 + " bcde fgh"  # the space after "bcde" is position 50
    assert label_from_text(text) == "a" * 45 + " bcde\u2026"


def test_no_spaces_is_cut_hard() -> None:
    label = label_from_text("y" * 200)
    assert label == "y" * 50 + "\u2026"


def test_whitespace_collapses_and_controls_vanish() -> None:
    assert label_from_text("  hello\n\n\tworld \x00 again\u3000now ") == "hello world again now"


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\x00\x01"])
def test_blank_text_gives_no_label(text: str) -> None:
    assert label_from_text(text) is None


def test_non_ascii_is_kept() -> None:
    text = "Объясни мне, пожалуйста, как работает квантовая запутанность частиц"
    label = label_from_text(text)
    assert label is not None
    assert label.endswith("\u2026")
    assert text.startswith(label[:-1])
    assert label[:-1] == label[:-1].rstrip()


def test_cjk_without_spaces_is_cut_at_the_limit() -> None:
    text = "量子もつれについて詳しく説明してください" * 5
    assert label_from_text(text) == text[:50] + "\u2026"


def test_hard_cut_keeps_emoji_sequences_whole() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 5 code points, one glyph
    text = "a" * 47 + family + "b" * 10
    label = label_from_text(text)
    assert label is not None
    body = label[:-1]
    assert body == "a" * 47 or body == "a" * 47 + family
    assert not body.endswith("\u200d")


def test_hard_cut_keeps_combining_marks_and_flags() -> None:
    accented = "e\u0301"
    text = "a" * 49 + accented + "z" * 5
    body = label_from_text(text)
    assert body is not None
    assert not body[:-1].endswith("e")  # never "e" without its accent
    flags = "\U0001f1ee\U0001f1f9" * 30  # Italian flags, two code points each
    label = label_from_text(flags)
    assert label is not None
    assert len(label[:-1]) % 2 == 0


def test_message_text_reads_strings_and_text_blocks() -> None:
    assert message_text({"role": "user", "content": "plain"}) == "plain"
    blocks = {
        "role": "user",
        "content": [
            {"type": "image", "source": {}},
            {"type": "text", "text": "first"},
            {"type": "text", "text": "second"},
        ],
    }
    assert message_text(blocks) == "first second"
    assert message_text({"role": "user"}) == ""
    assert message_text({"role": "user", "content": 42}) == ""


def test_first_user_label_skips_assistant_and_textless_messages() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are terse."},
        {"role": "assistant", "content": "How can I help?"},
        {"role": "user", "content": [{"type": "tool_result", "content": "x"}]},
        {"role": "user", "content": "Weather in Oslo?"},
    ]
    assert first_user_label(messages[:2]) == (None, 2)
    assert first_user_label(messages, 2) == ("Weather in Oslo?", 3)
