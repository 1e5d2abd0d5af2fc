"""The conformance suite against ``--unistore-url`` (``pytest --pyargs unistore.testing``)."""

from __future__ import annotations

import pytest

from unistore.testing._fixtures import URL_ENV_VAR, configured_url
from unistore.testing._suite import ConformanceSuite

__all__ = ["TestConformance"]


class TestConformance(ConformanceSuite):
    """Runs every conformance test against the URL given on the command line."""

    @pytest.fixture
    def store_url(self, request: pytest.FixtureRequest) -> str:
        """The URL of ``--unistore-url`` or ``UNISTORE_URL``; skips without one."""
        url = configured_url(request.config)
        if url is None:
            pytest.skip(f"no store URL: pass --unistore-url URL or set {URL_ENV_VAR}")
        return url
