"""An instrument of one's own: count operations and time them, per database system.

Run it with ``python docs/examples/telemetry_counter.py``.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict

import unistore
from unistore import NamespacedStore, telemetry


class Timings:
    """Counts operations and sums their durations; told nothing of values or ids."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.errors: Counter[str] = Counter()

    @unistore.hookimpl
    def unistore_operation(self, operation: telemetry.OperationInfo) -> _Observer:
        """Observe one operation: keyed by database system and operation name."""
        return _Observer(self, f"{operation.store.db_system} {operation.name}")


class _Observer:
    def __init__(self, timings: Timings, key: str) -> None:
        self._timings = timings
        self._key = key

    def finished(self, duration: float, error: type[BaseException] | None) -> None:
        """Record the operation's duration and error class."""
        self._timings.calls[self._key] += 1
        self._timings.seconds[self._key] += duration
        if error is not None:
            self._timings.errors[error.__name__] += 1


async def main() -> None:
    """Register the instrument, run a few operations, print what it saw."""
    timings = Timings()
    telemetry.register(timings)
    try:
        # Opened after register(): instrumented.
        async with unistore.connect("memory://") as store:
            ns = NamespacedStore(store, prefix="app", default_ttl=60).namespace("user-1")
            await ns.set("greeting", "hello")
            await ns.get("greeting")
    finally:
        telemetry.unregister(timings)
    for key, calls in sorted(timings.calls.items()):
        print(f"{key}: {calls} call(s), {timings.seconds[key] * 1e6:.0f} µs")


if __name__ == "__main__":
    asyncio.run(main())
