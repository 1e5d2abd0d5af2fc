"""Hostile app names, user ids, session ids and state keys never cross over."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.events import Event, EventActions

from unistore.integrations.adk import UnistoreSessionService

LONG = "x" * 10_000
# Pairs that a naive "app:user" key, path or glob would confuse.
PAIRS = [
    ("a:b", "c"),
    ("a", "b:c"),
    ('a","b', "c"),
    ("a", 'b","c'),
    ('["a"', '"b"]'),
    ("", ""),
    ("", "x"),
    ("x", ""),
    ("*", "*"),
    ("../", "..\x00"),
    ("%_", "{}"),
    ("a\x00b", "c"),
    (LONG, "y"),
    (LONG, "y "),
    ("\ud800", "\udfff"),
]
SESSION_IDS = ["*", "../s", "s\x00t", "%", "{s}", "s:1", "é", LONG]
STATE_KEYS = ["k", "k\x00", "", '"', "a:b", LONG]  # ADK cannot serialise lone surrogates


def tag(n: int) -> Event:
    return Event(
        id=f"event-{n}",
        author="agent",
        actions=EventActions(
            state_delta={"mine": n, "app:seen-by": n, f"app:{n}": n, "user:me": n, "temp:t": n}
        ),
    )


async def test_app_and_user_names_never_reach_another_pair(store_url: str) -> None:
    async with UnistoreSessionService(store_url) as service:
        for n, (app, user) in enumerate(PAIRS):
            session = await service.create_session(
                app_name=app, user_id=user, session_id="s", state={"created": n}
            )
            await service.append_event(session, tag(n))
        app_state: dict[str, dict[str, Any]] = defaultdict(dict)
        users: dict[str, list[str]] = defaultdict(list)
        for n, (app, user) in enumerate(PAIRS):
            app_state[app].update({"app:seen-by": n, f"app:{n}": n})
            users[app].append(user)
        for n, (app, user) in enumerate(PAIRS):
            got = await service.get_session(app_name=app, user_id=user, session_id="s")
            assert got is not None, (app[:20], user[:20])
            assert [e.id for e in got.events] == [f"event-{n}"]
            assert got.state == {"created": n, "mine": n, "user:me": n, **app_state[app]}
            assert await service.get_user_state(app_name=app, user_id=user) == {"me": n}
            mine = await service.list_sessions(app_name=app, user_id=user)
            assert [(s.user_id, s.id) for s in mine.sessions] == [(user, "s")]
            everyone = await service.list_sessions(app_name=app)
            assert sorted(s.user_id for s in everyone.sessions) == sorted(users[app])
        # Deleting one pair's session leaves every other pair's.
        await service.delete_session(app_name="a:b", user_id="c", session_id="s")
        assert await service.get_session(app_name="a:b", user_id="c", session_id="s") is None
        for app, user in PAIRS[1:]:
            assert await service.get_session(app_name=app, user_id=user, session_id="s")


async def test_session_ids_and_state_keys_are_plain_text(store_url: str) -> None:
    async with UnistoreSessionService(store_url) as service:
        for n, sid in enumerate(SESSION_IDS):
            state = {key: [n, key] for key in STATE_KEYS}
            state.update({f"user:{key}": n for key in STATE_KEYS})
            session = await service.create_session(
                app_name="app", user_id="u", session_id=sid, state=state
            )
            await service.append_event(session, tag(n))
        for n, sid in enumerate(SESSION_IDS):
            got = await service.get_session(app_name="app", user_id="u", session_id=sid)
            assert got is not None
            assert got.id == sid
            assert [e.id for e in got.events] == [f"event-{n}"]
            assert all(got.state[key] == [n, key] for key in STATE_KEYS)
        last = len(SESSION_IDS) - 1
        assert await service.get_user_state(app_name="app", user_id="u") == {
            **dict.fromkeys(STATE_KEYS, last),
            "me": last,
        }
        listed = await service.list_sessions(app_name="app", user_id="u")
        assert sorted(s.id for s in listed.sessions) == sorted(SESSION_IDS)
        await service.delete_session(app_name="app", user_id="u", session_id="*")
        listed = await service.list_sessions(app_name="app", user_id="u")
        assert sorted(s.id for s in listed.sessions) == sorted(SESSION_IDS[1:])


async def test_errors_show_a_hostile_session_id_bounded_and_escaped() -> None:
    forged = "s\nERROR forged log line " * 500
    async with UnistoreSessionService("memory://") as service:
        await service.create_session(app_name="app", user_id="u", session_id=forged)
        with pytest.raises(AlreadyExistsError) as caught:
            await service.create_session(app_name="app", user_id="u", session_id=forged)
        assert "\n" not in str(caught.value)
        assert len(str(caught.value)) < 300
