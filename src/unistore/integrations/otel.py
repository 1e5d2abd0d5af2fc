"""OpenTelemetry traces and metrics for every unistore store, through the telemetry hooks.

::

    from unistore.integrations import otel

    otel.instrument()  # the global tracer and meter providers
    store = unistore.connect("redis://localhost:6379/0")  # opened after: instrumented

Each store operation becomes a CLIENT span following the database semantic
conventions (``db.system.name``, ``db.operation.name``, ``server.address``,
``server.port``, ``error.type``; the namespace as ``unistore.namespace.hash``
or left out), and is recorded in the ``db.client.operation.duration``
histogram. Compare-and-swap retries and exhaustion are counted, and session
saves timed. Values, messages, metadata, slot names, session ids, error
messages and secrets are never recorded. Install with
``pip install "unistore[otel]"`` (opentelemetry-api only).
"""

from __future__ import annotations

import threading
from typing import Any, Literal

try:
    import opentelemetry.trace  # noqa: F401 - checks the extra is installed
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        'unistore.integrations.otel needs OpenTelemetry: pip install "unistore[otel]"'
    ) from exc

from unistore import telemetry
from unistore.errors import InvalidOptionError
from unistore.integrations._otel import OtelInstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]

_lock = threading.Lock()
_current: OtelInstrument | None = None


def instrument(
    *,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    namespace: Literal["hash", "omit"] = "hash",
) -> None:
    """Report every store operation and product event to OpenTelemetry.

    Stores opened with :func:`unistore.connect` from now on are instrumented;
    stores opened before stay bare. Calling it again replaces the earlier
    configuration.

    Args:
        tracer_provider: Where spans go; the global provider by default.
        meter_provider: Where metrics go; the global provider by default.
        namespace: ``"hash"`` records ``unistore.namespace.hash`` (16 hex
            digits of SHA-256 of the namespace or session scope);
            ``"omit"`` records nothing of it.

    Raises:
        InvalidOptionError: ``namespace`` is neither ``"hash"`` nor ``"omit"``.
    """
    global _current
    if namespace not in ("hash", "omit"):
        raise InvalidOptionError(f"namespace must be 'hash' or 'omit', got {namespace!r}")
    plugin = OtelInstrument(tracer_provider, meter_provider, hash_namespace=namespace == "hash")
    with _lock:
        if _current is not None:
            telemetry.unregister(_current)
        telemetry.register(plugin, name="unistore.integrations.otel")
        _current = plugin


def uninstrument() -> bool:
    """Stop reporting; stores opened afterwards are bare. Return whether it was on."""
    global _current
    with _lock:
        if _current is None:
            return False
        telemetry.unregister(_current)
        _current = None
        return True


def is_instrumented() -> bool:
    """Return whether :func:`instrument` is in effect."""
    return _current is not None
