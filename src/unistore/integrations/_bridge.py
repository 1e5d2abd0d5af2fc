"""The store behind an adapter: given by URL (owned) or as an open store (borrowed).

Framework adapters are called from wherever the framework runs them: an event
loop of the application's, ``asyncio.run`` inside a blocking ``run_sync``, a
thread pool, or plain blocking code. A store opened from a URL therefore lives
on the shared portal (see :mod:`unistore._portal`), which any loop or thread can
reach; a store the application passes in is the application's, and its async
calls run on the caller's loop unchanged.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import weakref
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

from unistore._portal import Portal, shared_portal
from unistore._url import StoreURL
from unistore.errors import EventLoopError, ValidationError
from unistore.protocols import FullStore, Store

T = TypeVar("T")
Call = Callable[[FullStore], Coroutine[Any, Any, T]]

# Owned stores still open at interpreter exit; closed before the portal stops.
_OPEN: weakref.WeakSet[StoreBridge] = weakref.WeakSet()
_EXIT_GRACE = 5.0


class StoreBridge:
    """One store, callable from any event loop and from blocking code.

    Args:
        store_or_url: A store URL (the bridge opens the store and owns it) or an
            open unistore store (borrowed: the application closes it).
        owner: The adapter's name, used in error messages.
        options: Driver options for a URL; refused with a borrowed store.

    Raises:
        ValidationError: ``store_or_url`` is neither a URL nor a store, or
            options came with a store.
    """

    def __init__(
        self,
        store_or_url: str | StoreURL | Store,
        *,
        owner: str,
        options: dict[str, Any] | None = None,
    ) -> None:
        self._owner = owner
        self._home: asyncio.AbstractEventLoop | None = None
        self._portal: Portal | None = None
        if isinstance(store_or_url, str | StoreURL):
            from unistore._registry import connect

            self._store: FullStore = connect(store_or_url, **(options or {}))
            self._portal = shared_portal()
            _OPEN.add(self)
        elif isinstance(store_or_url, Store):
            if options:
                raise ValidationError(
                    f"{owner}: driver options apply to a URL; "
                    "an open store was given, so configure it where it is opened"
                )
            self._store = store_or_url  # type: ignore[assignment]
        else:
            raise ValidationError(
                f"{owner} takes a store URL or an open unistore store, "
                f"not {type(store_or_url).__name__}"
            )

    @property
    def store(self) -> FullStore:
        """The store itself (on the portal's loop when the bridge owns it)."""
        return self._store

    @property
    def owned(self) -> bool:
        """Whether the bridge opened the store from a URL and closes it."""
        return self._portal is not None

    async def call(self, fn: Call[T]) -> T:
        """Await ``fn(store)`` from any event loop."""
        if self._portal is not None:
            return await self._portal.call(fn(self._store))
        self._home = asyncio.get_running_loop()
        return await fn(self._store)

    def run(self, fn: Call[T]) -> T:
        """Run ``fn(store)`` from blocking code and return its result.

        Raises:
            EventLoopError: The call was made on the thread of the event loop
                that would have to serve it; use the adapter's async methods.
        """
        api = f"the async methods of {self._owner}"
        if self._portal is not None:
            return self._portal.run(fn(self._store), api=api)
        home = self._home
        current = _running_loop()
        if home is not None and home.is_running() and not home.is_closed():
            if current is home:
                raise EventLoopError(
                    f"a blocking call of {self._owner} was made on the event loop its "
                    f"store runs on; it would never return: use {api} there"
                )
            return asyncio.run_coroutine_threadsafe(fn(self._store), home).result()
        if current is not None:
            # The store most likely belongs to this very loop (it has not been
            # used yet through the adapter): blocking here could only deadlock
            # or use its connections from a loop they do not belong to.
            raise EventLoopError(
                f"a blocking call of {self._owner} was made inside a running event loop "
                f"with a borrowed store: use {api}, or give the adapter a URL"
            )
        # A borrowed store whose loop is not running: serve it from the portal.
        return shared_portal().run(fn(self._store), api=api)

    async def aclose(self) -> None:
        """Close the store if the bridge owns it; a borrowed store stays open."""
        if self._portal is None:
            return
        _OPEN.discard(self)
        await self._portal.call(self._store.aclose())

    def close(self) -> None:
        """Blocking :meth:`aclose`."""
        if self._portal is None:
            return
        _OPEN.discard(self)
        self._portal.run(self._store.aclose(), api=f"the async close of {self._owner}")


class BridgeOwner:
    """Closing and ``with`` blocks for an adapter that keeps its store in ``_bridge``.

    ``aclose()``/``close()`` close a store opened from a URL; a store passed
    in stays open. ``async with`` and ``with`` close on the way out.
    """

    _bridge: StoreBridge

    async def aclose(self) -> None:
        """Close the store if it was opened from a URL; a store passed in stays open."""
        await self._bridge.aclose()

    def close(self) -> None:
        """Blocking :meth:`aclose`."""
        self._bridge.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _close_at_exit() -> None:
    portal = shared_portal()
    for bridge in list(_OPEN):
        if portal.on_portal() or threading.current_thread() is not threading.main_thread():
            return
        future = portal.submit(bridge.store.aclose())
        try:
            future.result(_EXIT_GRACE)
        except Exception:  # exit must neither hang nor raise over one close
            future.cancel()


# atexit runs hooks last-registered first: creating the shared portal (which
# registers its own close) before this hook makes the stores close first.
shared_portal()
atexit.register(_close_at_exit)
