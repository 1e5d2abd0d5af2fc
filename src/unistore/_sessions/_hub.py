"""EventHub: plain synchronous callbacks per event name, for conversations and managers."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any

from unistore.errors import ValidationError

__all__ = ["EventHub"]

logger = logging.getLogger("unistore.sessions")


class EventHub:
    """Callbacks per event name, called in subscription order.

    A callback that raises is logged and skipped: one faulty subscriber must
    not break the others, nor the code that emitted the event (an LLM loop).
    """

    __slots__ = ("_callbacks", "_owner")

    def __init__(self, names: Sequence[str], owner: str) -> None:
        self._callbacks: dict[str, list[Callable[..., object]]] = {name: [] for name in names}
        self._owner = owner

    def subscribe(self, event: str, callback: Callable[..., object]) -> Callable[[], None]:
        callbacks = self._callbacks.get(event)
        if callbacks is None:
            known = ", ".join(sorted(self._callbacks))
            raise ValidationError(f"{self._owner} has no event {event!r} (known: {known})")
        if not callable(callback):
            raise ValidationError(f"the callback for {event!r} is not callable")
        if inspect.iscoroutinefunction(callback):
            # Nothing would await it: the event (a lifecycle_error even) would be lost.
            raise ValidationError(
                f"the callback for {event!r} is an async function; callbacks run "
                "synchronously (start a task from a plain function instead)"
            )
        # A wrapper per subscription, so the same function subscribed twice is
        # unsubscribed once per call of the returned function.
        entry: list[Callable[..., object]] = [callback]

        def call(*args: Any) -> object:
            return entry[0](*args)

        callbacks.append(call)

        def unsubscribe() -> None:
            if call in callbacks:
                callbacks.remove(call)

        return unsubscribe

    def has_subscribers(self, event: str) -> bool:
        return bool(self._callbacks.get(event))

    def emit(self, event: str, *args: Any) -> None:
        for callback in tuple(self._callbacks[event]):
            try:
                callback(*args)
            except Exception:
                logger.exception("a %s callback of %s raised; ignored", event, self._owner)

    def clear(self) -> None:
        for callbacks in self._callbacks.values():
            callbacks.clear()
