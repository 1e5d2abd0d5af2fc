"""Reading a session's events: only as many as a ``GetSessionConfig`` asks for."""

from __future__ import annotations

from google.adk.events.event import Event

from unistore.protocols import FullStore

# The first look back for ``after_timestamp``; each further one is 4x longer,
# so the events read stay within a small multiple of the events returned.
_FIRST_LOOK: int = 32


def decode(texts: list[str]) -> list[Event]:
    """Return the events stored as JSON texts."""
    return [Event.model_validate_json(text) for text in texts]


async def read_window(
    store: FullStore,
    session_id: str,
    scope: str,
    *,
    num_recent_events: int | None,
    after_timestamp: float | None,
) -> list[Event]:
    """Return the events ADK's in-memory service returns for the same config.

    The last ``num_recent_events`` (all when ``None``), then, with
    ``after_timestamp``, only those after the latest event older than it.
    Costs O(events returned), not O(session), whenever a bound is given.
    """
    if num_recent_events == 0:
        return []
    if after_timestamp is None:
        texts = await store.read_messages(session_id, last=num_recent_events, scope=scope)
        return decode(texts)
    look = _FIRST_LOOK
    while True:
        want = look if num_recent_events is None else min(look, num_recent_events)
        events = decode(await store.read_messages(session_id, last=want, scope=scope))
        # Walk back from the newest event to the first one older than the
        # bound: what follows it is returned, as ADK's reference service does.
        for index in range(len(events) - 1, -1, -1):
            if events[index].timestamp < after_timestamp:
                return events[index + 1 :]
        if len(events) < want or want == num_recent_events:
            return events
        look *= 4
