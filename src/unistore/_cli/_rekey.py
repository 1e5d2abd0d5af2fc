"""``unistore rekey URL``: re-encrypt every value under the current key."""

from __future__ import annotations

import os
from pathlib import Path

import click

from unistore._cli._common import CliError, ExitCode, json_option, open_store, run
from unistore._cli._output import PhaseProgress, console, print_json, table

__all__ = ["rekey"]


def _load_keys(keys_file: str | None, keys_env: str | None) -> dict[str, str]:
    from unistore.wrappers._enc_keys import parse_key_lines

    if (keys_file is None) == (keys_env is None):
        raise CliError(
            "give the keys with exactly one of --keys-file or --keys-env", ExitCode.USAGE
        )
    if keys_file is not None:
        try:
            text = Path(keys_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(
                f"cannot read the keys file {keys_file!r}: {exc.strerror}", ExitCode.USAGE
            ) from None
        return parse_key_lines(text, source=f"keys file {keys_file!r}")
    assert keys_env is not None
    value = os.environ.get(keys_env)
    if value is None:
        raise CliError(f"environment variable {keys_env!r} is not set", ExitCode.USAGE)
    return parse_key_lines(value, source=f"environment variable {keys_env!r}")


async def _rekey(
    url: str,
    keys: dict[str, str],
    current: str,
    namespaces: bool,
    sessions: bool,
    progress: PhaseProgress,
) -> dict[str, int]:
    from unistore.wrappers._encrypted import Encrypted
    from unistore.wrappers._rekey import rekey as run_rekey

    # Rekeying rewrites what exists: a missing store is "not found", never made up.
    async with open_store(url) as store:
        encrypted = Encrypted(store, keys=keys, current=current)
        report = await run_rekey(
            encrypted, namespaces=namespaces, sessions=sessions, progress=progress
        )
    return report.as_dict()


@click.command()
@click.argument("url", metavar="URL")
@click.option("--keys-file", metavar="PATH", help="A file of id=base64key lines.")
@click.option(
    "--keys-env", metavar="VAR", help="An environment variable of id=base64key entries (; apart)."
)
@click.option("--current", required=True, metavar="ID", help="The key id to encrypt with.")
@click.option(
    "--namespaces/--no-namespaces", default=True, show_default=True, help="Rekey namespaces."
)
@click.option("--sessions/--no-sessions", default=True, show_default=True, help="Rekey sessions.")
@json_option
def rekey(
    url: str,
    keys_file: str | None,
    keys_env: str | None,
    current: str,
    namespaces: bool,
    sessions: bool,
    as_json: bool,
) -> None:
    """Re-encrypt every value of URL that is not under the key --current.

    Keys never come from the URL: give them with --keys-file or --keys-env,
    as id=base64key entries holding every key still in use. Values already
    under the current key and plain values are left alone, TTLs are kept and
    concurrent writes are never overwritten, so running it again after an
    interruption finishes the job.
    """
    keys = _load_keys(keys_file, keys_env)
    with PhaseProgress() as bar:
        counts = run(_rekey(url, keys, current, namespaces, sessions, bar))
    if as_json:
        print_json(counts)
    else:
        grid = table(title=f"rekeyed to {current}")
        grid.add_column("")
        grid.add_column("count", justify="right")
        for name, count in counts.items():
            grid.add_row(name.replace("_", " "), str(count))
        console().print(grid)
    if counts["gave_up"]:
        raise CliError(
            f"{counts['gave_up']} slot(s) or session(s) kept changing; run rekey again",
            ExitCode.FAILED,
        )
