"""Fixtures shared by the core and product tests.

``store_url`` / ``store`` are parametrised over every shipped driver: memory,
SQLite (file), PostgreSQL, Redis and files. Each test gets a store of its own
(a fresh memory store, a file in ``tmp_path``, or a unique key/table prefix on
the shared servers) and only what it wrote is removed afterwards.

Server URLs come from ``UNISTORE_TEST_REDIS_URL`` and
``UNISTORE_TEST_POSTGRES_URL``; each pytest-xdist worker uses a Redis database
and a PostgreSQL schema of its own on them. A server that cannot be reached
skips its tests locally and fails them when the ``CI`` environment variable is
set. Tests parametrised with Redis or PostgreSQL are marked ``redis`` /
``postgres``, and ``UNISTORE_TEST_DRIVERS=memory,sqlite`` leaves out the
tests parametrised with the other drivers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import unistore
from unistore import StoreURL, UnknownSchemeError
from unistore_test_support import (
    deselect_unselected_drivers,
    destroy_url,
    driver_params,
    make_store_url,
    mark_server_tests,
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests that need Redis or PostgreSQL; honour ``UNISTORE_TEST_DRIVERS``."""
    mark_server_tests(items)
    deselect_unselected_drivers(config, items)


def require_driver(scheme: str) -> None:
    """Skip when no driver for ``scheme`` is installed yet."""
    try:
        unistore.get_driver(scheme)
    except UnknownSchemeError as exc:
        pytest.skip(str(exc))


# The params carry the ``redis`` / ``postgres`` markers, so ``-m "not redis"`` deselects them.
@pytest.fixture(params=driver_params())
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of a fresh, isolated store, once per shipped driver.

    Stores on the shared servers are destroyed afterwards (tests may open
    their own connections to the URL, so the fixture cleans by URL).
    """
    driver: str = request.param
    url = make_store_url(driver, tmp_path)
    require_driver(StoreURL.parse(url).scheme)
    yield url
    if driver in ("redis", "postgresql"):
        destroy_url(url)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[unistore.Store]:
    """An open store on ``store_url``; everything it holds is destroyed afterwards."""
    opened = unistore.connect(store_url)
    async with opened:
        try:
            yield opened
        finally:
            destroy = getattr(opened, "destroy", None)
            if destroy is not None:
                await destroy()
