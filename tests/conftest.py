"""Fixtures shared by the core and product tests.

``store_url`` / ``store`` are parametrised over every shipped driver: memory,
SQLite (file), PostgreSQL, Redis and files. Each test gets a store of its own
(a fresh memory store, a file in ``tmp_path``, or a unique key/table prefix on
the shared servers) and only what it wrote is removed afterwards.

Server URLs come from ``UNISTORE_TEST_REDIS_URL`` and
``UNISTORE_TEST_POSTGRES_URL``. A server that cannot be reached skips its tests
locally and fails them when the ``CI`` environment variable is set.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from functools import cache
from pathlib import Path

import pytest

import unistore
from unistore import StoreURL, UnknownSchemeError

REDIS_URL = os.environ.get("UNISTORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get(
    "UNISTORE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

DRIVERS = ["memory", "sqlite", "postgresql", "redis", "file"]


@cache
def _reachable(url: str) -> bool:
    parsed = StoreURL.parse(url)
    try:
        with socket.create_connection((parsed.host or "127.0.0.1", parsed.port or 0), timeout=1):
            return True
    except OSError:
        return False


def require_server(url: str, env_var: str) -> None:
    """Skip (or, under CI, fail) when the server of ``url`` is unreachable."""
    if _reachable(url):
        return
    message = f"server at {StoreURL.parse(url)} is not reachable; set {env_var} to a running one"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def make_store_url(driver: str, tmp_path: Path) -> str:
    """Return a URL for a store of its own on ``driver``."""
    tag = f"t{uuid.uuid4().hex[:12]}"
    if driver == "memory":
        return "memory://"
    if driver == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    if driver == "file":
        return f"file://{tmp_path / 'store'}"
    if driver == "redis":
        require_server(REDIS_URL, "UNISTORE_TEST_REDIS_URL")
        return StoreURL.parse(REDIS_URL).with_options(key_prefix=tag).render(hide_secrets=False)
    if driver == "postgresql":
        require_server(POSTGRES_URL, "UNISTORE_TEST_POSTGRES_URL")
        return (
            StoreURL.parse(POSTGRES_URL)
            .with_options(table_prefix=f"{tag}_")
            .render(hide_secrets=False)
        )
    raise AssertionError(driver)


def require_driver(scheme: str) -> None:
    """Skip when no driver for ``scheme`` is installed yet."""
    try:
        unistore.get_driver(scheme)
    except UnknownSchemeError as exc:
        pytest.skip(str(exc))


async def _destroy(url: str) -> None:
    opened = unistore.connect(url)
    async with opened:
        destroy = getattr(opened, "destroy", None)
        if destroy is not None:
            await destroy()


@pytest.fixture(params=DRIVERS)
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
        asyncio.run(_destroy(url))


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
