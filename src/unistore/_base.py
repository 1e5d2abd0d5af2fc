"""BaseStore: optional help for driver authors (the contract is the Protocols)."""

from __future__ import annotations

from types import TracebackType
from typing import ClassVar, Self

from unistore._url import StoreURL
from unistore.errors import StoreClosedError
from unistore.protocols import Capability

__all__ = ["BaseStore"]


class BaseStore:
    """A convenient base for stores: URL, capabilities, closing, ``async with``.

    Subclasses set :attr:`CAPABILITIES`, call ``super().__init__(url)``, call
    :meth:`_check_open` at the start of each operation and override
    :meth:`_aclose` to release their resources.
    """

    CAPABILITIES: ClassVar[frozenset[Capability]] = frozenset()

    def __init__(self, url: StoreURL) -> None:
        self._url = url
        self._closed = False

    @property
    def url(self) -> StoreURL:
        """The URL the store was opened with (renders with secrets redacted)."""
        return self._url

    @property
    def capabilities(self) -> frozenset[Capability]:
        """The capabilities this store implements."""
        return self.CAPABILITIES

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def supports(self, capability: Capability) -> bool:
        """Return whether this store declares ``capability``."""
        return capability in self.capabilities

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"store {self._url} is closed")

    async def aclose(self) -> None:
        """Release the store's resources. Calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        await self._aclose()

    async def _aclose(self) -> None:
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
