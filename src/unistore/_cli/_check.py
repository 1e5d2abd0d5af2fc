"""``unistore check URL``: run the driver conformance suite and summarise it per suite."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from unistore._cli._common import CliError, ExitCode, json_option, open_store, run
from unistore._cli._common import url_argument as _url
from unistore._cli._output import console, print_json, progress_console, table
from unistore._url import StoreURL
from unistore.errors import NotSupportedError, StoreNotFoundError

if TYPE_CHECKING:
    from unistore._cli._check_plugin import Collector

__all__ = ["check"]

_PLUGIN = "unistore._cli._check_plugin"

#: Short names accepted by ``--suite``.
_ALIASES = {"kv": "keyvalue", "lifecycle": "namespacelifecycle", "listing": "namespacelisting"}

#: pytest's exit statuses that mean the suite could not run at all.
_BROKEN = {2: "interrupted", 3: "internal error", 4: "usage error", 5: "no tests collected"}


async def _reachable(url: str, create: bool) -> None:
    try:
        async with open_store(url, create=create):
            pass
    except (StoreNotFoundError, NotSupportedError) as exc:
        # The suite writes (and removes) its own data, so it needs a store:
        # only an explicit --create lets it make one.
        code = ExitCode.NOT_FOUND if isinstance(exc, StoreNotFoundError) else ExitCode.FAILED
        raise CliError(f"{exc}; pass --create to let check create the store", code) from exc


@contextlib.contextmanager
def _progress(collector: Collector, enabled: bool) -> Iterator[None]:
    where = progress_console()
    if not enabled or not where.is_terminal:
        yield
        return
    bar = Progress(
        TextColumn("[bold]conformance"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=where,
        transient=True,
    )
    task = bar.add_task("", total=None)

    def on_start(count: int) -> None:
        bar.update(task, total=count)

    def on_test(suite: str) -> None:
        bar.update(task, advance=1, description=suite)

    collector.on_start = on_start
    collector.on_test = on_test
    with bar:
        yield


@click.command()
@_url
@click.option(
    "--suite",
    "suites",
    multiple=True,
    metavar="NAME",
    help="Run only this suite (repeatable): Store, KeyValue, Hash, Counter, TTL, "
    "NamespaceLifecycle, NamespaceListing, Transactions, Sessions, Forks, Isolation.",
)
@click.option("-k", "keyword", metavar="EXPR", help="Run only the tests matching EXPR (pytest -k).")
@click.option("-x", "--exitfirst", is_flag=True, help="Stop at the first failure.")
@click.option("--show-output", is_flag=True, help="Show pytest's own report as the suite runs.")
@click.option(
    "--create",
    is_flag=True,
    help="Create the store (file, folder, tables) if it does not exist yet.",
)
@json_option
def check(
    url: str,
    suites: tuple[str, ...],
    keyword: str | None,
    exitfirst: bool,
    show_output: bool,
    create: bool,
    as_json: bool,
) -> None:
    """Run the conformance suite against URL and summarise it per suite.

    Every test works in namespaces and session ids of its own and removes them
    afterwards, so any store can be checked, a shared one included. The store
    must exist unless --create is given. Exits with 1 when a test fails.
    """
    try:
        import pytest_asyncio  # noqa: F401  (the suite needs it; fail with a clear line)

        from unistore._cli import _check_plugin
        from unistore.testing.run import run_conformance
    except ImportError as exc:
        raise CliError(
            f"unistore check needs pytest and pytest-asyncio ({exc.name} is missing): "
            'pip install "unistore[testing]"'
        ) from None
    only = _suite_names(suites)
    run(_reachable(url, create))
    collector = _check_plugin.Collector(only=only)
    args = ["-p", _PLUGIN]
    if not show_output:
        args += ["-p", "no:terminal"]
    if keyword:
        args += ["-k", keyword]
    if exitfirst:
        args.append("-x")
    _check_plugin.ACTIVE = collector
    try:
        with _progress(collector, enabled=not show_output):
            status = run_conformance(url, args)
    finally:
        _check_plugin.ACTIVE = None
    if status in _BROKEN and not (status == 2 and exitfirst):
        raise CliError(
            f"the conformance suite did not run ({_BROKEN[status]}, pytest status {status}); "
            "rerun with --show-output for details",
            ExitCode.USAGE if status in (4, 5) else ExitCode.FAILED,
        )
    failed = sum(t.failed for t in collector.tallies.values())
    if as_json:
        print_json(_as_json(url, collector))
    else:
        _render(url, collector)
    if failed:
        raise click.exceptions.Exit(int(ExitCode.FAILED))


def _suite_names(asked: tuple[str, ...]) -> frozenset[str]:
    """Normalise ``--suite`` values (``KeyValueSuite``, ``keyvalue``, ``kv``), checking them."""
    from unistore.testing._suite import ConformanceSuite

    known = {base.__name__.removesuffix("Suite").lower() for base in ConformanceSuite.__bases__}
    chosen: set[str] = set()
    for name in asked:
        key = name.lower().removesuffix("suite").replace("-", "").replace("_", "")
        key = _ALIASES.get(key, key)
        if key not in known:
            raise click.BadParameter(
                f"unknown suite {name!r}; choose from {', '.join(sorted(known))}",
                param_hint="--suite",
            )
        chosen.add(key)
    return frozenset(chosen)


def _rank(suite: str) -> int:
    """Position of a suite in the order ConformanceSuite lists them (unknown ones last)."""
    from unistore.testing._suite import ConformanceSuite

    names = [base.__name__.removesuffix("Suite") for base in ConformanceSuite.__bases__]
    return names.index(suite) if suite in names else len(names)


def _as_json(url: str, collector: Collector) -> dict[str, Any]:
    tallies = collector.tallies
    return {
        "url": str(StoreURL.parse(url)),
        "passed": sum(t.passed for t in tallies.values()),
        "failed": sum(t.failed for t in tallies.values()),
        "skipped": sum(t.skipped for t in tallies.values()),
        "suites": {
            name: {"passed": t.passed, "failed": t.failed, "skipped": t.skipped}
            for name, t in sorted(tallies.items(), key=lambda item: _rank(item[0]))
        },
        "failures": [
            {"suite": f.suite, "test": f.test, "message": f.message} for f in collector.failures
        ],
    }


def _render(url: str, collector: Collector) -> None:
    out = console()
    out.print(Text(f"conformance of {StoreURL.parse(url)}", style="bold"))
    with_reasons = any(collector.skip_reasons.values())
    grid = table()
    grid.add_column("suite")
    grid.add_column("passed", justify="right", style="green")
    grid.add_column("failed", justify="right")
    grid.add_column("skipped", justify="right", style="dim")
    if with_reasons:
        grid.add_column("skipped because", style="dim")
    totals = [0, 0, 0]
    for name, tally in sorted(collector.tallies.items(), key=lambda item: _rank(item[0])):
        cells: list[Text] = [
            Text(name),
            Text(str(tally.passed)),
            Text(str(tally.failed), style="bold red" if tally.failed else ""),
            Text(str(tally.skipped)),
        ]
        if with_reasons:
            cells.append(Text("; ".join(sorted(collector.skip_reasons.get(name, ())))[:80]))
        grid.add_row(*cells)
        totals = [totals[0] + tally.passed, totals[1] + tally.failed, totals[2] + tally.skipped]
    grid.add_section()
    grid.add_row("total", *(str(n) for n in totals), *([""] if with_reasons else []))
    out.print(grid)
    for failure in collector.failures:
        out.print(
            Text.assemble(
                ("FAILED ", "bold red"), f"{failure.suite}: {failure.test}: ", failure.message
            )
        )
    if totals[1]:
        out.print(Text(f"{totals[1]} conformance test(s) failed", style="bold red"))
    else:
        out.print(Text("all conformance tests passed", style="bold green"))
