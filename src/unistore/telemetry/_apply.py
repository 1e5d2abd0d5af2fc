"""The instrumenting wrapper ``connect()`` puts around a store for operation instruments."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from unistore.protocols import FullStore
from unistore.sdk import StoreWrapper
from unistore.telemetry import _state
from unistore.telemetry._info import OperationInfo, store_info

__all__ = ["Instrumented", "apply"]

T = TypeVar("T")


class Instrumented(StoreWrapper):
    """A store whose every operation is reported to the ``unistore_operation`` instruments.

    Values pass through untouched: only the interception point is overridden.
    Once no operation instrument is registered any more, each call costs one
    truth test.
    """

    PLAIN_COUNTERS = True

    def __init__(self, inner: FullStore) -> None:
        super().__init__(inner)
        self._info = store_info(inner)

    async def _call(self, operation: str, target: str | None, call: Awaitable[T]) -> T:
        if not _state.operations:
            return await call
        observers = _state.start(OperationInfo(self._info, operation, target))
        if not observers:
            return await call
        began = _state.clock()
        try:
            result = await call
        except BaseException as exc:
            _state.finish(observers, _state.clock() - began, type(exc))
            raise
        _state.finish(observers, _state.clock() - began, None)
        return result


def apply(store: FullStore) -> FullStore:
    """Return ``store`` instrumented if an operation instrument is registered, else ``store``."""
    if not _state.connect_check:
        return store
    from unistore.telemetry._manager import load_entry_points

    load_entry_points()
    if not _state.operations or isinstance(store, Instrumented):
        return store
    return Instrumented(store)
