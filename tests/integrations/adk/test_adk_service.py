"""UnistoreSessionService beyond the reference scenario: stale writers, retries,
parallel branches, retention, the store it is given, and bad input."""

from __future__ import annotations

import asyncio
import importlib
import sys
from typing import Any

import pytest
from google.adk.errors import StaleSessionError
from google.adk.events import Event, EventActions
from google.adk.sessions import Session
from google.adk.sessions.base_session_service import GetSessionConfig

import unistore
from unistore.errors import ValidationError
from unistore.integrations._adk._layout import scope_of
from unistore.integrations.adk import UnistoreSessionService


def event(name: str, delta: dict[str, Any] | None = None) -> Event:
    return Event(id=name, author="agent", actions=EventActions(state_delta=delta or {}))


async def ids(service: UnistoreSessionService, user: str = "u", sid: str = "s") -> list[str]:
    got = await service.get_session(app_name="app", user_id=user, session_id=sid)
    assert got is not None
    return [e.id for e in got.events]


async def test_a_session_object_the_store_moved_past_is_stale(store_url: str) -> None:
    async with UnistoreSessionService(store_url) as service:
        await service.create_session(app_name="app", user_id="u", session_id="s")
        first = await service.get_session(app_name="app", user_id="u", session_id="s")
        second = await service.get_session(app_name="app", user_id="u", session_id="s")
        assert first is not None
        assert second is not None
        await service.append_event(first, event("a", {"k": 1}))
        with pytest.raises(StaleSessionError, match="reload it"):
            await service.append_event(second, event("b", {"k": 2}))
        # Reloaded, the second writer goes on; the first is now the stale one.
        second = await service.get_session(
            app_name="app",
            user_id="u",
            session_id="s",
            config=GetSessionConfig(num_recent_events=0),
        )
        assert second is not None
        await service.append_event(second, event("b", {"k": 2}))
        with pytest.raises(StaleSessionError):
            await service.append_event(first, event("c"))
        assert await ids(service) == ["a", "b"]
        got = await service.get_session(app_name="app", user_id="u", session_id="s")
        assert got is not None
        assert got.state == {"k": 2}


async def test_a_foreign_session_object_is_checked_by_its_last_event(store_url: str) -> None:
    async with UnistoreSessionService(store_url) as service:
        created = await service.create_session(app_name="app", user_id="u", session_id="s")
        await service.append_event(created, event("a"))
        # Built by hand (no revision marker), as DatabaseSessionService allows.
        current = Session(id="s", app_name="app", user_id="u", events=[event("a")])
        behind = Session(id="s", app_name="app", user_id="u")
        with pytest.raises(StaleSessionError):
            await service.append_event(behind, event("x"))
        await service.append_event(current, event("b"))
        assert await ids(service) == ["a", "b"]


async def test_a_retried_append_whose_reply_was_lost_is_stored_once(store_url: str) -> None:
    async with UnistoreSessionService(store_url) as service:
        session = await service.create_session(app_name="app", user_id="u", session_id="s")
        lost = session.model_copy(deep=True)  # the caller's object as it was before the call
        assert lost._storage_update_marker == session._storage_update_marker
        item = event("a", {"n": 1, "user:n": 1})
        await service.append_event(session, item)
        # The caller never saw the reply and sends the same event again.
        await service.append_event(lost, item.model_copy(deep=True))
        assert [e.id for e in lost.events] == ["a"]
        assert await ids(service) == ["a"]
        # And the object it retried with is current: it appends on.
        await service.append_event(lost, event("b"))
        assert await ids(service) == ["a", "b"]
        # An equal re-delivery through the same object is held once too.
        again = await service.get_session(app_name="app", user_id="u", session_id="s")
        assert again is not None
        await service.append_event(again, again.events[-1].model_copy(deep=True))
        assert [e.id for e in again.events] == ["a", "b"]
        assert await ids(service) == ["a", "b"]


async def test_distinct_events_sharing_an_id_are_both_kept(store_url: str) -> None:
    async with UnistoreSessionService(store_url) as service:
        session = await service.create_session(app_name="app", user_id="u", session_id="s")
        await service.append_event(session, event("same", {"v": 1}))
        await service.append_event(session, event("same", {"v": 2}))
        assert await ids(service) == ["same", "same"]


async def test_parallel_branches_appending_through_one_object_all_land(store_url: str) -> None:
    async with UnistoreSessionService(store_url) as service:
        session = await service.create_session(app_name="app", user_id="u", session_id="s")
        names = [f"branch-{n}" for n in range(8)]
        await asyncio.gather(*(service.append_event(session, event(n, {n: 1})) for n in names))
        assert sorted(await ids(service)) == names
        assert sorted(e.id for e in session.events) == names
        got = await service.get_session(app_name="app", user_id="u", session_id="s")
        assert got is not None
        assert got.state == dict.fromkeys(names, 1)


async def test_recent_events_are_read_without_reading_the_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with unistore.connect("memory://") as store:
        service = UnistoreSessionService(store)
        session = await service.create_session(app_name="app", user_id="u", session_id="s")
        for n in range(300):
            item = Event(id=f"e{n}", author="agent", timestamp=float(n))
            await service.append_event(session, item)
        asked: list[int | None] = []
        real = store.read_messages

        async def spy(session_id: str, *, last: int | None = None, scope: str | None = None) -> Any:
            asked.append(last)
            return await real(session_id, last=last, scope=scope)

        monkeypatch.setattr(store, "read_messages", spy)
        for config, want in (
            (GetSessionConfig(num_recent_events=20), list(range(280, 300))),
            (GetSessionConfig(after_timestamp=290.0), list(range(290, 300))),
            (GetSessionConfig(after_timestamp=150.0), list(range(150, 300))),
        ):
            got = await service.get_session(
                app_name="app", user_id="u", session_id="s", config=config
            )
            assert got is not None
            assert [e.timestamp for e in got.events] == [float(n) for n in want]
        # 20 events; 10 within the first look back; 150 after looks of 32 and 128.
        assert asked == [20, 32, 32, 128, 512]


async def test_sessions_expire_ttl_seconds_after_their_last_event() -> None:
    async with unistore.connect("memory://") as store:
        service = UnistoreSessionService(store, ttl=3600)
        await service.create_session(app_name="app", user_id="u", session_id="s")
        record = await store.get_session("s", scope=scope_of("app", "u"))
        assert record is not None
        assert record.ttl == 3600.0
        forever = UnistoreSessionService(store)
        await forever.create_session(app_name="app", user_id="u", session_id="t")
        record = await store.get_session("t", scope=scope_of("app", "u"))
        assert record is not None
        assert record.ttl is None


async def test_a_borrowed_store_stays_open_and_an_owned_one_is_closed() -> None:
    async with unistore.connect("memory://") as store:
        async with UnistoreSessionService(store) as service:
            await service.create_session(app_name="app", user_id="u", session_id="s")
        assert not store.closed  # type: ignore[attr-defined]
        assert await store.get_session("s", scope=scope_of("app", "u")) is not None
    owned = UnistoreSessionService("memory://")
    await owned.close()
    assert owned.store.closed  # type: ignore[attr-defined]


def test_runs_from_successive_event_loops_when_opened_from_a_url(tmp_path: Any) -> None:
    service = UnistoreSessionService(f"sqlite:///{tmp_path / 'adk.db'}")
    session = asyncio.run(service.create_session(app_name="app", user_id="u", session_id="s"))
    asyncio.run(service.append_event(session, event("a")))
    assert asyncio.run(ids(service)) == ["a"]
    asyncio.run(service.close())


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.create_session(app_name=1, user_id="u"), "app_name must be a str, got int"),
        (lambda s: s.create_session(app_name="a", user_id=None), "user_id must be a str"),
        (
            lambda s: s.create_session(app_name="a", user_id="u", session_id=5),
            "session_id must be a str",
        ),
        (lambda s: s.get_session(app_name="a", user_id=b"u", session_id="s"), "user_id"),
        (lambda s: s.list_sessions(app_name=None), "app_name must be a str"),
        (
            lambda s: s.create_session(app_name="a", user_id="u", state=[("k", 1)]),
            "state must be a dict",
        ),
        (
            lambda s: s.create_session(app_name="a", user_id="u", state={"x": float("nan")}),
            "JSON",
        ),
    ],
)
async def test_bad_input_raises_a_validation_error_naming_it(call: Any, message: str) -> None:
    async with UnistoreSessionService("memory://") as service:
        with pytest.raises(ValidationError, match=message):
            await call(service)


def test_bad_construction_arguments_are_refused() -> None:
    with pytest.raises(ValidationError, match="ttl"):
        UnistoreSessionService("memory://", ttl=-1)
    with pytest.raises(ValidationError, match="not int"):
        UnistoreSessionService(42)  # type: ignore[arg-type]


def test_without_adk_the_import_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "unistore.integrations.adk")
    monkeypatch.setitem(sys.modules, "google.adk.errors", None)
    with pytest.raises(ImportError, match=r'pip install "unistore\[adk\]"'):
        importlib.import_module("unistore.integrations.adk")


async def test_another_service_on_the_store_makes_a_loaded_session_stale(store_url: str) -> None:
    async with unistore.connect(store_url) as store:
        mine, theirs = UnistoreSessionService(store), UnistoreSessionService(store)
        session = await mine.create_session(app_name="app", user_id="u", session_id="s")
        await mine.append_event(session, event("a", {"k": "mine"}))
        other = await theirs.get_session(app_name="app", user_id="u", session_id="s")
        assert other is not None
        await theirs.append_event(other, event("b", {"k": "theirs"}))
        # This service still knows the state it wrote; the store moved on.
        with pytest.raises(StaleSessionError):
            await mine.append_event(session, event("c", {"k": "lost?"}))
        got = await mine.get_session(app_name="app", user_id="u", session_id="s")
        assert got is not None
        assert [e.id for e in got.events] == ["a", "b"]
        assert got.state == {"k": "theirs"}


async def test_an_append_after_a_load_reads_nothing_first(monkeypatch: pytest.MonkeyPatch) -> None:
    async with unistore.connect("memory://") as store:
        service = UnistoreSessionService(store)
        created = await service.create_session(app_name="app", user_id="u", session_id="s")
        reads: list[str] = []
        real = store.get_session

        async def spy(session_id: str, *, scope: str | None = None) -> Any:
            reads.append(session_id)
            return await real(session_id, scope=scope)

        monkeypatch.setattr(store, "get_session", spy)
        await service.append_event(created, event("a", {"k": 1}))
        await service.append_event(created, event("b", {"k": 2}))
        assert reads == []
        # A session object this service has not seen stored is read first.
        fresh = UnistoreSessionService(store)
        await fresh.append_event(created, event("c", {"j": 3}))
        assert reads == ["s"]
        got = await service.get_session(app_name="app", user_id="u", session_id="s")
        assert got is not None
        assert got.state == {"k": 2, "j": 3}
