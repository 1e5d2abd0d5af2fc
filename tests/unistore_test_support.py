"""Helpers shared by the test modules: server URLs, per-test stores, CLI runs.

Importable from any test module (the ``tests`` folder is on pytest's
``pythonpath``). Fixtures live in ``conftest.py``; this module holds plain
functions so that synchronous tests (the CLI ones) can use them too.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import unistore
from unistore import StoreURL

REDIS_URL = os.environ.get("UNISTORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get(
    "UNISTORE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

#: Every shipped driver, in the order tests are parametrised.
DRIVERS = ["memory", "sqlite", "postgresql", "redis", "file"]
#: The markers of drivers that need a server.
SERVER_MARKS = {"redis": pytest.mark.redis, "postgresql": pytest.mark.postgres}


def driver_params() -> list[Any]:
    """``DRIVERS`` as pytest params carrying the server markers."""
    return [pytest.param(d, marks=[SERVER_MARKS[d]] if d in SERVER_MARKS else []) for d in DRIVERS]


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


def make_store_url(
    driver: str, tmp_path: Path, name: str = "store", *, shared: bool = False
) -> str:
    """Return a URL of a store of its own on ``driver``.

    Args:
        driver: One of :data:`DRIVERS`.
        tmp_path: The test's folder, for SQLite and files.
        name: Distinguishes two stores of one test on the same driver.
        shared: For memory, a named store, so that separate ``connect()``
            calls (such as CLI invocations) see the same data.
    """
    tag = f"t{uuid.uuid4().hex[:12]}"
    if driver == "memory":
        return f"memory://{tag}" if shared else "memory://"
    if driver == "sqlite":
        return f"sqlite:///{tmp_path / f'{name}.db'}"
    if driver == "file":
        return f"file://{tmp_path / name}"
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


def with_store(url: str, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run ``work(store)`` on a store opened for ``url`` (for synchronous tests)."""

    async def go() -> Any:
        async with unistore.connect(url) as store:
            return await work(store)

    return asyncio.run(go())


def destroy_url(url: str) -> None:
    """Remove everything the store of ``url`` holds (its prefix, tables or folder)."""

    async def go(store: Any) -> None:
        destroy = getattr(store, "destroy", None)
        if destroy is not None:
            await destroy()

    with_store(url, go)


# -- the command line --------------------------------------------------------------


def invoke(*args: str, input: str | None = None) -> Any:
    """Run ``unistore ARGS`` through click's test runner."""
    from click.testing import CliRunner

    from unistore._cli._app import cli

    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def ok(*args: str, input: str | None = None) -> Any:
    """Run a command that must succeed; return its result."""
    result = invoke(*args, input=input)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def as_json(*args: str) -> Any:
    """Run a command with ``--json`` and parse its output."""
    return json.loads(ok(*args, "--json").stdout)


def one_error_line(result: Any) -> str:
    """Check a failed command printed exactly one ``error:`` line; return it."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.output
    return lines[0]
