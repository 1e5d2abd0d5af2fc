"""Sessions as ADK sees them, built from and written to the store's records."""

from __future__ import annotations

import asyncio
from typing import Any

from google.adk.errors import StaleSessionError
from google.adk.events.event import Event
from google.adk.sessions.session import Session
from google.adk.sessions.state import State

from unistore.integrations._adk import _layout as layout
from unistore.integrations._adk._events import decode
from unistore.protocols import FullStore, SessionRecord

STALE = (
    "the session changed in the store since it was loaded "
    "(another writer appended to it); reload it with get_session and append again"
)
_PAGE = 500
# How far past its revision a session may have moved for a conflicting append
# to still be recognised as the retry of one that landed.
_RETRY_WINDOW = 100


def merge(
    app_state: dict[str, Any], user_state: dict[str, Any], session_state: dict[str, Any]
) -> dict[str, Any]:
    """Return a session's state as ADK shows it: its own, then prefixed app and user keys."""
    merged = dict(session_state)
    merged.update({State.APP_PREFIX + key: value for key, value in app_state.items()})
    merged.update({State.USER_PREFIX + key: value for key, value in user_state.items()})
    return merged


def to_session(
    record: SessionRecord,
    app_name: str,
    user_id: str,
    app_state: dict[str, Any],
    user_state: dict[str, Any],
    events: list[Event],
) -> Session:
    """Return the ADK session a store record stands for, with the given events."""
    session = Session(
        id=record.id,
        app_name=app_name,
        user_id=user_id,
        state=merge(app_state, user_state, layout.stored_state(record.metadata)),
        events=events,
        last_update_time=layout.stored_update_time(record.metadata),
    )
    session._storage_update_marker = layout.marker(record.message_count)
    return session


async def shared_state(
    store: FullStore, app_name: str, user_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the app's and the user's state (keys without their prefixes)."""
    app_fields, user_fields = await asyncio.gather(
        store.hgetall(layout.APP_STATE_NS, layout.app_slot(app_name)),
        store.hgetall(layout.USER_STATE_NS, layout.user_slot(app_name, user_id)),
    )
    return layout.decode_state(app_fields), layout.decode_state(user_fields)


async def write_shared_state(
    store: FullStore, app_name: str, user_id: str, deltas: dict[str, dict[str, Any]]
) -> None:
    """Merge the app and user parts of a state delta into the shared state."""
    writes = []
    if deltas["app"]:
        app_fields = layout.encode_state(deltas["app"])
        writes.append(
            store.hset(layout.APP_STATE_NS, layout.app_slot(app_name), app_fields, ttl=None)
        )
    if deltas["user"]:
        user_fields = layout.encode_state(deltas["user"])
        user_slot = layout.user_slot(app_name, user_id)
        writes.append(store.hset(layout.USER_STATE_NS, user_slot, user_fields, ttl=None))
    # Independent writes, sent side by side: where the driver has a pool of
    # connections they take the time of one.
    await asyncio.gather(*writes)


async def all_records(store: FullStore, scope: str) -> list[SessionRecord]:
    """Return every session record of one scope, page by page."""
    records: list[SessionRecord] = []
    cursor: str | None = None
    while True:
        page = await store.list_sessions(scope=scope, limit=_PAGE, cursor=cursor)
        records.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return records


async def revision_of_foreign(
    store: FullStore, session: Session, record: SessionRecord, scope: str
) -> int:
    """Return the length to append after for a session object we did not load.

    As ``DatabaseSessionService`` does for a session without its revision
    marker: if the store was updated after the object's ``last_update_time``,
    the object is current only if its last event is the store's last event.
    """
    if layout.stored_update_time(record.metadata) > session.last_update_time:
        last = decode(await store.read_messages(session.id, last=1, scope=scope))
        mine = session.events[-1].id if session.events else None
        theirs = last[0].id if last else None
        if mine != theirs:
            raise StaleSessionError(STALE)
    return record.message_count


async def landed(store: FullStore, session_id: str, scope: str, revision: int, text: str) -> bool:
    """Whether an append after ``revision`` that conflicted was this very event.

    The reply of an earlier try may have been lost (or the driver retried it):
    then the store holds the event right after ``revision``, and the append is
    done. Only the events since ``revision`` are read, at most a hundred.
    """
    record = await store.get_session(session_id, scope=scope)
    if record is None:
        return False
    since = record.message_count - revision
    if not 0 < since <= _RETRY_WINDOW:
        return False
    after = await store.read_messages(session_id, last=since, scope=scope)
    return len(after) == since and after[0] == text
