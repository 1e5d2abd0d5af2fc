"""Fixtures of the wrapper tests: a store per driver shared by a test class, the wrapper stacks."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from unistore.wrappers import Compressed
from unistore_test_support import destroy_url, driver_params, make_store_url

#: A fixed test key (32 bytes): the tests check behaviour, not secrecy.
TEST_KEY = bytes(range(32))


def encryption_available() -> bool:
    """Whether :class:`unistore.wrappers.Encrypted` and its cryptography package are installed."""
    return (
        importlib.util.find_spec("unistore.wrappers._encrypted") is not None
        and importlib.util.find_spec("cryptography") is not None
    )


@pytest.fixture
def wrapper_stack() -> list[Any]:
    """The wrappers the conformance run goes through: compress everything, then encrypt."""
    stack: list[Any] = [Compressed.using(min_size=0)]
    if encryption_available():
        from unistore.wrappers import Encrypted

        stack.append(Encrypted.using(keys={"k1": TEST_KEY}, current="k1"))
    return stack


# Named ``shared_store`` so that the shared test support marks the redis / postgres params.
@pytest.fixture(scope="class", params=driver_params())
def shared_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """A driver name and a folder, shared by the tests of one class; server data removed after."""
    driver: str = request.param
    folder = tmp_path_factory.mktemp(f"wrapped-{driver}")
    url = make_store_url(driver, folder, shared=True) if driver != "memory" else "memory://"
    yield url, folder
    if driver in ("redis", "postgresql"):
        destroy_url(url)
