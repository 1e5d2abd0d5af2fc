"""Audit events of the namespaced store, through stdlib :mod:`logging`.

Records carry the namespace (a bounded ``repr`` of ``"<prefix>:<id>"``), slot
names, counts and a UTC timestamp, both as %-style message arguments and as
``extra`` attributes (``event``, ``namespace``, ``slot_count``, ``slots``,
``attempt``, ``attempts``, ``ts``). Never values, field names or contents, nor
what a compare-and-swap closure returned.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from unistore._namespaced._checks import short

__all__ = ["LOGGER_NAME", "log_cas", "log_lifecycle"]

LOGGER_NAME = "unistore.namespaced"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def log_lifecycle(logger: logging.Logger, event: str, ns: str, count: int) -> None:
    """Log a ``purge`` or ``touch`` of a whole namespace at INFO."""
    if not logger.isEnabledFor(logging.INFO):
        return
    shown, ts = short(ns), _now()
    logger.info(
        "namespace %s: %s, %d slots, at %s",
        shown,
        event,
        count,
        ts,
        extra={"event": event, "namespace": shown, "slot_count": count, "ts": ts},
    )


def log_cas(
    logger: logging.Logger, ns: str, slots: Sequence[str], attempt: int, *, exhausted: bool
) -> None:
    """Log a compare-and-swap conflict at WARNING: a retry, or giving up."""
    if not logger.isEnabledFor(logging.WARNING):
        return
    shown, ts = short(ns), _now()
    names = ", ".join(short(slot) for slot in slots)
    if exhausted:
        logger.warning(
            "namespace %s: compare-and-swap on %s gave up after %d attempts, at %s",
            shown,
            names,
            attempt,
            ts,
            extra={
                "event": "cas-exhausted",
                "namespace": shown,
                "slots": tuple(slots),
                "attempts": attempt,
                "ts": ts,
            },
        )
    else:
        logger.warning(
            "namespace %s: compare-and-swap on %s conflicted on attempt %d, retrying, at %s",
            shown,
            names,
            attempt,
            ts,
            extra={
                "event": "cas-retry",
                "namespace": shown,
                "slots": tuple(slots),
                "attempt": attempt,
                "ts": ts,
            },
        )
