"""``unistore info URL``: what serves a URL and what it can do."""

from __future__ import annotations

import inspect
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from unistore._cli._common import CliError, ExitCode, exit_code_for, json_option, probe, run
from unistore._cli._common import url_argument as _url
from unistore._cli._output import console, print_json, text
from unistore._url import StoreURL
from unistore.errors import NotSupportedError, StoreNotFoundError, UnistoreError
from unistore.protocols import KEYWORD_ONLY, Capability, Driver

__all__ = ["info"]


def _version(distribution: str) -> str | None:
    if not distribution:
        return None
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


async def _server_version(store: Any) -> str | None:
    method = getattr(store, "server_version", None)
    if method is None or not callable(method):
        return None
    result = method()
    if inspect.isawaitable(result):
        result = await result
    return None if result is None else str(result)


async def _gather(url: str) -> tuple[dict[str, Any], BaseException | None]:
    from unistore._registry import connect, get_driver

    parsed = StoreURL.parse(url)
    driver = get_driver(parsed.scheme)
    data: dict[str, Any] = {
        "url": str(parsed),
        "driver": driver.name,
        "distribution": driver.distribution or None,
        "version": _version(driver.distribution),
        "capabilities": None,
        "options": {},
        "server_version": None,
        "exists": None,
        "reachable": False,
    }
    try:
        # Inspecting never creates: a missing store is reported, not made.
        store = connect(parsed, create=False)
    except NotSupportedError as exc:
        data["options"] = _options(driver, parsed, None)
        return data, exc
    data["capabilities"] = sorted(cap.value for cap in store.capabilities)
    data["options"] = _options(driver, parsed, store)
    failure: BaseException | None = None
    async with store:
        try:
            await probe(store)
            data["exists"] = data["reachable"] = True
            data["server_version"] = await _server_version(store)
        except StoreNotFoundError as exc:
            data["exists"] = False
            failure = exc
        except UnistoreError as exc:
            failure = exc
    return data, failure


def _options(driver: Driver, url: StoreURL, store: Any) -> dict[str, Any]:
    """The options to show: those in effect for the store, secret ones masked.

    A store may say which options apply to its URL and with which value
    (:meth:`unistore.sdk.StoreBase.effective_options`); otherwise every
    declared option is shown as resolved from the URL. Objects (a client, an
    engine) never come from a URL, and the open mode is the command's, not a
    setting: neither is shown.
    """
    from unistore._registry import open_options

    method = getattr(store, "effective_options", None)
    effective = method() if callable(method) else None
    if effective is None:
        effective = open_options(driver, url, {})[1]
    declared = {opt.name: opt for opt in driver.options}
    shown: dict[str, Any] = {}
    for name, value in effective.items():
        opt = declared.get(name)
        if name == "create" or (opt is not None and opt.parse is KEYWORD_ONLY):
            continue
        shown[name] = "***" if opt is None or opt.secret else _plain(value)
    return shown


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


@click.command()
@_url
@json_option
def info(url: str, as_json: bool) -> None:
    """Show the driver, its version and capabilities, and whether URL is reachable."""
    data, failure = run(_gather(url))
    if failure is not None:
        data["error"] = str(failure)
    if as_json:
        print_json(data)
    else:
        _render(data)
    if failure is not None:
        code = exit_code_for(failure)
        raise CliError(str(failure), code if code != ExitCode.OK else ExitCode.FAILED) from failure


def _render(data: dict[str, Any]) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("url", text(data["url"], limit=200))
    table.add_row("driver", data["driver"])
    dist = data["distribution"] or "-"
    table.add_row("distribution", f"{dist} {data['version'] or ''}".rstrip())
    if data["capabilities"] is None:
        table.add_row("capabilities", "-")
    else:
        declared = set(data["capabilities"])
        table.add_row(
            "capabilities",
            "\n".join(
                f"[green]yes[/green] {cap.value}"
                if cap.value in declared
                else f"[dim]no  {cap.value}"
                for cap in Capability
            ),
        )
    if data["options"]:
        table.add_row(
            "options",
            Text(
                "\n".join(
                    f"{name} = {'-' if value is None else value}"
                    for name, value in data["options"].items()
                )
            ),
        )
    if data["server_version"]:
        table.add_row("server", data["server_version"])
    if data["exists"] is False:
        table.add_row("exists", "[red]no[/red] (nothing was created)")
    table.add_row("reachable", "[green]yes[/green]" if data["reachable"] else "[red]no[/red]")
    console().print(table)
