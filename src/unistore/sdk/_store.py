"""StoreBase: what every store shares: URL, capabilities, closing, error mapping, finaliser."""

from __future__ import annotations

import time
import warnings
import weakref
from abc import ABC
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import ClassVar, NoReturn, Self, TypeVar, final

from unistore._url import StoreURL
from unistore.errors import StoreClosedError, UnistoreError
from unistore.protocols import KEYWORD_ONLY, Capability, Option
from unistore.sdk._errors import NO_ERRORS, ErrorTable

__all__ = ["CLOCK_OPTION", "StoreBase"]

Release = Callable[[], object]
T = TypeVar("T")


def _release_dropped(shown: str, releases: list[Release]) -> None:
    # Runs at garbage collection, so it must not touch the store (it is gone)
    # and must not raise: a failed release is reported by the warning.
    failed = 0
    for release in reversed(releases):
        try:
            release()
        except Exception:
            failed += 1
    note = f" ({failed} release(s) failed)" if failed else ""
    warnings.warn(
        f"unclosed store {shown} was garbage-collected; its resources were released{note}. "
        "Close stores with 'await store.aclose()' or 'async with'.",
        ResourceWarning,
        stacklevel=2,
    )


class StoreBase(ABC):  # noqa: B024 - abstract through its capability bases
    """The base of every SDK store.

    Subclasses also inherit one base per capability they implement
    (:class:`KeyValueBase`, :class:`HashBase`, ...); :attr:`capabilities` is
    derived from those bases unless the class sets :attr:`CAPABILITIES`.

    Args:
        url: The parsed URL the store was opened with.
        clock: The wall clock (seconds since the epoch) used for expiry that
            the driver computes itself; tests inject a manual one. Drivers
            whose server keeps time ignore it.
        create: The open mode, the value of the driver's
            :data:`~unistore.sdk.CREATE_OPTION`: ``False`` means the store
            must create nothing (see :attr:`may_create`).

    Attributes:
        NAME: Names the driver in error messages (``"redis"``).
        ERRORS: The driver's exception table (see :class:`ErrorTable`).
        CAPABILITIES: Set by :meth:`__init_subclass__` from the capability
            bases; a class may set it to declare fewer.
        DB_SYSTEM: The OpenTelemetry ``db.system.name`` the store reports
            (see :attr:`db_system`); ``None`` derives it from :attr:`NAME`.
    """

    NAME: ClassVar[str] = "unistore"
    DB_SYSTEM: ClassVar[str | None] = None
    ERRORS: ClassVar[ErrorTable] = NO_ERRORS
    CAPABILITIES: ClassVar[frozenset[Capability]] = frozenset()
    _CAPABILITY: ClassVar[Capability | None] = None
    _catches: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "CAPABILITIES" not in cls.__dict__:
            cls.CAPABILITIES = frozenset(
                cap for base in cls.__mro__ if (cap := base.__dict__.get("_CAPABILITY")) is not None
            )
        cls._catches = cls.ERRORS.catches

    def __init__(
        self, url: StoreURL, *, clock: Callable[[], float] | None = None, create: bool = True
    ) -> None:
        self._url = url
        self._create = create
        self._closed = False
        self._where = f"{self.NAME} store {url}"
        self._secrets = tuple(s for s in (url.password,) if s)
        self._releases: list[Release] = []
        self._finalizer: weakref.finalize[..., StoreBase] | None = None
        #: The wall clock for driver-computed expiry (seconds since the epoch).
        self.clock: Callable[[], float] = clock if clock is not None else time.time

    @property
    def url(self) -> StoreURL:
        """The URL the store was opened with (renders with secrets redacted)."""
        return self._url

    @property
    def capabilities(self) -> frozenset[Capability]:
        """The capabilities this store implements."""
        return self.CAPABILITIES

    @property
    def db_system(self) -> str:
        """The OpenTelemetry ``db.system.name`` of the backend (``"redis"``, ``"sqlite"``).

        :attr:`DB_SYSTEM` when the class sets it, else ``"unistore.<NAME>"``:
        a backend the semantic conventions do not list gets a name in
        unistore's own namespace, which no listed name can collide with. A
        driver whose backend is known only per store (a SQL dialect)
        overrides the property.
        """
        return self.DB_SYSTEM or f"unistore.{self.NAME}"

    @property
    def db_server(self) -> tuple[str, int | None] | None:
        """The server telemetry reports (``server.address``, ``server.port``), or ``None``.

        The URL's host and port; ``None`` when the URL names no host or a
        local path. A store kept in this process, whose URL host is not a
        server, overrides it to return ``None``.
        """
        url = self._url
        if url.host is None:
            return None
        try:
            if url.local_path is not None:
                return None
        except UnistoreError:
            # A file URL naming a remote host, which its driver refuses anyway.
            return None
        return url.host, url.port

    @property
    def may_create(self) -> bool:
        """Whether the store may create what its URL names (the open mode).

        ``False`` (``connect(url, create=False)``): the driver creates no
        file, folder, table or schema upgrade; on first use, a store that is
        missing raises :class:`~unistore.errors.StoreNotFoundError` (build it
        with :func:`~unistore.sdk.store_not_found`), and a schema that would
        need an upgrade is refused. Backends with nothing to create (a
        server keyspace) ignore it.
        """
        return self._create

    def effective_options(self) -> Mapping[str, object] | None:
        """The options this store runs with, as ``unistore info`` shows them.

        A driver whose options depend on its URL overrides this: it leaves
        out the options that do not apply (a SQLite setting on a PostgreSQL
        URL) and gives the value in effect where the URL decides it (a
        database number taken from the URL path). Secret options may be
        included: callers mask them. ``None`` (the default) means every
        declared option applies with the value it was given.
        """
        return None

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def supports(self, capability: Capability) -> bool:
        """Return whether this store declares ``capability``."""
        return capability in self.CAPABILITIES

    # -- for driver code --------------------------------------------------------

    def _closed_error(self) -> StoreClosedError:
        return StoreClosedError(f"{self._where} is closed")

    def _check_open(self) -> None:
        """Raise :class:`StoreClosedError` after :meth:`aclose`."""
        if self._closed:
            raise self._closed_error()

    def _translate(self, exc: BaseException) -> UnistoreError:
        """Return the unistore error for a client exception caught by the SDK."""
        return self.ERRORS.translate(exc, self._where, self._secrets)

    def _fail(self, exc: BaseException) -> NoReturn:
        """Raise the translation of ``exc`` from it (for driver code outside primitives)."""
        raise self._translate(exc) from exc

    async def _mapped(self, call: Awaitable[T]) -> T:
        """Await a primitive's coroutine, translating the driver's exceptions.

        The hottest public methods inline this instead, to spare a frame.
        """
        try:
            return await call
        except self._catches as exc:
            raise self._translate(exc) from exc

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Translate the driver's exceptions raised in the block."""
        try:
            yield
        except self._catches as exc:
            raise self._translate(exc) from exc

    def _hold(self, release: Release) -> None:
        """Register a synchronous release of something the store holds open.

        If the store is garbage-collected without :meth:`aclose`, every
        registered release runs and a :class:`ResourceWarning` is emitted.
        ``release`` must not refer to the store itself (a bound method of it
        would keep it alive forever): pass the resource's own ``close``.
        """
        if self._finalizer is None:
            self._finalizer = weakref.finalize(
                self, _release_dropped, str(self._url), self._releases
            )
        self._releases.append(release)

    def _let_go(self, release: Release) -> None:
        """Forget a release registered with :meth:`_hold` (the resource was closed)."""
        if release in self._releases:
            self._releases.remove(release)

    # -- lifecycle --------------------------------------------------------------

    @final
    async def aclose(self) -> None:
        """Release the store's connections and files. Calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._aclose()
        finally:
            if self._finalizer is not None:
                self._finalizer.detach()
            self._releases.clear()

    async def _aclose(self) -> None:  # noqa: B027 - optional hook
        """Release driver resources; called once by :meth:`aclose`."""

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._url}>"


def _check_clock(value: object) -> Callable[[], float] | None:
    if value is not None and not callable(value):
        raise TypeError("clock must be a callable returning seconds since the epoch")
    return value


CLOCK_OPTION = Option(
    name="clock",
    parse=KEYWORD_ONLY,
    default=None,
    doc="a callable returning the time in seconds, for expiry the driver computes (tests)",
    check=_check_clock,
)
"""The ``clock`` option of drivers that compute expiry themselves (pass to ``StoreBase``)."""
