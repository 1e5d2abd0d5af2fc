"""The same scenario on ADK's InMemorySessionService and on ours, on every driver.

Clock and id providers are fixed, so the two services must return equal
sessions, events, states and errors, timestamps and generated ids included.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events import Event, EventActions
from google.adk.platform import time as platform_time
from google.adk.platform import uuid as platform_uuid
from google.adk.sessions import BaseSessionService, InMemorySessionService, Session
from google.adk.sessions.base_session_service import GetSessionConfig
from google.genai import types

from unistore.integrations.adk import UnistoreSessionService

APP = "travel"


class Clock:
    """ADK's clock in the scenario: it moves only when the scenario moves it."""

    now = 1_000.0


@pytest.fixture(autouse=True)
def fixed_providers() -> Iterator[None]:
    platform_time.set_time_provider(lambda: Clock.now)
    yield
    platform_time.reset_time_provider()
    platform_uuid.reset_id_provider()


def fresh_ids() -> None:
    ids = itertools.count(1)
    platform_uuid.set_id_provider(lambda: f"generated-{next(ids)}")


def dump(session: Session | None) -> Any:
    return None if session is None else session.model_dump(mode="json")


def event(n: int, ts: float, delta: dict[str, Any] | None = None, **extra: Any) -> Event:
    return Event(
        id=f"e{n}",
        invocation_id=f"inv{n // 3}",
        author="user" if n % 2 else "agent",
        timestamp=ts,
        content=types.Content(role="model", parts=[types.Part(text=f"text {n}")]),
        actions=EventActions(state_delta=delta or {}),
        **extra,
    )


async def outcome(call: Any) -> Any:
    """The result of an awaitable, or the type and message of what it raised."""
    try:
        return ("ok", await call)
    except (AlreadyExistsError, SessionNotFoundError, ValueError) as exc:
        return ("error", type(exc).__name__, str(exc))


async def scenario(service: BaseSessionService) -> list[Any]:
    seen: list[Any] = []
    fresh_ids()
    Clock.now = 1_000.0
    s1 = await service.create_session(
        app_name=APP,
        user_id="ada",
        session_id="s1",
        state={"a": 1, "app:region": "eu", "user:lang": "it", "temp:t": 9},
    )
    seen.append(dump(s1))
    Clock.now = 1_001.0
    generated = await service.create_session(app_name=APP, user_id="ada")
    seen.append(dump(generated))
    Clock.now = 1_002.0
    other_user = await service.create_session(
        app_name=APP, user_id="bob", session_id="s1", state={"user:lang": "en"}
    )
    seen.append(dump(other_user))
    seen.append(await outcome(service.create_session(app_name=APP, user_id="ada", session_id="s1")))
    Clock.now = 1_003.0
    seen.append(
        dump(await service.create_session(app_name="other", user_id="ada", session_id="s1"))
    )

    # Events with every kind of state key, a partial one and equal timestamps.
    appended = [
        event(1, 2000.0, {"a": 2, "temp:scratch": [1], "user:visits": 1}),
        event(2, 2001.0, {"app:count": 1}),
        event(3, 2001.0, partial=True),
        event(4, 2002.5, {"b": {"nested": [1, 2]}, "user:lang": "fr"}),
        event(5, 2003.0),
        event(6, 1999.0, {"a": 3}),  # an out-of-order clock, as a remote client may have
        event(7, 2004.0, {"temp:only": True}),
        event(10, 2004.0),  # the same time as the one before
        event(11, 2005.0, {"user:visits": 2}),
    ]
    for item in appended:
        returned = await service.append_event(s1, item)
        seen.append(returned.model_dump(mode="json"))
    seen.append(dump(s1))  # the caller's object: events, state (temp kept), update time
    await service.append_event(other_user, event(8, 2010.0, {"app:count": 2}))

    for config in (
        None,
        GetSessionConfig(),
        GetSessionConfig(num_recent_events=0),
        GetSessionConfig(num_recent_events=2),
        GetSessionConfig(num_recent_events=100),
        GetSessionConfig(after_timestamp=2001.0),
        GetSessionConfig(after_timestamp=2003.5),
        GetSessionConfig(after_timestamp=2004.0),
        GetSessionConfig(after_timestamp=2005.0),
        GetSessionConfig(num_recent_events=1, after_timestamp=2004.0),
        GetSessionConfig(after_timestamp=1000.0),
        GetSessionConfig(after_timestamp=9999.0),
        GetSessionConfig(num_recent_events=3, after_timestamp=2000.5),
        GetSessionConfig(num_recent_events=5, after_timestamp=0.0),
    ):
        got = await service.get_session(app_name=APP, user_id="ada", session_id="s1", config=config)
        seen.append(dump(got))
    seen.append(dump(await service.get_session(app_name=APP, user_id="ada", session_id=" s1 ")))
    for app, user, sid in ((APP, "bob", "s1"), ("other", "ada", "s1"), (APP, "zed", "s1")):
        seen.append(dump(await service.get_session(app_name=app, user_id=user, session_id=sid)))
    seen.append(dump(await service.get_session(app_name=APP, user_id="ada", session_id="nope")))

    for app, user in ((APP, "ada"), (APP, None), (APP, "zed"), ("none", None), ("other", None)):
        listed = await service.list_sessions(app_name=app, user_id=user)
        seen.append(listed.model_dump(mode="json"))
    for user in ("ada", "bob", "zed"):
        seen.append(await service.get_user_state(app_name=APP, user_id=user))

    await service.delete_session(app_name=APP, user_id="ada", session_id="s1")
    await service.delete_session(app_name=APP, user_id="ada", session_id="s1")
    await service.delete_session(app_name=APP, user_id="nobody", session_id="s1")
    seen.append(dump(await service.get_session(app_name=APP, user_id="ada", session_id="s1")))
    seen.append(await outcome(service.append_event(s1, event(9, 2020.0))))
    seen.append((await service.list_sessions(app_name=APP)).model_dump(mode="json"))
    # The id is free again; user and app state outlive the session.
    Clock.now = 3_000.0
    again = await service.create_session(app_name=APP, user_id="ada", session_id="s1")
    seen.append(dump(again))
    return seen


async def test_same_results_as_adk_in_memory_service(store_url: str) -> None:
    expected = await scenario(InMemorySessionService())
    async with UnistoreSessionService(store_url) as ours:
        actual = await scenario(ours)
    for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
        assert got == want, f"observation {index} differs"
