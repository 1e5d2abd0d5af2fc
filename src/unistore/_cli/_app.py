"""The root ``unistore`` group: global options and the one-line error reporting."""

from __future__ import annotations

import logging
from typing import Any

import click

from unistore._cli._common import CliError, exit_code_for
from unistore.errors import UnistoreError

__all__ = ["cli"]

_EPILOG = """\
Exit status: 0 ok, 1 the operation failed (or check found failures), 2 usage
error (bad arguments, malformed URL, unknown scheme or option), 3 not found,
4 the store cannot be reached.
"""

#: ``ctx.meta`` key of the command line's arguments.
_ARGS = "unistore.args"


def _one_line(message: str) -> str:
    return " ".join(message.replace("\r", " ").split("\n")).strip()


def _secrets_of(args: list[str]) -> list[str]:
    """The passwords and secret query values of the URLs among ``args``."""
    from urllib.parse import quote

    from unistore._url import StoreURL, is_secret_key

    found: list[str] = []
    for arg in args:
        if "://" not in arg:
            continue
        try:
            url = StoreURL.parse(arg)
        except Exception:  # a malformed URL: its own error line is redacted already
            continue
        values = [url.password] if url.password else []
        values += [value for key, value in url.query.items() if is_secret_key(key)]
        for value in values:
            found += [value, quote(value, safe="")]
    # Longest first: a secret containing a shorter one is replaced whole.
    return sorted({s for s in found if s}, key=len, reverse=True)


def _scrub(message: str, args: list[str]) -> str:
    # Unistore's own errors show URLs redacted; this also covers what a
    # third-party driver or client library may have put in its message.
    for secret in _secrets_of(args):
        message = message.replace(secret, "***")
    return message


class UnistoreGroup(click.Group):
    """A group that turns any failure into one ``error:`` line and an exit code."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Kept for scrubbing secrets from error lines: click consumes them.
        ctx.meta[_ARGS] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            if isinstance(exc, UnistoreError | CliError):
                message = str(exc) or type(exc).__name__
            else:
                message = (
                    f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)"
                )
            message = _scrub(message, ctx.meta.get(_ARGS, []))
            click.echo(f"error: {_one_line(message)}", err=True)
            raise click.exceptions.Exit(int(exit_code_for(exc))) from None


@click.group(cls=UnistoreGroup, epilog=_EPILOG, context_settings={"max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show tracebacks and the unistore debug log on stderr.")
@click.version_option(package_name="unistore", prog_name="unistore")
def cli(debug: bool) -> None:
    """One storage API over pluggable drivers: demo, inspect, check and copy stores.

    URL is a store URL such as memory://NAME, sqlite:///app.db, file:data,
    redis://localhost:6379/0 or postgresql://user@localhost/db. Passwords in
    URLs are never printed.
    """
    if debug:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger = logging.getLogger("unistore")
        level = logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)

        def restore() -> None:
            logger.removeHandler(handler)
            logger.setLevel(level)

        click.get_current_context().call_on_close(restore)


def _register() -> None:
    from unistore._cli._check import check
    from unistore._cli._copy import copy
    from unistore._cli._demo import demo
    from unistore._cli._info import info
    from unistore._cli._namespaces import ns
    from unistore._cli._sessions_cmd import sessions

    for command in (demo, info, check, ns, sessions, copy):
        cli.add_command(command)


_register()
