"""The registered hook implementations, as plain tuples the hot paths check.

Kept free of pluggy: the products import this module, and with nothing
registered each of their checks is one truth test of an empty tuple. The
manager (:mod:`unistore.telemetry._manager`) rebuilds the tuples on every
register and unregister. Calls go straight to each implementation, one by
one, so that a failing instrument is logged and skipped without costing the
store operation or the other instruments anything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from unistore.telemetry._info import describe

if TYPE_CHECKING:
    from unistore.telemetry._info import (
        CasExhausted,
        CasRetry,
        OperationInfo,
        OperationObserver,
        SessionSave,
    )

__all__ = [
    "cas_exhausted",
    "cas_retry",
    "connect_check",
    "emit",
    "finish",
    "operations",
    "session_saved",
    "start",
]

logger = logging.getLogger("unistore.telemetry")

Impl = Callable[[Any], Any]

#: ``unistore_operation`` implementations.
operations: tuple[Callable[[OperationInfo], OperationObserver | None], ...] = ()
#: ``unistore_cas_retry`` implementations.
cas_retry: tuple[Callable[[CasRetry], object], ...] = ()
#: ``unistore_contention_exhausted`` implementations.
cas_exhausted: tuple[Callable[[CasExhausted], object], ...] = ()
#: ``unistore_session_saved`` implementations.
session_saved: tuple[Callable[[SessionSave], object], ...] = ()
#: Whether connect() has work to do: the entry points are not loaded yet, or
#: an operation hook is registered.
connect_check = True

# (instrument, hook) pairs that failed already: later failures log at DEBUG.
_failed: set[tuple[str, str]] = set()

clock = time.perf_counter


def failed(impl: object, hook: str) -> None:
    """Log the exception an instrument raised (call from an ``except`` block)."""
    key = (describe(getattr(impl, "__self__", impl)), hook)
    if key in _failed:
        logger.debug("instrument %s failed again in %s", key[0], hook, exc_info=True)
        return
    _failed.add(key)
    logger.warning(
        "instrument %s failed in %s; the store operation goes on (later failures log at DEBUG)",
        key[0],
        hook,
        exc_info=True,
    )


def emit(impls: tuple[Impl, ...], event: object, hook: str) -> None:
    """Tell every implementation of ``hook`` about ``event``; log and skip failures."""
    for impl in impls:
        try:
            impl(event)
        except Exception:
            failed(impl, hook)


def start(info: OperationInfo) -> list[OperationObserver]:
    """Ask every ``unistore_operation`` implementation for an observer of ``info``."""
    observers: list[OperationObserver] = []
    for impl in operations:
        try:
            observer = impl(info)
        except Exception:
            failed(impl, "unistore_operation")
            continue
        if observer is not None:
            observers.append(observer)
    return observers


def finish(
    observers: list[OperationObserver], duration: float, error: type[BaseException] | None
) -> None:
    """Tell the observers of one operation that it ended; log and skip failures."""
    # Reversed: the observer started last ends first, as nested spans must.
    for observer in reversed(observers):
        try:
            observer.finished(duration, error)
        except Exception:
            failed(observer, "OperationObserver.finished")
