"""The OpenTelemetry instrument: spans and metrics from the telemetry hooks."""

from __future__ import annotations

from typing import Any

from opentelemetry import context, metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from unistore._registry import hookimpl
from unistore.telemetry import CasExhausted, CasRetry, OperationInfo, SessionSave, StoreInfo

__all__ = ["OtelInstrument"]

SCOPE = "unistore"
NAMESPACE_HASH = "unistore.namespace.hash"

# Explicit bucket boundaries the database conventions advise for durations in seconds.
_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)


def _error_name(error: type[BaseException]) -> str:
    # The class's qualified name: low cardinality, and never the message.
    module = error.__module__
    return error.__qualname__ if module == "builtins" else f"{module}.{error.__qualname__}"


def _store_attributes(store: StoreInfo) -> dict[str, Any]:
    attributes: dict[str, Any] = {"db.system.name": store.db_system}
    if store.server_address is not None:
        attributes["server.address"] = store.server_address
        if store.server_port is not None:
            attributes["server.port"] = store.server_port
    return attributes


class _Span:
    __slots__ = ("_attributes", "_histogram", "_span", "_token")

    def __init__(self, span: Any, token: object, histogram: Any, attributes: dict[str, Any]):
        self._span = span
        self._token = token
        self._histogram = histogram
        self._attributes = attributes

    def finished(self, duration: float, error: type[BaseException] | None) -> None:
        span = self._span
        attributes = self._attributes
        try:
            if error is not None:
                name = _error_name(error)
                attributes = {**attributes, "error.type": name}
                span.set_attribute("error.type", name)
                # A description would be the message: left out on purpose.
                span.set_status(Status(StatusCode.ERROR))
            self._histogram.record(duration, attributes)
        finally:
            span.end()
            context.detach(self._token)  # type: ignore[arg-type]


class OtelInstrument:
    """Spans per operation, the operation-duration histogram and the product metrics."""

    def __init__(self, tracer_provider: Any, meter_provider: Any, *, hash_namespace: bool) -> None:
        self._tracer = trace.get_tracer(SCOPE, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, meter_provider=meter_provider)
        self._hash = hash_namespace
        self._duration = meter.create_histogram(
            "db.client.operation.duration",
            unit="s",
            description="Duration of database client operations.",
            explicit_bucket_boundaries_advisory=list(_BUCKETS),
        )
        self._retries = meter.create_counter(
            "unistore.cas.retries",
            unit="{retry}",
            description="Compare-and-swap runs that met a conflict and ran again.",
        )
        self._exhausted = meter.create_counter(
            "unistore.cas.contention_exhausted",
            unit="{event}",
            description="Compare-and-swap calls that gave up (ContentionError).",
        )
        self._saves = meter.create_histogram(
            "unistore.session.save.duration",
            unit="s",
            description="Duration of session saves that wrote changes.",
            explicit_bucket_boundaries_advisory=list(_BUCKETS),
        )
        self._by_store: dict[StoreInfo, dict[str, Any]] = {}

    def _base(self, store: StoreInfo) -> dict[str, Any]:
        attributes = self._by_store.get(store)
        if attributes is None:
            attributes = self._by_store[store] = _store_attributes(store)
        return attributes

    def _with_hash(self, base: dict[str, Any], digest: str | None) -> dict[str, Any]:
        if self._hash and digest is not None:
            return {**base, NAMESPACE_HASH: digest}
        return dict(base)

    @hookimpl
    def unistore_operation(self, operation: OperationInfo) -> _Span:
        store = operation.store
        name = operation.name
        attributes = {**self._base(store), "db.operation.name": name}
        span_attributes = (
            self._with_hash(attributes, operation.namespace_hash) if self._hash else attributes
        )
        # Span name per the database conventions: "{operation} {target}", the
        # target being the server (the namespace is not low-cardinality).
        target = store.server_address
        if target is not None and store.server_port is not None:
            target = f"{target}:{store.server_port}"
        span = self._tracer.start_span(
            f"{name} {target}" if target else name,
            kind=SpanKind.CLIENT,
            attributes=span_attributes,
        )
        token = context.attach(trace.set_span_in_context(span))
        # The metric leaves the namespace out: its hash would explode cardinality.
        return _Span(span, token, self._duration, attributes)

    @hookimpl
    def unistore_cas_retry(self, retry: CasRetry) -> None:
        self._retries.add(1, self._base(retry.store))

    @hookimpl
    def unistore_contention_exhausted(self, exhausted: CasExhausted) -> None:
        self._exhausted.add(1, self._base(exhausted.store))

    @hookimpl
    def unistore_session_saved(self, save: SessionSave) -> None:
        attributes = self._base(save.store)
        if save.error is not None:
            attributes = {**attributes, "error.type": _error_name(save.error)}
        self._saves.record(save.duration, attributes)
