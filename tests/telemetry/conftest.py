"""Fixtures of the telemetry tests: OpenTelemetry in memory, and no registration leaking out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from unistore import telemetry
from unistore.integrations import otel
from unistore.telemetry import _state


@dataclass
class Otel:
    """What the instrumented code exported."""

    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def points(self, name: str) -> list[object]:
        """Every data point of the metric ``name``."""
        data = self.metrics.get_metrics_data()
        found: list[object] = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found


@pytest.fixture(autouse=True)
def _no_instrument_leaks() -> Iterator[None]:
    """Every test starts and ends with no instrument registered."""
    assert telemetry.registered() == []
    # Failures are warned about once per process; each test starts afresh.
    _state._failed.clear()
    yield
    otel.uninstrument()
    for plugin in telemetry.registered():
        telemetry.unregister(plugin)


@pytest.fixture
def captured() -> Iterator[Otel]:
    """OpenTelemetry instrumented into in-memory exporters."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    otel.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    yield Otel(spans, reader)
    otel.uninstrument()
    tracer_provider.shutdown()
    meter_provider.shutdown()
