"""Product events, built and sent only when an instrument listens (the callers check)."""

from __future__ import annotations

from collections.abc import Awaitable

from unistore.telemetry import _state
from unistore.telemetry._info import CasExhausted, CasRetry, SessionSave, namespace_hash, store_info

__all__ = ["cas_exhausted", "cas_retry", "timed_save"]


def cas_retry(store: object, ns: str, attempt: int, slots: int) -> None:
    """Report a compare-and-swap run that conflicted and runs again."""
    event = CasRetry(store_info(store), namespace_hash(ns), attempt, slots)
    _state.emit(_state.cas_retry, event, "unistore_cas_retry")


def cas_exhausted(store: object, ns: str, attempts: int, slots: int) -> None:
    """Report a compare-and-swap that gave up."""
    event = CasExhausted(store_info(store), namespace_hash(ns), attempts, slots)
    _state.emit(_state.cas_exhausted, event, "unistore_contention_exhausted")


async def timed_save(
    save: Awaitable[bool], store: object, scope: str | None, messages: int
) -> bool:
    """Await a session save, then report its duration if it wrote or failed.

    Args:
        save: The save's coroutine; it returns whether it wrote anything.
        store: The session store.
        scope: The saver's scope.
        messages: How many messages may be unsaved when it starts.
    """
    began = _state.clock()
    try:
        wrote = await save
    except BaseException as exc:
        _report_save(store, scope, _state.clock() - began, 0, type(exc))
        raise
    if wrote:
        _report_save(store, scope, _state.clock() - began, messages, None)
    return wrote


def _report_save(
    store: object,
    scope: str | None,
    duration: float,
    messages: int,
    error: type[BaseException] | None,
) -> None:
    scope_hash = None if scope is None else namespace_hash(scope)
    event = SessionSave(store_info(store), scope_hash, duration, messages, error)
    _state.emit(_state.session_saved, event, "unistore_session_saved")
