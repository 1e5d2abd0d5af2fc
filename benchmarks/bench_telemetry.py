"""Cost of the telemetry hooks: nothing registered, and OpenTelemetry on.

(a) versus (b), on the memory driver: the hot paths of the products
(``Namespace.get`` / ``set`` / ``with_cas``, ``SessionManager.save``) with
nothing registered, against the same code with the telemetry checks taken
out. ``connect()`` returns the bare store when nothing is registered (the
benchmark checks it is the very same object), so get and set carry no check
at all; ``with_cas`` checks a flag only on a retry, after a backoff sleep
of milliseconds. The save path has one check, and its baseline replaces
``SaverCore.save_locked`` with a direct call of the body; the CAS baseline
is ``run_cas`` compiled from its own source with the two telemetry blocks
removed. Both sides run in the same process, in interleaved rounds (their
order flips every round); the table shows medians and the median of the
per-round ratios.

(c) OpenTelemetry instrumented (the SDK's tracer and meter providers with
the in-memory span exporter and metric reader) against the bare store, on
memory and redis (``UNISTORE_TEST_REDIS_URL``).

    ./dev bench telemetry [--rounds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import re
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _bench_stores import bench_store_url

import unistore
from unistore import Conversation, NamespacedStore, SessionManager
from unistore._namespaced import _cas, _handle
from unistore._sessions._saver_core import SaverCore
from unistore.telemetry import _apply

TTL = 300.0
Loop = Callable[[int], Awaitable[None]]


def _stripped_run_cas() -> Any:
    """``run_cas`` compiled from its source without the telemetry blocks."""
    source = inspect.getsource(_cas)
    stripped, count = re.subn(
        r"\n *if _telemetry\.\w+:\n(?: *from unistore\.telemetry\._events import \w+\n)\n"
        r" *\w+\(store, ns, attempt, len\(watch\)\)\n",
        "\n",
        source,
    )
    assert count == 2, "the telemetry blocks of run_cas moved: update the benchmark"
    module = types.ModuleType("unistore._namespaced._cas_without_telemetry")
    exec(compile(stripped, module.__name__, "exec"), module.__dict__)
    return module.run_cas


@contextmanager
def _without_checks(run_cas: Any) -> Iterator[None]:
    saved_cas, saved_save = _handle.run_cas, SaverCore.save_locked
    _handle.run_cas = run_cas

    def save_locked(self: SaverCore, metadata: Any, *, create: bool = True) -> Any:
        return self._save_locked(metadata, create)

    SaverCore.save_locked = save_locked  # type: ignore[method-assign]
    try:
        yield
    finally:
        _handle.run_cas = saved_cas
        SaverCore.save_locked = saved_save  # type: ignore[method-assign]


async def _time(loop: Loop, n: int) -> float:
    gc.collect()
    start = time.perf_counter()
    await loop(n)
    return (time.perf_counter() - start) / n * 1e9


def _loops(store: Any, manager: SessionManager, conversation: Conversation) -> dict[str, Loop]:
    ns = NamespacedStore(store, prefix="bench", default_ttl=TTL).namespace("s1")

    async def get(n: int) -> None:
        for _ in range(n):
            await ns.get("k")

    async def set_(n: int) -> None:
        for _ in range(n):
            await ns.set("k", "value")

    def fn(snapshot: Any, ops: Any) -> None:
        ops.set("c", "v")

    async def with_cas(n: int) -> None:
        for _ in range(n):
            await ns.with_cas("c", fn)

    async def save(n: int) -> None:
        for _ in range(n):
            conversation.add("user", "hi")
            await manager.save()

    return {"get": get, "set": set_, "with_cas": with_cas, "session save": save}


async def _compare(
    label: str,
    rows: list[str],
    pairs: dict[str, tuple[Loop, Loop]],
    rounds: int,
    batch_s: float,
    *,
    setup_a: Callable[[], Any] | None = None,
    setup_b: Callable[[], Any] | None = None,
) -> None:
    for op, (base, measured) in pairs.items():
        per_op = await _time(base, 5) * 1e-9
        n = max(5, int(batch_s / max(per_op, 1e-7)))
        await base(n // 4 + 1)
        await measured(n // 4 + 1)
        base_ns: list[float] = []
        measured_ns: list[float] = []
        for i in range(rounds):
            order = [(base, base_ns), (measured, measured_ns)]
            for loop, out in order if i % 2 == 0 else order[::-1]:
                out.append(await _time(loop, n))
        ratio = statistics.median(m / b for b, m in zip(base_ns, measured_ns, strict=True))
        rows.append(
            f"| {label:<26} | {op:<12} | {statistics.median(base_ns):>9.0f} "
            f"| {statistics.median(measured_ns):>9.0f} | {(ratio - 1) * 100:>+7.1f}% | {n:>6} |"
        )
        print(rows[-1], flush=True)


async def _nothing_registered(rounds: int, batch_s: float) -> list[str]:
    rows: list[str] = []
    bare = unistore.connect("memory://")
    store = _apply(bare)
    assert store is bare, "with nothing registered connect() must return the bare store"
    run_cas = _stripped_run_cas()
    async with store:
        conversation = Conversation()
        async with SessionManager(store, conversation, auto_save=False) as manager:
            loops = _loops(store, manager, conversation)
            await loops["set"](1)
            pairs: dict[str, tuple[Loop, Loop]] = {}
            for op, loop in loops.items():

                async def baseline(n: int, loop: Loop = loop) -> None:
                    with _without_checks(run_cas):
                        await loop(n)

                pairs[op] = (baseline, loop)
            await _compare("memory, nothing registered", rows, pairs, rounds, batch_s)
    return rows


async def _otel_on(driver: str, url: str, rounds: int, batch_s: float) -> list[str]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from unistore.integrations import otel

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    rows: list[str] = []
    bare = unistore.connect(url)
    otel.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        instrumented = _apply(bare)
        assert instrumented is not bare
        async with instrumented:
            conv_a, conv_b = Conversation(), Conversation()
            async with (
                SessionManager(bare, conv_a, auto_save=False) as bare_manager,
                SessionManager(instrumented, conv_b, auto_save=False) as manager,
            ):
                bare_loops = _loops(bare, bare_manager, conv_a)
                loops = _loops(instrumented, manager, conv_b)
                await bare_loops["set"](1)

                def clearing(loop: Loop) -> Loop:
                    async def run(n: int) -> None:
                        await loop(n)
                        # Inside the timed part: a real exporter costs at least this.
                        exporter.clear()

                    return run

                pairs = {op: (bare_loops[op], clearing(loops[op])) for op in loops}
                await _compare(f"{driver}, OpenTelemetry on", rows, pairs, rounds, batch_s)
            destroy = getattr(bare, "destroy", None)
            if destroy is not None:
                await destroy()
    finally:
        otel.uninstrument()
        tracer_provider.shutdown()
        meter_provider.shutdown()
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch-ms", type=float, default=20.0)
    parser.add_argument("--io-batch-ms", type=float, default=40.0)
    args = parser.parse_args()
    print(f"# Python {sys.version.split()[0]}; median of interleaved rounds")
    print(
        "| setup                      | op           |   base ns |   meas ns |   ratio |  batch |"
    )
    print(
        "|----------------------------|--------------|----------:|----------:|--------:|-------:|"
    )
    await _nothing_registered(args.rounds, args.batch_ms / 1000)
    await _otel_on("memory", "memory://", args.rounds, args.batch_ms / 1000)
    with tempfile.TemporaryDirectory() as tmp:
        url = bench_store_url("redis", Path(tmp))
        if url is not None:
            await _otel_on("redis", url, max(5, args.rounds // 2), args.io_batch_ms / 1000)


if __name__ == "__main__":
    asyncio.run(main())
