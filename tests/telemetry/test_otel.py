"""OpenTelemetry on every driver: the spans and metrics a workload leaves, and no secret in them."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

import unistore
from unistore import Conversation, NamespacedStore, SessionManager, StoreURL

from .conftest import Otel

PASSWORD = "pw-Zq81secret"
VALUE = "value-text-Kx7"
FIELD_VALUE = "field-text-Jm2"
MESSAGE = "message-text-Vb9"
METADATA = "metadata-text-Ph4"
NAMESPACE_ID = "tenant-Ln5"

EXPECTED_SYSTEM = {
    "memory": "unistore.memory",
    "sqlite": "sqlite",
    "postgresql": "postgresql",
    "redis": "redis",
    "file": "unistore.file",
}


def _with_password(url: str) -> str:
    parsed = StoreURL.parse(url)
    if parsed.scheme not in ("postgresql", "redis"):
        return url
    # The test servers trust local logins: the password is sent and accepted.
    return replace(parsed, password=PASSWORD).render(hide_secrets=False)


async def _workload(store: Any) -> None:
    ns = NamespacedStore(store, prefix="app", default_ttl=60).namespace(NAMESPACE_ID)
    await ns.set("greeting", VALUE)
    assert await ns.get("greeting") == VALUE
    await ns.hset("profile", "name", FIELD_VALUE)
    runs = 0

    async def bump(snapshot: Any, ops: Any) -> int:
        nonlocal runs
        runs += 1
        if runs == 1:
            # A real conflict: the watched slot changes before the commit.
            await ns.set("greeting", "changed meanwhile")
        ops.set("greeting", VALUE)
        return runs

    assert await ns.with_cas("greeting", bump) == 2
    conversation = Conversation()
    async with SessionManager(store, conversation, auto_save=False) as manager:
        conversation.add("user", MESSAGE)
        await manager.save(metadata={"note": METADATA})


def _texts(captured: Otel) -> list[str]:
    """Every span name, attribute and event, and every metric attribute, as text."""
    texts: list[str] = []
    for span in captured.spans.get_finished_spans():
        texts.append(span.name)
        texts.extend(f"{k}={v}" for k, v in (span.attributes or {}).items())
        texts.append(str(span.status.description))
        for event in span.events:
            texts.append(event.name)
            texts.extend(f"{k}={v}" for k, v in (event.attributes or {}).items())
    data = captured.metrics.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                texts.append(metric.name)
                for point in metric.data.data_points:
                    texts.extend(f"{k}={v}" for k, v in (point.attributes or {}).items())
    return texts


async def test_spans_and_metrics_on_every_driver(store_url: str, captured: Otel) -> None:
    driver = StoreURL.parse(store_url).scheme
    store = unistore.connect(_with_password(store_url))
    async with store:
        await _workload(store)
    spans = captured.spans.get_finished_spans()
    names = {span.attributes["db.operation.name"] for span in spans if span.attributes}
    assert {"set", "get", "hset", "transaction.commit", "create_session"} <= names
    system = EXPECTED_SYSTEM[driver]
    for span in spans:
        attributes = dict(span.attributes or {})
        assert attributes["db.system.name"] == system
        assert span.kind.name == "CLIENT"
        if driver in ("redis", "postgresql"):
            assert attributes["server.address"] == "127.0.0.1"
            assert (
                span.name
                == f"{attributes['db.operation.name']} 127.0.0.1:{attributes['server.port']}"
            )
        else:
            assert "server.address" not in attributes
            assert span.name == attributes["db.operation.name"]
    slot_spans = [s for s in spans if (s.attributes or {}).get("db.operation.name") == "set"]
    assert all(len(str(s.attributes["unistore.namespace.hash"])) == 16 for s in slot_spans)
    conflicts = [
        s for s in spans if (s.attributes or {}).get("error.type", "").endswith("ConflictError")
    ]
    assert len(conflicts) == 1
    assert conflicts[0].attributes["db.operation.name"] == "transaction.commit"
    durations = captured.points("db.client.operation.duration")
    assert sum(p.count for p in durations) == len(spans)
    assert sum(p.value for p in captured.points("unistore.cas.retries")) == 1
    saves = captured.points("unistore.session.save.duration")
    assert sum(p.count for p in saves) == 1
    for text in _texts(captured):
        for secret in (PASSWORD, VALUE, FIELD_VALUE, MESSAGE, METADATA, NAMESPACE_ID):
            assert secret not in text, (secret, text)


async def test_a_failed_operation_records_its_error_class_only(captured: Otel) -> None:
    store = unistore.connect("memory://")
    async with store:
        await store.hset("app:x", "h", {"f": FIELD_VALUE.encode()}, ttl=5)
        with pytest.raises(unistore.SlotKindError) as raised:
            await store.get("app:x", "h")
    assert "h" in str(raised.value)
    span = captured.spans.get_finished_spans()[-1]
    assert span.attributes is not None
    assert span.attributes["error.type"] == "unistore.errors.SlotKindError"
    assert span.status.status_code.name == "ERROR"
    assert span.status.description is None
    (failed,) = [
        p for p in captured.points("db.client.operation.duration") if "error.type" in p.attributes
    ]
    assert failed.attributes["db.operation.name"] == "get"


async def test_namespace_omitted_on_request(captured: Otel) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from unistore.integrations import otel

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(captured.spans))
    otel.instrument(tracer_provider=provider, namespace="omit")
    store = unistore.connect("memory://")
    async with store:
        await store.set("app:x", "s", b"v", ttl=5)
    (span,) = captured.spans.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["db.operation.name"] == "set"
    assert "unistore.namespace.hash" not in span.attributes


def test_a_bad_namespace_setting_is_refused() -> None:
    from unistore.integrations import otel

    with pytest.raises(unistore.InvalidOptionError, match="namespace"):
        otel.instrument(namespace="plain")  # type: ignore[arg-type]


async def test_contention_exhausted_is_counted(captured: Otel) -> None:
    store = unistore.connect("memory://")
    async with store:
        ns = NamespacedStore(store, prefix="app", default_ttl=60).namespace("n")

        async def always_conflicts(snapshot: Any, ops: Any) -> None:
            await ns.set("s", json.dumps({"n": 1}))
            ops.set("s", "mine")

        with pytest.raises(unistore.ContentionError):
            await ns.with_cas("s", always_conflicts, max_retries=1)
    assert sum(p.value for p in captured.points("unistore.cas.retries")) == 1
    assert sum(p.value for p in captured.points("unistore.cas.contention_exhausted")) == 1
