"""What instruments are told: the store, the operation, the product events.

Nothing here holds a value, a message, a metadata value, a slot or field
name, a session id or a secret. Namespaces and scopes appear only hashed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

__all__ = [
    "CasExhausted",
    "CasRetry",
    "OperationInfo",
    "OperationObserver",
    "SessionSave",
    "StoreInfo",
    "namespace_hash",
    "store_info",
]


@lru_cache(maxsize=4096)
def namespace_hash(ns: str) -> str:
    """Return the hash telemetry shows for a namespace or scope: 16 hex digits of SHA-256.

    Stable across processes and runs, so dashboards can group by it; one
    namespace cannot be read back from it, but an id that is easy to guess
    can be confirmed by hashing the guess (configure instruments to omit the
    hash when that matters).
    """
    return hashlib.sha256(ns.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """The store an event comes from, as telemetry may show it.

    Attributes:
        db_system: OpenTelemetry's ``db.system.name`` (``"redis"``,
            ``"postgresql"``, ``"sqlite"``, ``"unistore.memory"``).
        url: The store URL with its secrets redacted.
        server_address: The server's host, or ``None`` for a local store.
        server_port: The server's port when the URL gives one.
    """

    db_system: str
    url: str
    server_address: str | None = None
    server_port: int | None = None


def store_info(store: object) -> StoreInfo:
    """Describe ``store`` through its public attributes (no driver is special)."""
    url = getattr(store, "url", None)
    system = getattr(store, "db_system", None)
    if not isinstance(system, str) or not system:
        # A store written without the SDK: name its backend after the scheme.
        scheme = getattr(url, "scheme", None) or type(store).__name__.lower()
        system = f"unistore.{scheme}"
    server = getattr(store, "db_server", None)
    address, port = server if isinstance(server, tuple) else (None, None)
    return StoreInfo(
        db_system=system,
        url=str(url) if url is not None else "",
        server_address=address,
        server_port=port,
    )


class OperationInfo:
    """One store operation about to run, as the ``unistore_operation`` hook sees it.

    Attributes:
        store: The store it runs on.
        name: The operation: the store method's name (``"get"``, ``"hset"``,
            ``"append_messages"``, ``"commit"``).
    """

    __slots__ = ("_ns", "name", "store")

    def __init__(self, store: StoreInfo, name: str, ns: str | None) -> None:
        self.store = store
        self.name = name
        self._ns = ns

    @property
    def namespace_hash(self) -> str | None:
        """The hash of the namespace (or session scope) it touches; ``None`` if it has none."""
        ns = self._ns
        return None if ns is None else namespace_hash(ns)

    def __repr__(self) -> str:
        return f"<OperationInfo {self.name} on {self.store.db_system}>"


class OperationObserver(Protocol):
    """Told when an operation it observes ends (returned by ``unistore_operation``)."""

    def finished(self, duration: float, error: type[BaseException] | None) -> None:
        """The operation ended.

        Args:
            duration: Its wall time in seconds (``time.perf_counter``).
            error: The class of the exception it raised, or ``None``. Only
                the class: a message may quote what the application passed.
        """


@dataclass(frozen=True, slots=True)
class CasRetry:
    """A compare-and-swap run met a conflict and is run again.

    Attributes:
        store: The store it runs on.
        namespace_hash: The hash of the namespace.
        attempt: The number of the run that failed (1 for the first).
        slots: How many slots it watches.
    """

    store: StoreInfo
    namespace_hash: str
    attempt: int
    slots: int


@dataclass(frozen=True, slots=True)
class CasExhausted:
    """A compare-and-swap gave up: every run met a conflict (``ContentionError``).

    Attributes:
        store: The store it ran on.
        namespace_hash: The hash of the namespace.
        attempts: How many runs there were.
        slots: How many slots it watched.
    """

    store: StoreInfo
    namespace_hash: str
    attempts: int
    slots: int


@dataclass(frozen=True, slots=True)
class SessionSave:
    """A session manager wrote a conversation's changes (or failed to).

    Attributes:
        store: The store it wrote to.
        scope_hash: The hash of the session scope, ``None`` for the default scope.
        duration: The save's wall time in seconds.
        messages: How many messages it wrote (new or changed).
        error: The class of the exception the save raised, or ``None``.
    """

    store: StoreInfo
    scope_hash: str | None
    duration: float
    messages: int
    error: type[BaseException] | None = None


def describe(value: Any) -> str:
    """Name a plugin in a log line without calling its ``repr`` (which may fail)."""
    cls = value if isinstance(value, type) else type(value)
    return f"{cls.__module__}.{cls.__qualname__}"
