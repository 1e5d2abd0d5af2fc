"""The telemetry hooks: a plugin of one's own, registration, isolation of failing instruments."""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import pytest

import unistore
from unistore import NamespacedStore, telemetry
from unistore.telemetry import _apply

from .conftest import Otel


class Recorder:
    """A non-OpenTelemetry instrument: it records what the hooks tell it."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str, str | None]] = []
        self.ended: list[tuple[str, type[BaseException] | None]] = []
        self.retries: list[int] = []

    @unistore.hookimpl
    def unistore_operation(self, operation: telemetry.OperationInfo) -> Any:
        self.started.append((operation.name, operation.store.db_system, operation.namespace_hash))
        recorder, name = self, operation.name

        class Observer:
            def finished(self, duration: float, error: type[BaseException] | None) -> None:
                assert duration >= 0
                recorder.ended.append((name, error))

        return Observer()

    @unistore.hookimpl
    def unistore_cas_retry(self, retry: telemetry.CasRetry) -> None:
        self.retries.append(retry.attempt)


class Broken:
    """An instrument failing in every hook it implements."""

    @unistore.hookimpl
    def unistore_operation(self) -> Any:
        class Observer:
            def finished(self, duration: float, error: object) -> None:
                raise RuntimeError("observer broke")

        if Broken.fail_start:
            raise RuntimeError("start broke")
        return Observer()

    fail_start = True

    @unistore.hookimpl
    def unistore_cas_retry(self, retry: telemetry.CasRetry) -> None:
        raise RuntimeError("retry hook broke")


async def _conflicting_cas(store: Any) -> None:
    ns = NamespacedStore(store, prefix="app", default_ttl=60).namespace("n")
    runs = 0

    async def fn(snapshot: Any, ops: Any) -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            await ns.set("s", "other")
        ops.set("s", "mine")

    await ns.with_cas("s", fn)
    assert await ns.get("s") == "mine"


async def test_a_second_plugin_sees_the_operations_the_spans_show(captured: Otel) -> None:
    recorder = Recorder()
    telemetry.register(recorder)
    store = unistore.connect("memory://")
    async with store:
        await _conflicting_cas(store)
    spans = captured.spans.get_finished_spans()
    assert [name for name, _ in recorder.ended] == [
        s.attributes["db.operation.name"] for s in spans if s.attributes
    ]
    assert {system for _, system, _ in recorder.started} == {"unistore.memory"}
    assert recorder.started[0][2] == telemetry.namespace_hash("app:n")
    assert (
        "transaction.commit",
        unistore.TransactionConflictError,
    ) in recorder.ended
    assert recorder.retries == [1]


async def test_unregistering_gives_bare_stores_again() -> None:
    recorder = Recorder()
    bare = unistore.connect("memory://")
    assert _apply(bare) is bare
    telemetry.register(recorder)
    wrapped = unistore.connect("memory://")
    assert type(wrapped).__name__ == "Instrumented"
    assert telemetry.unregister(recorder)
    assert not telemetry.unregister(recorder)
    again = unistore.connect("memory://")
    assert _apply(again) is again
    # The store instrumented before stops reporting.
    async with wrapped:
        await wrapped.set("a:b", "s", b"v", ttl=5)
    assert recorder.started == []
    await bare.aclose()
    await again.aclose()


async def test_a_failing_instrument_never_breaks_an_operation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder()
    telemetry.register(recorder)
    telemetry.register(Broken())
    caplog.set_level(logging.DEBUG, logger="unistore.telemetry")
    store = unistore.connect("memory://")
    async with store:
        await _conflicting_cas(store)
        Broken.fail_start = False
        try:
            await store.set("a:b", "s", b"v", ttl=5)
        finally:
            Broken.fail_start = True
    # The working instrument saw everything despite the broken one.
    assert recorder.retries == [1]
    assert recorder.ended[-1] == ("set", None)
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and r.name == "unistore.telemetry"
    ]
    messages = " ".join(r.getMessage() for r in warnings)
    assert "unistore_operation" in messages
    assert "unistore_cas_retry" in messages
    assert "OperationObserver.finished" in messages
    # One warning per instrument and hook; repeats go to DEBUG.
    assert len(warnings) == 3


def test_registration_errors_name_the_problem() -> None:
    with pytest.raises(unistore.ConfigurationError, match="implements no unistore telemetry hook"):
        telemetry.register(object())

    class WrongArgument:
        @unistore.hookimpl
        def unistore_operation(self, op: object) -> None:
            return None

    with pytest.raises(unistore.ConfigurationError, match="unistore_operation"):
        telemetry.register(WrongArgument())
    recorder = Recorder()
    telemetry.register(recorder)
    with pytest.raises(unistore.ConfigurationError, match="registered already"):
        telemetry.register(recorder)
    assert telemetry.registered() == [recorder]


def test_telemetry_imports_no_pluggy_until_used() -> None:
    code = (
        "import sys, unistore.telemetry, unistore._namespaced._cas\n"
        "print(','.join(m for m in ('pluggy', 'importlib.metadata') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


async def test_in_process_stores_report_no_server() -> None:
    from unistore.telemetry._info import store_info

    async with unistore.connect("memory://named-store") as store:
        info = store_info(store)
    assert (info.db_system, info.server_address, info.server_port) == (
        "unistore.memory",
        None,
        None,
    )
    assert info.url == "memory://named-store"
