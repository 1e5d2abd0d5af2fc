"""The unistore error tree.

Every exception unistore raises on purpose derives from :class:`UnistoreError`, so
``except unistore.UnistoreError`` catches all of them. Drivers translate their
client library's exceptions into this tree in one place and chain the original
with ``raise ... from exc``.

Some classes also derive from the matching built-in (``ValueError``,
``LookupError``, ``TypeError``) so that generic handlers keep working::

    UnistoreError
    ├── ConfigurationError
    │   ├── InvalidURLError                  (ValueError) malformed store URL
    │   ├── UnknownSchemeError               no driver for the URL scheme
    │   ├── InvalidOptionError               (ValueError) unknown or badly typed option
    │   └── StoreNotFoundError               (LookupError) no store there, and create=False
    ├── ValidationError                      (ValueError) bad argument: id, slot, TTL, value
    ├── SlotKindError                        (TypeError) slot holds another kind of value
    ├── NotSupportedError                    driver lacks the capability
    ├── StoreClosedError                     the store was closed
    ├── EventLoopError                       (RuntimeError) a call from where it cannot run
    ├── ConflictError                        a concurrent change won
    │   ├── TransactionConflictError         a watched slot changed before commit
    │   ├── ContentionError                  compare-and-swap retries exhausted
    │   └── SessionConflictError             append saw another length than expected
    ├── SessionError
    │   ├── SessionNotFoundError             (LookupError)
    │   └── SessionExistsError
    └── DriverError                          the backend failed
        ├── StoreUnavailableError            cannot reach or open the backend
        ├── StoreTimeoutError                the backend did not answer in time
        ├── AuthenticationError              credentials refused
        ├── CapacityError                    out of memory or disk
        └── CorruptionError                  stored data cannot be read back

Messages never contain stored values, passwords or tokens; where a URL is useful
it is the redacted form (see :class:`unistore.StoreURL`).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AuthenticationError",
    "CapacityError",
    "ConfigurationError",
    "ConflictError",
    "ContentionError",
    "CorruptionError",
    "DriverError",
    "EventLoopError",
    "InvalidOptionError",
    "InvalidURLError",
    "NotSupportedError",
    "SessionConflictError",
    "SessionError",
    "SessionExistsError",
    "SessionNotFoundError",
    "SlotKindError",
    "StoreClosedError",
    "StoreNotFoundError",
    "StoreTimeoutError",
    "StoreUnavailableError",
    "TransactionConflictError",
    "UnistoreError",
    "UnknownSchemeError",
    "ValidationError",
]


class UnistoreError(Exception):
    """Root of every error unistore raises on purpose."""


class ConfigurationError(UnistoreError):
    """The store was configured wrongly (URL, scheme or options)."""


class InvalidURLError(ConfigurationError, ValueError):
    """A store URL could not be parsed; the message says which part is wrong."""


class UnknownSchemeError(ConfigurationError):
    """No driver is installed for a URL scheme.

    Attributes:
        scheme: The scheme that has no driver.
        package: The distribution that provides it, when it is a known one.
    """

    def __init__(self, message: str, *, scheme: str, package: str | None = None) -> None:
        super().__init__(message)
        self.scheme = scheme
        self.package = package


class InvalidOptionError(ConfigurationError, ValueError):
    """An option is unknown to the driver or has a value of the wrong type."""


class StoreNotFoundError(ConfigurationError, LookupError):
    """The URL names no existing store, and it was opened not to create one.

    Raised by a store opened with ``create=False`` (see
    :func:`unistore.connect`) on its first use, when what the URL points at
    is missing: no database file, no folder, no unistore tables. Nothing was
    created. The message names what is missing.
    """


class ValidationError(UnistoreError, ValueError):
    """An argument was rejected before anything was written."""


class SlotKindError(UnistoreError, TypeError):
    """A slot was used as another kind (scalar, hash, counter) than it holds."""


class NotSupportedError(UnistoreError):
    """The driver does not declare the capability an operation needs."""


class StoreClosedError(UnistoreError):
    """An operation was attempted on a store after ``aclose()``."""


class EventLoopError(UnistoreError, RuntimeError):
    """A call was made from where it cannot run.

    Raised for a blocking call made on the event-loop thread that would have to
    serve it (it could only deadlock), and for a store used from an event loop
    it cannot serve. The message says which API to use instead.
    """


class ConflictError(UnistoreError):
    """A concurrent change made an operation fail; retrying may succeed."""


class TransactionConflictError(ConflictError):
    """A watched slot was written, deleted, purged or expired before commit.

    Attributes:
        namespace: The namespace of the transaction.
        slots: The watched slots.
    """

    def __init__(self, message: str, *, namespace: str, slots: Sequence[str]) -> None:
        super().__init__(message)
        self.namespace = namespace
        self.slots = tuple(slots)


class ContentionError(ConflictError):
    """Compare-and-swap gave up after its retries.

    Attributes:
        slots: The watched slots that kept changing.
        attempts: How many times the closure ran.
    """

    def __init__(self, message: str, *, slots: Sequence[str], attempts: int) -> None:
        super().__init__(message)
        self.slots = tuple(slots)
        self.attempts = attempts

    @property
    def slot(self) -> str:
        """The first watched slot (the only one in the common single-slot case)."""
        return self.slots[0]


class SessionError(UnistoreError):
    """Base for session-document errors.

    Attributes:
        session_id: The session concerned.
    """

    def __init__(self, message: str, *, session_id: str) -> None:
        super().__init__(message)
        self.session_id = session_id


class SessionNotFoundError(SessionError, LookupError):
    """No session has this id (or it was deleted)."""


class SessionExistsError(SessionError):
    """A session with this id already exists."""


class SessionConflictError(SessionError, ConflictError):
    """An append expected another message count than the stored one.

    Attributes:
        expected: The length the writer believed the session had.
        actual: The stored length.
    """

    def __init__(self, message: str, *, session_id: str, expected: int, actual: int) -> None:
        super().__init__(message, session_id=session_id)
        self.expected = expected
        self.actual = actual


class DriverError(UnistoreError):
    """The storage backend failed."""


class StoreUnavailableError(DriverError):
    """The backend cannot be reached or opened (down, refused, unwritable)."""


class StoreTimeoutError(DriverError):
    """The backend did not answer in time."""


class AuthenticationError(DriverError):
    """The backend refused the credentials."""


class CapacityError(DriverError):
    """The backend is out of memory or disk space."""


class CorruptionError(DriverError):
    """Stored data could not be decoded."""
