"""Message converters: lossless round trips (property tests) and clear refusals."""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unistore import Conversation
from unistore.errors import ValidationError
from unistore.integrations import messages as m

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(max_size=12)
ident = st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=10)
url = ident.map(lambda s: f"https://example.com/{s}.png")
detail = st.sampled_from(["auto", "low", "high"])
json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
json_object = st.dictionaries(text, json_value, max_size=4)


def _opt(strategy: st.SearchStrategy[dict[str, Any]], **optional: Any) -> Any:
    """A dict strategy with some keys present or absent."""
    extras = st.fixed_dictionaries({}, optional=dict(optional))
    return st.tuples(strategy, extras).map(lambda pair: {**pair[0], **pair[1]})


# -- OpenAI chat completions ----------------------------------------------------------

chat_text_part = st.builds(lambda t: {"type": "text", "text": t}, text)
chat_image_part = _opt(st.builds(lambda u: {"url": u}, url), detail=detail).map(
    lambda image: {"type": "image_url", "image_url": image}
)
chat_call = st.builds(
    lambda i, n, a: {"id": i, "type": "function", "function": {"name": n, "arguments": a}},
    ident,
    ident,
    text,
)
chat_message = st.one_of(
    _opt(
        st.builds(
            lambda r, c: {"role": r, "content": c},
            st.sampled_from(["system", "developer"]),
            text | st.lists(chat_text_part, max_size=2),
        ),
        name=ident,
    ),
    _opt(
        st.builds(
            lambda c: {"role": "user", "content": c},
            text | st.lists(chat_text_part | chat_image_part, max_size=3),
        ),
        name=ident,
    ),
    _opt(
        st.builds(
            lambda c: {"role": "assistant", "content": c},
            st.none() | text | st.lists(chat_text_part, max_size=2),
        ),
        name=ident,
        tool_calls=st.lists(chat_call, min_size=1, max_size=3),
    ),
    st.builds(
        lambda i, c: {"role": "tool", "tool_call_id": i, "content": c},
        ident,
        text | st.lists(chat_text_part, max_size=2),
    ),
)


@SETTINGS
@given(st.lists(chat_message, max_size=6))
def test_chat_messages_survive_a_round_trip(chat: list[dict[str, Any]]) -> None:
    neutral = m.from_openai_chat(chat)
    assert m.to_openai_chat(neutral) == chat
    # ... and through a Conversation (its JSON copy), as a session stores them.
    assert m.to_openai_chat(Conversation(neutral).to_list()) == chat
    assert m.validate(neutral) == neutral


# -- OpenAI Responses -------------------------------------------------------------

input_text = st.builds(lambda t: {"type": "input_text", "text": t}, text)
input_image = _opt(st.builds(lambda u: {"type": "input_image", "image_url": u}, url), detail=detail)
output_text = st.builds(lambda t: {"type": "output_text", "text": t, "annotations": []}, text)
responses_item = st.one_of(
    st.builds(
        lambda r, c: {"role": r, "content": c},
        st.sampled_from(["system", "developer", "user"]),
        text | st.lists(input_text | input_image, max_size=3),
    ),
    st.builds(
        lambda c: {"role": "assistant", "content": c}, text | st.lists(output_text, max_size=2)
    ),
    st.builds(
        lambda i, c: {
            "type": "message",
            "id": i,
            "role": "assistant",
            "status": "completed",
            "content": c,
        },
        ident,
        st.lists(output_text, max_size=2),
    ),
    st.builds(
        lambda c, n, a, i: {"type": "function_call", "call_id": c, "name": n, "arguments": a, **i},
        ident,
        ident,
        text,
        st.none().map(lambda _: {}) | ident.map(lambda i: {"id": i, "status": "completed"}),
    ),
    _opt(
        st.builds(
            lambda c, o: {"type": "function_call_output", "call_id": c, "output": o},
            ident,
            text | st.lists(input_text, max_size=2),
        ),
        id=ident,
    ),
)


@SETTINGS
@given(st.lists(responses_item, max_size=7))
def test_responses_items_survive_a_round_trip(items: list[dict[str, Any]]) -> None:
    neutral = m.from_openai_responses(items)
    assert m.to_openai_responses(neutral) == items
    assert m.to_openai_responses(Conversation(neutral).to_list()) == items


# -- Anthropic --------------------------------------------------------------------

a_text = st.builds(lambda t: {"type": "text", "text": t}, text)
a_image = st.one_of(
    st.builds(
        lambda mt, d: {"type": "image", "source": {"type": "base64", "media_type": mt, "data": d}},
        st.sampled_from(["image/png", "image/jpeg", "image/webp"]),
        st.text(alphabet=string.ascii_letters + string.digits + "+/=", max_size=16),
    ),
    st.builds(lambda u: {"type": "image", "source": {"type": "url", "url": u}}, url),
)
a_result = _opt(
    st.builds(
        lambda i, c: {"type": "tool_result", "tool_use_id": i, "content": c},
        ident,
        text | st.lists(a_text | a_image, max_size=2),
    ),
    is_error=st.booleans(),
)
a_user = st.one_of(
    text,
    st.tuples(st.lists(a_result, max_size=3), st.lists(a_text | a_image, max_size=2)).map(
        lambda pair: pair[0] + pair[1]
    ),
).map(lambda c: {"role": "user", "content": c})
a_use = st.builds(
    lambda i, n, x: {"type": "tool_use", "id": i, "name": n, "input": x}, ident, ident, json_object
)
a_assistant = st.one_of(
    text,
    st.tuples(st.lists(a_text, max_size=2), st.lists(a_use, max_size=3)).map(
        lambda pair: pair[0] + pair[1]
    ),
).map(lambda c: {"role": "assistant", "content": c})
# Anthropic turns alternate (the API merges consecutive turns of one role).
a_turns = st.lists(st.tuples(a_user, a_assistant), max_size=3).map(
    lambda pairs: [turn for pair in pairs for turn in pair]
)
a_system = st.none() | text | st.lists(a_text, min_size=1, max_size=2)


@SETTINGS
@given(a_turns, a_system)
def test_anthropic_messages_survive_a_round_trip(
    turns: list[dict[str, Any]], system: str | list[dict[str, Any]] | None
) -> None:
    neutral = m.from_anthropic(turns, system=system)
    expected: dict[str, Any] = {"messages": turns}
    if system is not None:
        expected["system"] = system
    assert m.to_anthropic(neutral) == expected
    assert m.to_anthropic(Conversation(neutral).to_list()) == expected


# -- neutral conversations through each format and back ----------------------------

TOOL_CHAT = [
    {"role": "system", "content": "You are a weather bot."},
    {"role": "user", "content": [{"type": "text", "text": "Weather in Turin? 🌦"}]},
    {
        "role": "assistant",
        "content": [{"type": "text", "text": "Let me check."}],
        "tool_calls": [
            {"id": "call_1", "name": "weather", "arguments": '{"city":"Turin","unit":"C"}'},
            {"id": "call_2", "name": "time", "arguments": '{"tz":"Europe/Rome"}'},
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": '{"temp":21}'},
    {"role": "tool", "tool_call_id": "call_2", "content": "14:05"},
    {"role": "user", "content": [{"type": "image", "url": "data:image/png;base64,iVBORw0K"}]},
    {"role": "assistant", "content": "21 °C and sunny at 14:05."},
]


@pytest.mark.parametrize(
    ("to", "back"),
    [
        (m.to_openai_chat, m.from_openai_chat),
        (m.to_openai_responses, m.from_openai_responses),
        (m.to_anthropic, lambda r: m.from_anthropic(r["messages"], system=r.get("system"))),
    ],
    ids=["chat", "responses", "anthropic"],
)
def test_a_tool_calling_conversation_survives_every_format(to: Any, back: Any) -> None:
    assert back(to(TOOL_CHAT)) == TOOL_CHAT
    # Converting one format's history to another goes through the neutral form.
    assert back(to(m.from_openai_chat(m.to_openai_chat(TOOL_CHAT)))) == TOOL_CHAT


def test_the_formats_look_as_their_apis_expect() -> None:
    chat = m.to_openai_chat(TOOL_CHAT)
    assert chat[2]["tool_calls"][0] == {
        "id": "call_1",
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city":"Turin","unit":"C"}'},
    }
    assert chat[5]["content"][0] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,iVBORw0K"},
    }
    items = m.to_openai_responses(TOOL_CHAT)
    assert [item.get("type", item.get("role")) for item in items] == [
        "system",
        "user",
        "assistant",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
        "user",
        "assistant",
    ]
    request = m.to_anthropic(TOOL_CHAT)
    assert request["system"] == "You are a weather bot."
    assert request["messages"][1]["content"][1] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "weather",
        "input": {"city": "Turin", "unit": "C"},
    }
    # Both tool results and the user's image are one user turn.
    turn = request["messages"][2]
    assert [block["type"] for block in turn["content"]] == ["tool_result", "tool_result", "image"]
    assert turn["content"][2]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": "iVBORw0K",
    }


def test_sdk_session_items_convert_with_their_ids() -> None:
    items = [
        {"role": "user", "content": "2+2?"},
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Let me add.", "annotations": []}],
        },
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_1",
            "name": "add",
            "arguments": '{"a": 2, "b": 2}',
            "status": "completed",
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "4"},
    ]
    neutral = m.from_openai_responses(items)
    assert neutral[1] == {
        "role": "assistant",
        "id": "msg_1",
        "content": [{"type": "text", "text": "Let me add."}],
        "tool_calls": [
            {"id": "call_1", "name": "add", "arguments": '{"a": 2, "b": 2}', "item_id": "fc_1"}
        ],
    }
    with pytest.raises(ValidationError, match="drop_ids=True"):
        m.to_openai_chat(neutral)
    chat = m.to_openai_chat(neutral, drop_ids=True)
    assert chat[1]["tool_calls"][0]["function"]["arguments"] == '{"a": 2, "b": 2}'
    anthropic = m.to_anthropic(neutral, drop_ids=True)
    assert anthropic["messages"][1]["content"][1]["input"] == {"a": 2, "b": 2}


@pytest.mark.parametrize(
    ("convert", "message", "error"),
    [
        (m.to_openai_chat, {"role": "robot", "content": "x"}, "role must be one of"),
        (m.to_openai_chat, {"role": "user"}, "'content' is missing"),
        (m.to_openai_chat, {"role": "user", "content": 3}, "content must be a str"),
        (m.to_openai_chat, {"role": "user", "content": "x", "mood": 1}, "'mood' has no place"),
        (m.to_openai_chat, {"role": "user", "content": [{"type": "audio"}]}, "'audio'"),
        (m.to_openai_chat, {"role": "tool", "content": "x"}, "'tool_call_id' is missing"),
        (
            m.to_openai_chat,
            {"role": "tool", "tool_call_id": "c", "content": "x", "is_error": True},
            "cannot mark a tool result as an error",
        ),
        (
            m.to_openai_chat,
            {"role": "assistant", "content": [{"type": "image", "url": "u"}]},
            "images in user messages only",
        ),
        (m.to_openai_responses, {"role": "user", "content": "x", "name": "ada"}, "names"),
        (
            m.to_openai_responses,
            {"role": "assistant", "content": None},
            "no content and no tool calls",
        ),
        (m.to_anthropic, {"role": "user", "content": "x", "name": "ada"}, "names"),
        (
            m.to_anthropic,
            {"role": "user", "content": [{"type": "image", "url": "u", "detail": "low"}]},
            "image detail",
        ),
        (
            m.to_anthropic,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c", "name": "f", "arguments": "[1]"}],
            },
            "JSON object",
        ),
        (
            m.to_anthropic,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c", "name": "f", "arguments": "{oops"}],
            },
            "arguments that are JSON",
        ),
    ],
)
def test_what_a_format_cannot_hold_raises_naming_it(
    convert: Any, message: dict[str, Any], error: str
) -> None:
    with pytest.raises(ValidationError, match=error):
        convert([{"role": "user", "content": "hi"}, message])


def test_a_later_system_message_cannot_go_to_anthropic() -> None:
    with pytest.raises(ValidationError, match=r"message 1: .*one system prompt"):
        m.to_anthropic([{"role": "user", "content": "a"}, {"role": "system", "content": "b"}])
    with pytest.raises(ValidationError, match="one system prompt"):
        m.to_anthropic([{"role": "developer", "content": "b"}])


@pytest.mark.parametrize(
    ("convert", "item", "error"),
    [
        (m.from_openai_chat, {"role": "assistant", "content": "x", "refusal": "no"}, "'refusal'"),
        (m.from_openai_chat, {"role": "function", "content": "x"}, "unknown chat role"),
        (
            m.from_openai_chat,
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]},
            "unsupported user content part",
        ),
        (m.from_openai_responses, {"type": "reasoning", "id": "rs_1"}, "'reasoning' item"),
        (
            m.from_openai_responses,
            {"type": "message", "id": "m", "role": "user", "content": "x"},
            "ids on assistant messages only",
        ),
        (
            m.from_openai_responses,
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "x", "annotations": [{"a": 1}]}],
            },
            "annotations",
        ),
        (
            m.from_openai_responses,
            {
                "type": "function_call",
                "call_id": "c",
                "name": "f",
                "arguments": "{}",
                "status": "in_progress",
            },
            "completed",
        ),
        (
            m.from_anthropic,
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm"}]},
            "'thinking'",
        ),
        (
            m.from_anthropic,
            {"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {}}]},
            "'cache_control'",
        ),
        (
            m.from_anthropic,
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t", "name": "f", "input": {}},
                    {"type": "text", "text": "after"},
                ],
            },
            "text after a tool use",
        ),
        (
            m.from_anthropic,
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "x"},
                    {"type": "tool_result", "tool_use_id": "t", "content": "r"},
                ],
            },
            "tool results must come before",
        ),
    ],
)
def test_what_has_no_neutral_form_raises_naming_it(convert: Any, item: Any, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        convert([item])


def test_not_a_list_is_refused() -> None:
    with pytest.raises(ValidationError, match="must be a list"):
        m.from_openai_chat({"role": "user", "content": "x"})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="must be a list of messages"):
        m.to_openai_chat("hello")  # type: ignore[arg-type]


def test_anthropic_tool_arguments_are_kept_as_compact_json() -> None:
    turn = {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"é": [1, 2.5]}}],
    }
    neutral = m.from_anthropic([turn])
    assert neutral[0]["tool_calls"][0]["arguments"] == json.dumps(
        {"é": [1, 2.5]}, ensure_ascii=False, separators=(",", ":")
    )


async def test_neutral_messages_stored_on_every_driver_convert_the_same(store: Any) -> None:
    conversation = Conversation(TOOL_CHAT)
    await store.create_session("converted", scope="tenant/*")
    await store.append_messages("converted", list(conversation.json_messages), scope="tenant/*")
    loaded = [json.loads(t) for t in await store.read_messages("converted", scope="tenant/*")]
    assert m.to_openai_chat(loaded) == m.to_openai_chat(TOOL_CHAT)
    assert m.to_openai_responses(loaded) == m.to_openai_responses(TOOL_CHAT)
    assert m.to_anthropic(loaded) == m.to_anthropic(TOOL_CHAT)
