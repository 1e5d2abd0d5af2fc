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
        expiry_wait: How long a test sleeps for a ``short_ttl`` write to expire.
            Raise both for a store whose clock is coarse or far away.
    """

    short_ttl: ClassVar[float] = 0.25
    expiry_wait: ClassVar[float] = 0.45

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
    def ids(self) -> IdFactory:
        """Unique namespaces and session ids for one test."""
        return IdFactory()

    @pytest_asyncio.fixture
    async def store(
        self, store_url: str, store_options: dict[str, Any], ids: IdFactory
    ) -> AsyncIterator[FullStore]:
        """The store under test, opened per test; what the test used is removed after."""
        opened: FullStore = unistore.connect(store_url, **store_options)  # type: ignore[assignment]
        async with opened:
            yield opened
            await ids.cleanup(opened)

    @pytest.fixture
    def ns(self, ids: IdFactory) -> str:
        """A namespace no other test uses."""
        return ids.ns()

    @pytest.fixture
    def reconnect(self, store_url: str, store_options: dict[str, Any]) -> Reconnect:
        """Open another store on the same URL: the fixture is an async context manager factory."""
        return make_reconnect(store_url, store_options)
