"""UnistoreChatMessageHistory: against InMemoryChatMessageHistory, hostile ids, writers."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.chat_history import BaseChatMessageHistory, InMemoryChatMessageHistory
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

import unistore
from unistore.errors import (
    CorruptionError,
    EventLoopError,
    StoreTimeoutError,
    ValidationError,
)
from unistore.integrations.langchain import UnistoreChatMessageHistory
from unistore_test_support import DRIVERS, make_store_url

# InMemoryChatMessageHistory is deprecated in langchain-core and says so when
# instantiated; it is the reference here, so that one warning is expected.
reference_warning = pytest.mark.filterwarnings(
    "ignore:.*InMemoryChatMessageHistory.*:langchain_core._api.deprecation.LangChainDeprecationWarning"
)

SAMPLES: list[BaseMessage] = [
    SystemMessage("You are terse."),
    HumanMessage("Hi \u00e9\u6f22 \U0001f600 \x00 nul", id="h1", name="alice"),
    HumanMessage(
        content=[
            {"type": "text", "text": "blocks"},
            {"type": "image_url", "image_url": {"url": "data:x"}},
        ]
    ),
    AIMessage(
        "",
        tool_calls=[{"name": "lookup", "args": {"q": "turin", "n": 2}, "id": "call_1"}],
        additional_kwargs={"refusal": None},
        response_metadata={"model_name": "m", "finish_reason": "tool_calls"},
        usage_metadata={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
        id="a1",
    ),
    ToolMessage("42", tool_call_id="call_1", name="lookup", artifact={"raw": [1, 2]}),
    AIMessage(
        "Done.", invalid_tool_calls=[{"name": "x", "args": "{bad", "id": "c2", "error": "e"}]
    ),
    ChatMessage(content="custom role", role="critic"),
    FunctionMessage(content="legacy", name="fn"),
    HumanMessage("lone \ud800 surrogate"),
]


def _scenario() -> list[tuple[str, Any]]:
    return [
        ("add", SAMPLES[:2]),
        ("add", SAMPLES[2:5]),
        ("add_user", "plain user text"),
        ("add_ai", AIMessage("ai object")),
        ("add_one", SAMPLES[5]),
        ("add", []),
        ("clear", None),
        ("add", SAMPLES[5:]),
        ("add", SAMPLES[:1]),
    ]


def _apply_sync(history: BaseChatMessageHistory, op: str, arg: Any) -> None:
    if op == "add":
        history.add_messages(arg)
    elif op == "add_user":
        history.add_user_message(arg)
    elif op == "add_ai":
        history.add_ai_message(arg)
    elif op == "add_one":
        history.add_message(arg)
    else:
        history.clear()


async def _apply_async(history: BaseChatMessageHistory, op: str, arg: Any) -> None:
    if op == "add":
        await history.aadd_messages(arg)
    elif op == "add_user":
        await history.aadd_messages([HumanMessage(arg)])
    elif op in ("add_ai", "add_one"):
        await history.aadd_messages([arg])
    else:
        await history.aclear()


@reference_warning
def test_blocking_api_matches_in_memory_history(store_url: str) -> None:
    reference = InMemoryChatMessageHistory()
    with UnistoreChatMessageHistory("chat", store_url) as history:
        assert history.messages == []
        for op, arg in _scenario():
            _apply_sync(reference, op, arg)
            _apply_sync(history, op, arg)
            assert history.messages == reference.messages, op
        assert str(history) == str(reference)
        # A second object on the same session (and store) sees the same history.
        again = UnistoreChatMessageHistory("chat", history.store)
        assert again.messages == reference.messages


@reference_warning
async def test_async_api_matches_in_memory_history(store: unistore.Store) -> None:
    reference = InMemoryChatMessageHistory()
    history = UnistoreChatMessageHistory("chat", store, scope="tenant")
    assert await history.aget_messages() == []
    for op, arg in _scenario():
        await _apply_async(reference, op, arg)
        await _apply_async(history, op, arg)
        assert await history.aget_messages() == await reference.aget_messages(), op
    # Messages come back as the classes they went in as, tool calls included.
    restored = await history.aget_messages()
    assert [type(m) for m in restored] == [type(m) for m in reference.messages]


async def test_each_message_is_message_to_dict_json(store: unistore.FullStore) -> None:
    history = UnistoreChatMessageHistory("raw", store)
    await history.aadd_messages([SAMPLES[3]])
    (text,) = await store.read_messages("raw")
    assert json.loads(text)["type"] == "ai"
    assert json.loads(text)["data"]["tool_calls"][0]["args"] == {"q": "turin", "n": 2}


HOSTILE_IDS = [
    "*",
    "?",
    "[a]",
    "a:b",
    "{tag}",
    "../x",
    "..",
    "%",
    "_",
    "\x00",
    "\n",
    "x" * 1024,
]
HOSTILE_SCOPES = ["*", "?", "%", "_", "a/b", "..", "../..", ":", "{}", "a:b", "\n", "x" * 1024]


async def test_hostile_session_ids_and_scopes_never_meet(store: unistore.Store) -> None:
    histories = [UnistoreChatMessageHistory(sid, store) for sid in HOSTILE_IDS]
    histories += [UnistoreChatMessageHistory("same-id", store, scope=s) for s in HOSTILE_SCOPES]
    histories.append(UnistoreChatMessageHistory("same-id", store))
    for index, history in enumerate(histories):
        await history.aadd_messages([HumanMessage(str(index))])
    for index, history in enumerate(histories):
        assert await history.aget_messages() == [HumanMessage(str(index))]
    # Clearing one leaves every other whole.
    await histories[1].aclear()
    await histories[len(HOSTILE_IDS)].aclear()
    for index, history in enumerate(histories):
        cleared = index in (1, len(HOSTILE_IDS))
        assert await history.aget_messages() == ([] if cleared else [HumanMessage(str(index))])


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((7,), {}, "session_id must be a str, got int"),
        (("",), {}, "session_id must be 1 to 1024 characters, got 0"),
        (("x" * 1025,), {}, "session_id must be 1 to 1024 characters, got 1025"),
        (("s",), {"scope": ""}, "a scope must not be empty"),
        (("s",), {"scope": "a\x00b"}, "must not contain a NUL"),
        (("s",), {"scope": "x" * 1025}, "at most 1024 characters"),
        (("s",), {"scope": 5}, "a scope must be a str or None, got int"),
        (("s",), {"ttl": 0}, "ttl must be positive and finite"),
        (("s",), {"ttl": 10**12}, "at most 3155760000 seconds"),
    ],
)
def test_bad_arguments_are_refused_before_opening_anything(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        UnistoreChatMessageHistory(*args, "memory://", **kwargs)


async def test_bad_messages_are_refused_and_nothing_is_written(store: unistore.Store) -> None:
    history = UnistoreChatMessageHistory("bad", store)
    with pytest.raises(
        ValidationError, match="message 1 of the batch must be a BaseMessage, got dict"
    ):
        await history.aadd_messages([HumanMessage("ok"), {"role": "user"}])  # type: ignore[list-item]
    with pytest.raises(
        ValidationError, match="messages must be a sequence of BaseMessage, got str"
    ):
        await history.aadd_messages("hello")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="got HumanMessage"):
        await history.aadd_messages(HumanMessage("one"))  # type: ignore[arg-type]
    unserialisable = HumanMessage("x", additional_kwargs={"when": object()})
    with pytest.raises(ValidationError, match="message 0 of the batch is not JSON-serialisable"):
        await history.aadd_messages([unserialisable])
    assert await history.aget_messages() == []
    assert await store.get_session("bad") is None  # type: ignore[attr-defined]


async def test_foreign_messages_raise_corruption_naming_the_position(
    store: unistore.FullStore,
) -> None:
    await store.create_session("foreign")
    await store.append_messages(
        "foreign", [json.dumps({"type": "human", "data": {"content": "a"}})]
    )
    await store.append_messages("foreign", ['{"role": "user", "content": "not langchain"}'])
    history = UnistoreChatMessageHistory("foreign", store)
    with pytest.raises(CorruptionError, match="message 1 of session 'foreign' is not a LangChain"):
        await history.aget_messages()


async def test_session_ttl_is_set_on_creation(store: unistore.FullStore) -> None:
    history = UnistoreChatMessageHistory("ttl", store, ttl=3600)
    await history.aadd_messages([HumanMessage("a")])
    record = await store.get_session("ttl")
    assert record is not None
    assert record.ttl == 3600
    assert record.message_count == 1


async def test_concurrent_tasks_and_threads_lose_nothing(store_url: str) -> None:
    with UnistoreChatMessageHistory("busy", store_url) as history:

        def from_thread(worker: int) -> None:
            for n in range(5):
                history.add_messages([HumanMessage(f"t{worker}-{n}")])

        threads = [threading.Thread(target=from_thread, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        await asyncio.gather(
            *(history.aadd_messages([HumanMessage(f"a{n}"), AIMessage(f"b{n}")]) for n in range(10))
        )
        for thread in threads:
            thread.join()
        contents = [m.content for m in await history.aget_messages()]
    expected = {f"t{w}-{n}" for w in range(4) for n in range(5)}
    expected |= {f"a{n}" for n in range(10)} | {f"b{n}" for n in range(10)}
    assert sorted(contents) == sorted(expected)
    # Each batch landed whole: b<n> right after a<n>; a thread's messages in order.
    for n in range(10):
        assert contents.index(f"b{n}") == contents.index(f"a{n}") + 1
    for w in range(4):
        positions = [contents.index(f"t{w}-{n}") for n in range(5)]
        assert positions == sorted(positions)


class LosesOneReply:
    """A real store whose next append is applied, then reported as timed out.

    That is what a lost reply looks like to the caller: the write landed, the
    answer did not.
    """

    def __init__(self, store: unistore.FullStore) -> None:
        self._store = store
        self.lose_next = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def __aenter__(self) -> LosesOneReply:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def append_messages(self, session_id: str, messages: Sequence[str], **kw: Any) -> int:
        length = await self._store.append_messages(session_id, messages, **kw)
        if self.lose_next:
            self.lose_next = False
            raise StoreTimeoutError(
                "the store did not answer in time; the append may have been applied"
            )
        return length


async def test_a_retry_after_a_lost_reply_stores_the_messages_once(
    store: unistore.FullStore,
) -> None:
    flaky = LosesOneReply(store)
    history = UnistoreChatMessageHistory("retry", flaky)
    await history.aadd_messages([HumanMessage("first")])
    flaky.lose_next = True
    batch = [HumanMessage("second"), AIMessage("third")]
    with pytest.raises(StoreTimeoutError):
        await history.aadd_messages(batch)
    await history.aadd_messages(batch)  # the documented retry
    assert [m.content for m in await history.aget_messages()] == ["first", "second", "third"]
    # The same messages added again after a success are a new append.
    await history.aadd_messages(batch)
    assert len(await history.aget_messages()) == 5


def test_a_blocking_retry_after_a_lost_reply_stores_the_messages_once(store_url: str) -> None:
    async def scenario() -> list[str]:
        async with unistore.connect(store_url) as store:
            flaky = LosesOneReply(store)
            history = UnistoreChatMessageHistory("retry", flaky)
            assert await history.aget_messages() == []
            flaky.lose_next = True
            batch = [HumanMessage("only")]
            # The blocking API from a worker thread, while this loop serves the store.
            with pytest.raises(StoreTimeoutError):
                await asyncio.to_thread(history.add_messages, batch)
            await asyncio.to_thread(history.add_messages, batch)
            with pytest.raises(EventLoopError):
                history.messages  # noqa: B018 - a blocking read on the store's own loop
            return [str(m.content) for m in await history.aget_messages()]

    assert asyncio.run(scenario()) == ["only"]


def test_two_processes_appending_to_one_session_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = []
    for driver in DRIVERS:
        if driver == "memory":
            continue  # a memory store lives in one process
        try:
            urls.append(make_store_url(driver, tmp_path, name=f"mp-{driver}"))
        except pytest.skip.Exception:
            continue  # an unreachable server skips locally (and fails under CI)
    # The spawned workers import the worker module from the folder beside this file.
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "langchain"))
    import langchain_mp_worker

    count = 10
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [
        context.Process(
            target=langchain_mp_worker.append_all, args=(urls, w, count, barrier, "shared")
        )
        for w in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    for url in urls:
        with UnistoreChatMessageHistory("shared", url, scope="mp") as history:
            contents = [str(m.content) for m in history.messages]
        assert sorted(contents) == sorted(f"{w}:{n}" for w in range(2) for n in range(count)), url
        for w in range(2):
            mine = [c for c in contents if c.startswith(f"{w}:")]
            assert mine == [f"{w}:{n}" for n in range(count)], url
    del sys.modules["langchain_mp_worker"]
