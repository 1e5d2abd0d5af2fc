"""What every command shares: exit codes, errors, opening a store, common options."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import click

from unistore.errors import (
    AuthenticationError,
    ConfigurationError,
    SessionNotFoundError,
    StoreNotFoundError,
    StoreTimeoutError,
    StoreUnavailableError,
)
from unistore.protocols import Capability, Store

__all__ = [
    "CliError",
    "ExitCode",
    "driver_name",
    "exit_code_for",
    "json_option",
    "open_store",
    "probe",
    "require",
    "run",
    "url_argument",
    "yes_option",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class ExitCode(enum.IntEnum):
    """The exit statuses scripts can rely on (documented in docs/cli.md)."""

    OK = 0
    #: The operation failed, or ``check`` found failures.
    FAILED = 1
    #: Bad arguments: click's usage errors, a malformed URL, an unknown scheme or option.
    USAGE = 2
    #: The store, session or slot named does not exist.
    NOT_FOUND = 3
    #: The store cannot be reached, timed out or refused the credentials.
    UNAVAILABLE = 4


class CliError(Exception):
    """A failure to report as one line, with an exit code."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.code = code


def exit_code_for(exc: BaseException) -> ExitCode:
    """Map an exception to the exit status of the command that raised it."""
    if isinstance(exc, CliError):
        return exc.code
    # Before ConfigurationError, its base: a missing store is "not found".
    if isinstance(exc, StoreNotFoundError):
        return ExitCode.NOT_FOUND
    if isinstance(exc, ConfigurationError):
        return ExitCode.USAGE
    if isinstance(exc, SessionNotFoundError):
        return ExitCode.NOT_FOUND
    if isinstance(exc, StoreUnavailableError | StoreTimeoutError | AuthenticationError):
        return ExitCode.UNAVAILABLE
    return ExitCode.FAILED


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine to completion in a fresh event loop."""
    return asyncio.run(coro)


@asynccontextmanager
async def open_store(url: str, *, create: bool = False) -> AsyncIterator[Any]:
    """Open the store of ``url`` for the length of the block.

    The store is probed first, so that an unreachable server or a missing
    store is reported as such before anything else (a missing capability, a
    missing session). Yields ``Any``: commands check capabilities before
    they call methods.

    Args:
        url: The store URL.
        create: Whether the command may create the store (a file, folder or
            tables) when it is missing. Only commands that write into a
            store they are told to fill pass ``True``; for the others a
            missing store is :class:`~unistore.errors.StoreNotFoundError`.
    """
    from unistore._registry import connect

    store = connect(url, create=create)
    async with store:
        await probe(store)
        yield store


def driver_name(store: Store) -> str:
    """The registry name of the driver serving ``store``."""
    from unistore._registry import get_driver

    return get_driver(store.url.scheme).name


def require(store: Store, capability: Capability, doing: str) -> None:
    """Fail with one line unless ``store`` declares ``capability``.

    Args:
        store: The open store.
        capability: What the command needs.
        doing: What the command would do, completing "this driver cannot ...".
    """
    if capability not in store.capabilities:
        raise CliError(f"this driver ({driver_name(store)}) cannot {doing}")


async def probe(store: Any) -> None:
    """Make the store connect now, with a read that changes nothing."""
    capabilities = store.capabilities
    if Capability.KEY_VALUE in capabilities:
        await store.get("unistore-cli", "probe")
    elif Capability.SESSION_DOCUMENTS in capabilities:
        await store.get_session("unistore-cli-probe")


def url_argument(func: F) -> F:
    """The ``URL`` positional argument."""
    return click.argument("url", metavar="URL")(func)


def json_option(func: F) -> F:
    """The ``--json`` flag of listings."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print JSON (one document) for scripts."
    )(func)


def yes_option(func: F) -> F:
    """The ``--yes`` flag of destructive commands."""
    return click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")(func)
