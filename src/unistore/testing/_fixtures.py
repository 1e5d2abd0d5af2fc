"""The fixtures every conformance test class inherits."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest

try:
    import pytest_asyncio
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'the unistore conformance suite needs pytest-asyncio: pip install "unistore[testing]"'
    ) from exc

import unistore
from unistore.testing._clock import ManualClock, clock_for, supports_clock
from unistore.testing._support import FullStore, IdFactory, Reconnect, make_reconnect

__all__ = ["SuiteFixtures"]

#: Environment variable read when ``--unistore-url`` is not given.
URL_ENV_VAR = "UNISTORE_URL"


def configured_url(config: pytest.Config) -> str | None:
    """Return the URL from ``--unistore-url`` or ``UNISTORE_URL``, if any."""
    url: str | None = config.getoption("unistore_url", default=None)
    return url or os.environ.get(URL_ENV_VAR) or None


class SuiteFixtures:
    """Fixtures of the conformance suite; override ``store_url`` (and options).

    Attributes:
        short_ttl: The TTL (seconds) of writes that a test lets expire.
        expiry_wait: How long a test lets pass for a ``short_ttl`` write to
            expire. Raise both for a store whose clock is coarse or far away.
        session_ttl: The TTL (seconds) of sessions that a retention test lets
            expire; the tests let fractions and multiples of it pass. Lower it
            for a store on server time (it really sleeps 1.2 times this, a few
            times), raise it for a coarse clock.
        manual_clock: Connect drivers that declare a ``clock`` option with a
            :class:`~unistore.testing.ManualClock`, so that expiry tests
            advance it instead of sleeping. Set it to ``False`` to test the
            real clock.
    """

    short_ttl: ClassVar[float] = 0.25
    expiry_wait: ClassVar[float] = 0.45
    session_ttl: ClassVar[float] = 1.0
    manual_clock: ClassVar[bool] = True

    @pytest.fixture
    def store_url(self, request: pytest.FixtureRequest) -> str:
        """The URL of the store under test: override this fixture in a subclass.

        Without an override, the URL comes from ``--unistore-url`` or the
        ``UNISTORE_URL`` environment variable.
        """
        url = configured_url(request.config)
        if url is None:
            pytest.fail(
                f"{type(self).__name__} must override the store_url fixture "
                f"(or run pytest with --unistore-url URL)",
                pytrace=False,
            )
        return url

    @pytest.fixture
    def store_options(self) -> dict[str, Any]:
        """Keyword options for ``unistore.connect`` (none by default)."""
        return {}

    @pytest.fixture
    def clock(self, store_url: str, store_options: dict[str, Any]) -> ManualClock | None:
        """The manual clock the store is connected with, or ``None`` (time is real).

        A :class:`~unistore.testing.ManualClock` given in ``store_options`` is
        used as is; any other ``clock`` option means real time for the suite.
        Every test on one URL gets the same clock (see :func:`clock_for`).
        """
        given = store_options.get("clock")
        if isinstance(given, ManualClock):
            return given
        if given is not None or not self.manual_clock or not supports_clock(store_url):
            return None
        return clock_for(store_url)

    @pytest.fixture
    def connect_options(
        self, store_options: dict[str, Any], clock: ManualClock | None
    ) -> dict[str, Any]:
        """``store_options`` plus the manual clock: what every store of a test is opened with."""
        if clock is None or "clock" in store_options:
            return dict(store_options)
        return {**store_options, "clock": clock}

    @pytest.fixture
    def ids(self) -> IdFactory:
        """Unique namespaces and session ids for one test."""
        return IdFactory()

    @pytest_asyncio.fixture
    async def store(
        self, store_url: str, connect_options: dict[str, Any], ids: IdFactory
    ) -> AsyncIterator[FullStore]:
        """The store under test, opened per test; what the test used is removed after."""
        opened: FullStore = unistore.connect(store_url, **connect_options)
        async with opened:
            yield opened
            await ids.cleanup(opened)

    @pytest.fixture
    def ns(self, ids: IdFactory) -> str:
        """A namespace no other test uses."""
        return ids.ns()

    @pytest.fixture
    def reconnect(self, store_url: str, connect_options: dict[str, Any]) -> Reconnect:
        """Open another store on the same URL (and clock): an async context manager factory."""
        return make_reconnect(store_url, connect_options)
