"""langgraph-checkpoint-conformance on UnistoreSaver, on every driver."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator

from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import Capability

import unistore
from unistore.integrations.langgraph import UnistoreSaver

# What the saver implements; the suite detects a capability by the override.
IMPLEMENTED = {
    Capability.PUT,
    Capability.PUT_WRITES,
    Capability.GET_TUPLE,
    Capability.LIST,
    Capability.DELETE_THREAD,
    Capability.DELETE_FOR_RUNS,
    Capability.COPY_THREAD,
}


async def test_checkpoint_conformance_suite_passes_every_detected_capability(
    store_url: str,
) -> None:
    async with unistore.connect(store_url) as store:

        @checkpointer_test(name="UnistoreSaver")
        async def saver() -> AsyncGenerator[UnistoreSaver, None]:
            # A fresh scope per capability suite is a fresh, empty saver, and
            # sharing one connection keeps the suite fast on the servers.
            yield UnistoreSaver(store, scope=uuid.uuid4().hex)

        report = await validate(saver)
    detected = {Capability(name) for name, result in report.results.items() if result.detected}
    assert detected == IMPLEMENTED
    failures = {
        name: result.failures for name, result in report.results.items() if result.passed is False
    }
    assert failures == {}
    assert all(report.results[cap.value].tests_passed > 0 for cap in IMPLEMENTED)
