"""Google ADK session service on any unistore store.

:class:`UnistoreSessionService` implements ADK's ``BaseSessionService``::

    from google.adk.runners import Runner
    from unistore.integrations.adk import UnistoreSessionService

    service = UnistoreSessionService("redis://127.0.0.1:6379/0")
    runner = Runner(agent=agent, app_name="travel", session_service=service)

Sessions live in one unistore scope per ``(app_name, user_id)`` pair, their
events are the session's messages and their state its metadata, written
together in one atomic append. App and user state are hashes shared by the
app's and the user's sessions. Install with ``pip install "unistore[adk]"``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

try:
    from google.adk.errors import StaleSessionError
    from google.adk.errors.already_exists_error import AlreadyExistsError
    from google.adk.errors.session_not_found_error import (
        SessionNotFoundError as AdkSessionNotFoundError,
    )
    from google.adk.events.event import Event
    from google.adk.platform import time as platform_time
    from google.adk.platform import uuid as platform_uuid
    from google.adk.sessions import _session_util
    from google.adk.sessions.base_session_service import (
        BaseSessionService,
        GetSessionConfig,
        ListSessionsResponse,
    )
    from google.adk.sessions.session import Session
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        'unistore.integrations.adk needs Google ADK: pip install "unistore[adk]"'
    ) from exc

from unistore._sessions._opening import check_session_ttl
from unistore._url import StoreURL
from unistore.errors import SessionConflictError, SessionExistsError, SessionNotFoundError
from unistore.integrations._adk import _layout as layout
from unistore.integrations._adk import _records
from unistore.integrations._adk._events import read_window
from unistore.integrations._adk._locks import KeyedLocks
from unistore.integrations._adk._states import StateCache
from unistore.integrations._bridge import StoreBridge
from unistore.protocols import FullStore, SessionRecord, Store

__all__ = ["UnistoreSessionService"]

_OWNER = "UnistoreSessionService"


class UnistoreSessionService(BaseSessionService):
    """ADK sessions, events and app/user/session state in a unistore store.

    Args:
        store_or_url: A store URL (the service opens the store and closes it in
            :meth:`close`) or an open unistore store (borrowed).
        ttl: Seconds or a ``timedelta``: each session expires that long after
            its last event. ``None`` (the default): sessions never expire. App
            and user state never expire.
        options: Driver options, with a URL only.

    Behaves as ADK's own services do: a taken session id raises
    ``AlreadyExistsError``, ``append_event`` on a missing session raises
    ADK's ``SessionNotFoundError``, and appending through a session object
    the store has moved past (another writer appended since it was loaded)
    raises ``StaleSessionError``, as ``DatabaseSessionService`` does. A retry
    of an ``append_event`` whose reply was lost stores the event once.

    Raises:
        ValidationError: ``store_or_url`` or ``ttl`` is not valid.
    """

    def __init__(
        self,
        store_or_url: str | StoreURL | Store,
        *,
        ttl: float | timedelta | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self._ttl = check_session_ttl(ttl)
        self._bridge = StoreBridge(store_or_url, owner=_OWNER, options=options)
        self._appending = KeyedLocks()
        self._states = StateCache()

    @property
    def store(self) -> FullStore:
        """The store the service writes to."""
        return self._bridge.store

    async def close(self) -> None:
        """Close the store if the service opened it from a URL."""
        await self._bridge.aclose()

    async def __aenter__(self) -> UnistoreSessionService:
        """Return the service; leaving the block closes it."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the service (see :meth:`close`)."""
        await self.close()

    async def create_session(
        self,
        *,
        app_name: str,
        user_id: str,
        state: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> Session:
        """Create a session, with the caller's id or a generated one.

        ``app:`` and ``user:`` keys of ``state`` go to the app's and the
        user's state, ``temp:`` keys are dropped, the rest is the session's.

        Raises:
            AlreadyExistsError: ``session_id`` is taken for this app and user.
        """
        app_name = layout.check_name(app_name, "app_name")
        user_id = layout.check_name(user_id, "user_id")
        given = layout.check_session_id(session_id) if session_id is not None else ""
        # Generated in the caller's context: ADK's id and clock providers are
        # context variables, and the store may run on another thread.
        new_id = given or platform_uuid.new_uuid()
        now = platform_time.get_time()
        deltas = _session_util.extract_json_safe_state_delta(layout.check_state(state))
        scope = layout.scope_of(app_name, user_id)

        async def create(store: FullStore) -> tuple[dict[str, Any], dict[str, Any]]:
            # The user is registered first so that a listing of the app finds
            # the session even if this call is cut off right after creating it.
            await store.hset(
                layout.USERS_NS,
                layout.app_slot(app_name),
                {layout.user_field(user_id): b"1"},
                ttl=None,
            )
            try:
                await store.create_session(
                    new_id,
                    scope=scope,
                    metadata=layout.session_metadata(deltas["session"], now),
                    ttl=self._ttl,
                )
            except SessionExistsError as exc:
                raise AlreadyExistsError(
                    f"Session with id {layout.shown(new_id)} already exists."
                ) from exc
            await _records.write_shared_state(store, app_name, user_id, deltas)
            return await _records.shared_state(store, app_name, user_id)

        app_state, user_state = await self._bridge.call(create)
        self._states.put(scope, new_id, 0, dict(deltas["session"]))
        session = Session(
            id=new_id,
            app_name=app_name,
            user_id=user_id,
            state=_records.merge(app_state, user_state, deltas["session"]),
            last_update_time=now,
        )
        session._storage_update_marker = layout.marker(0)
        return session

    async def get_session(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        config: GetSessionConfig | None = None,
    ) -> Session | None:
        """Return a session with its merged state and the events ``config`` selects.

        ``config.num_recent_events`` reads only that many events from the
        store; ``config.after_timestamp`` keeps the events after the latest
        one older than it, as ADK's in-memory service does. ``None`` if there
        is no such session for this app and user.
        """
        app_name = layout.check_name(app_name, "app_name")
        user_id = layout.check_name(user_id, "user_id")
        session_id = layout.check_session_id(session_id)
        scope = layout.scope_of(app_name, user_id)
        recent = config.num_recent_events if config is not None else None
        after = config.after_timestamp if config is not None else None

        async def load(
            store: FullStore,
        ) -> tuple[SessionRecord, list[Event], dict[str, Any], dict[str, Any]] | None:
            # The record is read before the events: its length is the revision
            # the returned session may append after, and a length read first
            # can only be older than the events (a false stale error at worst,
            # never a silently lost update).
            record = await store.get_session(session_id, scope=scope)
            if record is None:
                return None
            try:
                events, (app_state, user_state) = await asyncio.gather(
                    read_window(
                        store,
                        session_id,
                        scope,
                        num_recent_events=recent,
                        after_timestamp=after,
                    ),
                    _records.shared_state(store, app_name, user_id),
                )
            except SessionNotFoundError:  # deleted or expired meanwhile
                return None
            return record, events, app_state, user_state

        loaded = await self._bridge.call(load)
        if loaded is None:
            return None
        record, events, app_state, user_state = loaded
        self._states.put(
            scope, session_id, record.message_count, layout.stored_state(record.metadata)
        )
        return _records.to_session(record, app_name, user_id, app_state, user_state, events)

    async def list_sessions(
        self, *, app_name: str, user_id: str | None = None
    ) -> ListSessionsResponse:
        """List one user's sessions, or every user's of the app, without events.

        Ordered by last update time, oldest first (then user id, then id), as
        ADK's services do; each session's state is merged with its app's and
        user's state.
        """
        app_name = layout.check_name(app_name, "app_name")
        if user_id is not None:
            user_id = layout.check_name(user_id, "user_id")

        async def listing(store: FullStore) -> list[Session]:
            if user_id is None:
                fields = await store.hkeys(layout.USERS_NS, layout.app_slot(app_name))
                users = [layout.user_of_field(field) for field in fields]
            else:
                users = [user_id]
            app_state = layout.decode_state(
                await store.hgetall(layout.APP_STATE_NS, layout.app_slot(app_name))
            )
            sessions: list[Session] = []
            for user in users:
                records = await _records.all_records(store, layout.scope_of(app_name, user))
                if not records:
                    continue
                user_state = layout.decode_state(
                    await store.hgetall(layout.USER_STATE_NS, layout.user_slot(app_name, user))
                )
                sessions.extend(
                    _records.to_session(record, app_name, user, app_state, user_state, [])
                    for record in records
                )
            return sessions

        sessions = await self._bridge.call(listing)
        sessions.sort(key=lambda s: (s.last_update_time, s.user_id, s.id))
        return ListSessionsResponse(sessions=sessions)

    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        """Delete a session and its events; a missing session is not an error."""
        app_name = layout.check_name(app_name, "app_name")
        user_id = layout.check_name(user_id, "user_id")
        session_id = layout.check_session_id(session_id)
        scope = layout.scope_of(app_name, user_id)
        await self._bridge.call(lambda store: store.delete_session(session_id, scope=scope))
        self._states.drop(scope, session_id)

    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        """Return the user's state for the app, keys without the ``user:`` prefix."""
        app_name = layout.check_name(app_name, "app_name")
        user_id = layout.check_name(user_id, "user_id")
        fields = await self._bridge.call(
            lambda store: store.hgetall(layout.USER_STATE_NS, layout.user_slot(app_name, user_id))
        )
        return layout.decode_state(fields)

    async def append_event(self, session: Session, event: Event) -> Event:
        """Store an event and merge its state delta, then add it to ``session``.

        ``temp:`` keys reach ``session.state`` only; ``app:`` and ``user:``
        keys go to the shared state; the rest, the event and the session's
        update time are written in one atomic append. Partial events are
        returned untouched.

        Raises:
            SessionNotFoundError: (ADK's) the session does not exist.
            StaleSessionError: The store holds events this session object has
                not seen; reload it with :meth:`get_session` and retry.
        """
        if event.partial:
            return event
        if any(seen.id == event.id and seen == event for seen in session.events):
            return event  # an equal re-delivery, as ADK's in-memory service takes it
        self._apply_temp_state(session, event)
        event = self._trim_temp_delta_state(event)
        deltas = _session_util.extract_json_safe_state_delta(
            (event.actions.state_delta if event.actions else None) or {}
        )
        text = event.model_dump_json(exclude_none=True)
        scope = layout.scope_of(session.app_name, session.user_id)
        async with self._appending.hold((scope, session.id)):
            return await self._append(session, event, text, deltas, scope)

    async def _append(
        self,
        session: Session,
        event: Event,
        text: str,
        deltas: dict[str, dict[str, Any]],
        scope: str,
    ) -> Event:
        # Read under the lock: the append before this one updated it.
        known = layout.parse_marker(session._storage_update_marker)
        # The state stored at that revision, if this service saw it: the
        # append then needs no read first (it is conditional on the revision).
        cached = None if known is None else self._states.get(scope, session.id, known)

        async def write(store: FullStore) -> tuple[int, dict[str, Any]]:
            if cached is not None and known is not None:
                expected, state = known, cached
            else:
                record = await store.get_session(session.id, scope=scope)
                if record is None:
                    raise AdkSessionNotFoundError(f"Session {layout.shown(session.id)} not found.")
                state = layout.stored_state(record.metadata)
                if known is not None:
                    expected = known
                else:
                    expected = await _records.revision_of_foreign(store, session, record, scope)
            state.update(deltas["session"])
            try:
                # Conditional on the revision, so never applied twice: a
                # retry whose first try landed conflicts, and finds its event.
                length = await store.append_messages(
                    session.id,
                    [text],
                    expected_length=expected,
                    scope=scope,
                    metadata=layout.session_metadata(state, event.timestamp),
                )
            except SessionConflictError as exc:
                if not await _records.landed(store, session.id, scope, expected, text):
                    raise StaleSessionError(_records.STALE) from exc
                length = expected + 1
            except SessionNotFoundError as exc:
                raise AdkSessionNotFoundError(
                    f"Session {layout.shown(session.id)} not found."
                ) from exc
            # Shared state after the event: a retry re-applies these idempotent
            # writes, whereas state written for an event that then failed to
            # append would stay without it.
            await _records.write_shared_state(store, session.app_name, session.user_id, deltas)
            return length, state

        length, state = await self._bridge.call(write)
        self._states.put(scope, session.id, length, state)
        session.last_update_time = event.timestamp
        session._storage_update_marker = layout.marker(length)
        return self._commit_event_to_session(session, event)
