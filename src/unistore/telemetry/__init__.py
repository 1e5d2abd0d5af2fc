"""Telemetry hooks: instruments that observe store operations and product events.

An instrument is a pluggy plugin: an object (a module, a class instance)
whose functions are marked with :data:`unistore.hookimpl` and named after
the hooks below. Register it with :func:`register`, or publish it under the
entry-point group ``unistore.instruments`` (loaded once, at the first
:func:`unistore.connect`)::

    import unistore
    from unistore import telemetry

    class Counting:
        def __init__(self):
            self.calls = 0

        @unistore.hookimpl
        def unistore_operation(self, operation):
            self.calls += 1
            return None  # or an object with finished(duration, error)

    telemetry.register(Counting())

The hooks (each takes one argument):

* ``unistore_operation(operation: OperationInfo)`` - a store operation
  starts; return an :class:`OperationObserver` told when it ends, or ``None``.
  Stores opened by :func:`unistore.connect` while such an instrument is
  registered are wrapped to report; stores opened before stay bare.
* ``unistore_cas_retry(retry: CasRetry)`` - a compare-and-swap run conflicted
  and runs again.
* ``unistore_contention_exhausted(exhausted: CasExhausted)`` - it gave up.
* ``unistore_session_saved(save: SessionSave)`` - a session save wrote, or failed.

Instruments see the database system, the operation name, the redacted URL
or server address, and namespaces and scopes hashed: never a value, a
message, a metadata value, a slot or field name, a session id or a secret,
and of an error only its class. An instrument that raises is logged (logger
``unistore.telemetry``) and skipped; the store operation goes on.
OpenTelemetry support is one such instrument: :mod:`unistore.integrations.otel`.
"""

from __future__ import annotations

from unistore.protocols import FullStore
from unistore.telemetry._info import (
    CasExhausted,
    CasRetry,
    OperationInfo,
    OperationObserver,
    SessionSave,
    StoreInfo,
    namespace_hash,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "CasExhausted",
    "CasRetry",
    "OperationInfo",
    "OperationObserver",
    "SessionSave",
    "StoreInfo",
    "namespace_hash",
    "register",
    "registered",
    "unregister",
]

#: The entry-point group of instruments registered at the first connect().
ENTRY_POINT_GROUP = "unistore.instruments"


def register(plugin: object, name: str | None = None) -> str:
    """Register an instrument; return the name it is registered under.

    Stores opened afterwards report operations to it; product events
    (compare-and-swap retries, session saves) reach it at once.

    Raises:
        ConfigurationError: ``plugin`` implements no unistore telemetry hook,
            a hook does not match its specification or is a hook wrapper,
            or ``plugin`` is registered already.
    """
    from unistore.telemetry import _manager

    return _manager.register(plugin, name)


def unregister(plugin: object | None = None, *, name: str | None = None) -> bool:
    """Unregister an instrument, by object or by name.

    Stores opened afterwards are bare again; stores it was observing stop
    reporting to it.

    Returns:
        Whether it was registered.
    """
    from unistore.telemetry import _manager

    return _manager.unregister(plugin, name=name)


def registered() -> list[object]:
    """Return the registered instruments, in registration order."""
    from unistore.telemetry import _manager

    return _manager.registered()


def _apply(store: FullStore) -> FullStore:
    """What connect() returns: ``store``, instrumented when an operation instrument wants it."""
    from unistore.telemetry import _state

    if not _state.connect_check:
        return store
    from unistore.telemetry._apply import apply

    return apply(store)
