"""``unistore copy SRC DST``: copy namespaces and sessions between any two stores."""

from __future__ import annotations

import click
from rich.text import Text

from unistore._cli._common import CliError, ExitCode, json_option, open_store, run
from unistore._cli._output import PhaseProgress, console, print_json, table
from unistore._copy import CopyReport, copy_store
from unistore._url import StoreURL

__all__ = ["copy"]


async def _copy(
    src: str, dst: str, namespaces: bool, sessions: bool, prefix: str, progress: PhaseProgress
) -> CopyReport:
    # The source is only read: a missing one is an error, never an empty
    # store made up on the spot. It is opened first, so a missing source
    # fails before anything is created for the destination.
    async with open_store(src) as source, open_store(dst, create=True) as target:
        return await copy_store(
            source,
            target,
            namespaces=namespaces,
            sessions=sessions,
            prefix=prefix,
            progress=progress,
        )


@click.command()
@click.argument("src", metavar="SRC_URL")
@click.argument("dst", metavar="DST_URL")
@click.option(
    "--namespaces/--no-namespaces", default=True, show_default=True, help="Copy namespaces."
)
@click.option("--sessions/--no-sessions", default=True, show_default=True, help="Copy sessions.")
@click.option("--prefix", default="", metavar="P", help="Copy only namespaces starting with P.")
@json_option
def copy(src: str, dst: str, namespaces: bool, sessions: bool, prefix: str, as_json: bool) -> None:
    """Copy namespaces and sessions from SRC_URL to DST_URL, between any drivers.

    Slots keep their kind, value and remaining TTL (existing ones are
    overwritten). Sessions are copied oldest first, parents before forks, forks
    as forks, with labels and metadata; those already in DST_URL with the same
    message count are skipped, so running the copy again is safe. Timestamps
    are not copied: DST_URL stamps what it writes.
    """
    if not namespaces and not sessions:
        raise CliError("nothing to copy: both --no-namespaces and --no-sessions", ExitCode.USAGE)
    if StoreURL.parse(src) == StoreURL.parse(dst):
        raise CliError("SRC_URL and DST_URL are the same store", ExitCode.USAGE)
    out = console()
    with PhaseProgress() as bar:
        report = run(_copy(src, dst, namespaces, sessions, prefix, bar))
    if as_json:
        print_json(report.as_dict())
        return
    out.print(Text(f"copied {StoreURL.parse(src)} -> {StoreURL.parse(dst)}", style="bold"))
    grid = table()
    grid.add_column("")
    grid.add_column("copied", justify="right", style="green")
    grid.add_column("skipped", justify="right", style="dim")
    if namespaces:
        grid.add_row("namespaces", str(report.namespaces), "")
        grid.add_row("slots", str(report.slots), f"{report.slots_skipped} expired")
    if sessions:
        grid.add_row(
            "sessions",
            f"{report.sessions} ({report.forks} as forks)",
            f"{report.sessions_skipped} already there",
        )
        if report.sessions_vanished:
            grid.add_row("sessions gone", "", f"{report.sessions_vanished} expired or deleted")
        if report.sessions_updated:
            grid.add_row("sessions updated", str(report.sessions_updated), "")
        grid.add_row("messages", str(report.messages), "")
    out.print(grid)
