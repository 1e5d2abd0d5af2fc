"""UnistoreSession against the OpenAI Agents SDK's Session protocol, on every driver."""

from __future__ import annotations

import asyncio
import random
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from agents import SQLiteSession
from agents.memory import Session, SessionSettings

import unistore
from unistore.errors import (
    CorruptionError,
    SessionNotFoundError,
    StoreTimeoutError,
    ValidationError,
)
from unistore.integrations.openai_agents import UnistoreSession

ITEMS: list[dict[str, Any]] = [
    {"role": "user", "content": "What is 2 + 2?"},
    {"type": "function_call", "call_id": "c1", "name": "add", "arguments": '{"a": 2, "b": 2}'},
    {"type": "function_call_output", "call_id": "c1", "output": "4"},
    {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": "2 + 2 = 4 ☃\u2028", "annotations": []}],
    },
    {"role": "user", "content": [{"type": "input_text", "text": "and 3 + 3?"}]},
    {"role": "system", "content": "Be brief.\n\tReally."},
]


def test_implements_the_sdk_session_protocol(tmp_path: Path) -> None:
    session = UnistoreSession("s", "memory://")
    assert isinstance(session, Session)
    assert session.session_id == "s"
    assert session.session_settings == SessionSettings()
    assert UnistoreSession("s", "memory://", session_settings={"limit": 3}).session_settings == (
        SessionSettings(limit=3)
    )
    session.close()


async def _script(session: Any, seed: int) -> list[Any]:
    """Run one random sequence of protocol calls; return every observable result."""
    rng = random.Random(seed)
    seen: list[Any] = []
    for _ in range(40):
        op = rng.choice(["add", "add", "add", "get", "get", "pop", "clear"])
        if op == "add":
            await session.add_items([dict(rng.choice(ITEMS)) for _ in range(rng.randint(0, 3))])
        elif op == "get":
            limit = rng.choice([None, 0, 1, 2, 5, 100])
            seen.append(("get", limit, await session.get_items(limit)))
        elif op == "pop":
            seen.append(("pop", await session.pop_item()))
        else:
            await session.clear_session()
    seen.append(("end", await session.get_items()))
    return seen


async def test_same_results_as_the_sdk_sqlite_session(store_url: str, tmp_path: Path) -> None:
    ours = UnistoreSession("conv", store_url)
    reference = SQLiteSession("conv", tmp_path / "reference.db")
    try:
        for seed in range(3):
            assert await _script(ours, seed) == await _script(reference, seed)
        # The default limit comes from session_settings, an explicit one wins.
        full = await ours.get_items()
        limited = ours  # the attribute is what Runner and get_items read
        limited.session_settings = SessionSettings(limit=2)
        ref_limited = SQLiteSession(
            "conv", tmp_path / "reference.db", session_settings=SessionSettings(limit=2)
        )
        assert await limited.get_items() == await ref_limited.get_items()
        assert await limited.get_items(4) == await ref_limited.get_items(4)
        assert await limited.get_items() == full[-2:]
        # A negative limit gives no items, as the SDK's Redis session (and
        # its SQLite session from later releases) do.
        assert await ours.get_items(-1) == []
        ref_limited.close()
    finally:
        reference.close()
        await ours.aclose()


async def test_concurrent_add_items_from_tasks_and_threads_lose_nothing(store_url: str) -> None:
    session = UnistoreSession("busy", store_url)
    try:

        async def task_writer(n: int) -> None:
            for i in range(4):
                await session.add_items(
                    [{"w": f"t{n}", "i": i, "k": 0}, {"w": f"t{n}", "i": i, "k": 1}]
                )

        def thread_writer(n: int) -> None:
            for i in range(4):
                asyncio.run(
                    session.add_items(
                        [{"w": f"h{n}", "i": i, "k": 0}, {"w": f"h{n}", "i": i, "k": 1}]
                    )
                )

        threads = [threading.Thread(target=thread_writer, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        await asyncio.gather(*(task_writer(n) for n in range(4)))
        for thread in threads:
            await asyncio.to_thread(thread.join)
        items = await session.get_items()
        assert len(items) == 8 * 4 * 2
        keys = {(item["w"], item["i"], item["k"]) for item in items}
        assert len(keys) == len(items)
        # One add_items is one atomic append: its two items stay adjacent.
        for first, second in zip(items[::2], items[1::2], strict=True):
            assert (first["w"], first["i"], first["k"]) == (second["w"], second["i"], 0)
            assert second["k"] == 1
        # Each writer's calls land in the order it made them.
        for writer in {item["w"] for item in items}:
            order = [item["i"] for item in items if item["w"] == writer and item["k"] == 0]
            assert order == sorted(order)
    finally:
        await session.aclose()


async def test_concurrent_pops_never_return_one_item_twice(store_url: str) -> None:
    session = UnistoreSession("pops", store_url)
    try:
        await session.add_items([{"n": n} for n in range(12)])
        popped = await asyncio.gather(*(session.pop_item() for _ in range(15)))
        got = [item["n"] for item in popped if item is not None]
        assert sorted(got) == list(range(12))
        assert popped.count(None) == 3
        assert await session.get_items() == []
    finally:
        await session.aclose()


HOSTILE = ["*", "a:b", "{tag}", "../x", "x\x00y", "%_", "[a-z]?", "s", "S", "é" * 1024]
SCOPES = [None, "*", "alice", "alice:", "../alice", "{alice}", "al%", "x" * 1024]


async def test_hostile_ids_and_scopes_stay_apart(store_url: str) -> None:
    async with unistore.connect(store_url) as store:
        pairs = [(sid, scope) for sid in HOSTILE for scope in SCOPES[:3]]
        pairs += [("s", scope) for scope in SCOPES[3:]]
        sessions = [UnistoreSession(sid, store, scope=scope) for sid, scope in pairs]
        for n, session in enumerate(sessions):
            await session.add_items([{"owner": n}])
        for n, session in enumerate(sessions):
            assert await session.get_items() == [{"owner": n}]
        # Clearing or popping "*" in the default scope touches nothing else.
        await sessions[0].clear_session()
        star = UnistoreSession("*", store, scope="*")
        assert await star.pop_item() is not None
        for n, session in enumerate(sessions[1:], start=1):
            expected = [] if (session.session_id, session.scope) == ("*", "*") else [{"owner": n}]
            assert await session.get_items() == expected


async def test_bad_input_raises_validation_errors_naming_it() -> None:
    async with unistore.connect("memory://") as store:
        with pytest.raises(ValidationError, match="session id must be a str"):
            UnistoreSession(7, store)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="1 to 1024"):
            UnistoreSession("", store)
        with pytest.raises(ValidationError, match="1 to 1024"):
            UnistoreSession("x" * 1025, store)
        with pytest.raises(ValidationError, match="scope must not contain a NUL"):
            UnistoreSession("s", store, scope="a\x00b")
        with pytest.raises(ValidationError, match="session_settings"):
            UnistoreSession("s", store, session_settings=3)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="keys: limit"):
            UnistoreSession("s", store, session_settings={"limit": "many"})
        with pytest.raises(ValidationError, match=r"(?i)ttl"):
            UnistoreSession("s", store, ttl=-1)
        with pytest.raises(ValidationError, match="takes a store URL"):
            UnistoreSession("s", 42)  # type: ignore[arg-type]
        session = UnistoreSession("s", store)
        with pytest.raises(ValidationError, match="items must be a list"):
            await session.add_items("hello")  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="item 1 must be a mapping"):
            await session.add_items([{"a": 1}, "b"])  # type: ignore[list-item]
        with pytest.raises(ValidationError, match="item 0 is not JSON"):
            await session.add_items([{"a": float("nan")}])  # type: ignore[list-item]
        with pytest.raises(ValidationError, match="item 0 is not JSON"):
            await session.add_items([{"a": object()}])  # type: ignore[list-item]
        with pytest.raises(ValidationError, match="idempotency token"):
            await session.add_items([{"a": 1}], token="ü")
        with pytest.raises(ValidationError, match="limit must be an int or None, got str"):
            await session.get_items("3")  # type: ignore[arg-type]
        # A refused call wrote nothing, not even the valid items before the bad one.
        assert await store.get_session("s") is None
        assert await session.get_items() == []


async def test_ttl_and_scope_reach_the_stored_session(store_url: str) -> None:
    async with unistore.connect(store_url) as store:
        session = UnistoreSession("t", store, scope="tenant-1", ttl=600)
        await session.add_items([{"role": "user", "content": "hi"}])
        record = await store.get_session("t", scope="tenant-1")
        assert record is not None
        assert record.ttl == 600
        assert record.message_count == 1
        assert await store.get_session("t") is None


async def test_a_stored_message_that_is_not_json_is_reported(store_url: str) -> None:
    async with unistore.connect(store_url) as store:
        await store.create_session("bad")
        await store.append_messages("bad", ["{not json"])
        session = UnistoreSession("bad", store)
        with pytest.raises(CorruptionError, match="not JSON"):
            await session.get_items()


class LostReplies:
    """A real store whose next appends are applied, then answered with a timeout.

    This is what a dropped connection after the commit looks like to a client.
    """

    def __init__(self, store: Any, losses: int) -> None:
        self._store = store
        self.losses = losses
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def append_messages(self, *args: Any, **kwargs: Any) -> int:
        self.calls += 1
        length: int = await self._store.append_messages(*args, **kwargs)
        if self.losses:
            self.losses -= 1
            raise StoreTimeoutError("the reply was lost; the append may have been applied")
        return length


async def test_a_lost_reply_is_resent_with_its_token_and_applied_once(store_url: str) -> None:
    async with unistore.connect(store_url) as store:
        await store.create_session("x")
        flaky = LostReplies(store, losses=2)
        session = UnistoreSession("x", flaky)  # type: ignore[arg-type]
        await session.add_items([{"n": 1}, {"n": 2}])
        assert flaky.calls == 3
        assert await session.get_items() == [{"n": 1}, {"n": 2}]


async def test_the_users_retry_after_a_timeout_is_applied_once(store_url: str) -> None:
    async with unistore.connect(store_url) as store:
        await store.create_session("x")
        flaky = LostReplies(store, losses=3)
        session = UnistoreSession("x", flaky)  # type: ignore[arg-type]
        with pytest.raises(StoreTimeoutError):
            await session.add_items([{"n": 1}])
        # The documented retry: the same items again.
        await session.add_items([{"n": 1}])
        assert await session.get_items() == [{"n": 1}]
        # Other items are a new write; an explicit token makes any retry safe.
        await session.add_items([{"n": 1}])
        await session.add_items([{"n": 2}], token="req-7")
        await session.add_items([{"n": 2}], token="req-7")
        assert await session.get_items() == [{"n": 1}, {"n": 1}, {"n": 2}]


class HangsAfterApplying(LostReplies):
    """A real store whose next append is applied, then never answered."""

    async def append_messages(self, *args: Any, **kwargs: Any) -> int:
        length: int = await self._store.append_messages(*args, **kwargs)
        if self.losses:
            self.losses -= 1
            await asyncio.Event().wait()
        return length


async def test_a_retry_after_cancelling_an_applied_append_is_applied_once(store_url: str) -> None:
    async with unistore.connect(store_url) as store:
        await store.create_session("x")
        session = UnistoreSession("x", HangsAfterApplying(store, losses=1))  # type: ignore[arg-type]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(session.add_items([{"n": 1}]), 0.5)
        await session.add_items([{"n": 1}])
        assert await session.get_items() == [{"n": 1}]


async def test_clear_then_add_starts_a_fresh_session(store_url: str) -> None:
    async with unistore.connect(store_url) as store:
        session = UnistoreSession("c", store)
        assert await session.pop_item() is None
        await session.clear_session()  # clearing a session that never existed is fine
        await session.add_items([{"n": 1}])
        await session.clear_session()
        assert await store.get_session("c") is None
        with pytest.raises(SessionNotFoundError):
            await store.read_messages("c")
        await session.add_items([{"n": 2}])
        assert await session.get_items() == [{"n": 2}]


def test_an_owned_store_is_closed_by_close(tmp_path: Path) -> None:
    session = UnistoreSession("o", f"sqlite:///{tmp_path / 'o.db'}")
    asyncio.run(session.add_items([{"n": 1}]))
    assert asyncio.run(session.get_items()) == [{"n": 1}]
    session.close()
    assert session.store.closed  # type: ignore[attr-defined]
    assert "o" in repr(session)


def test_import_without_the_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "unistore.integrations.openai_agents")
    monkeypatch.setitem(sys.modules, "agents.items", None)
    with pytest.raises(ImportError, match=r'pip install "unistore\[openai-agents\]"'):
        import unistore.integrations.openai_agents  # noqa: F401
