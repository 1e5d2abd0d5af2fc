"""The root ``unistore`` group: global options and the one-line error reporting."""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

import click

from unistore._cli._common import CliError, exit_code_for
from unistore.errors import UnistoreError

__all__ = ["cli"]

_EPILOG = """\
Exit status: 0 ok, 1 the operation failed (or check found failures), 2 usage
error (bad arguments, malformed URL, unknown scheme or option), 3 not found
(no such store, session or slot; nothing is created), 4 the store cannot be
reached.
"""

#: ``ctx.meta`` key of the command line's arguments.
_ARGS = "unistore.args"


def _one_line(message: str) -> str:
    return " ".join(message.replace("\r", " ").split("\n")).strip()


class _URLSecrets:
    """The secrets of the URLs on the command line, and how to hide them.

    click consumes the arguments, so unistore's own errors already show URLs
    redacted; this is for what a third-party driver or client library puts in
    its message: the URL as it was given (or re-rendered in full), or a
    password or token quoted alone.
    """

    def __init__(self, args: list[str]) -> None:
        from urllib.parse import quote

        from unistore._url import StoreURL, is_secret_key

        #: Full-text forms of each URL holding a secret -> its redacted rendering.
        self.urls: dict[str, str] = {}
        found: set[str] = set()
        for given in args:
            # ``--url=redis://...`` is one argument: the URL is its value.
            arg = given.partition("=")[2] if given.startswith("--") else given
            try:
                url = StoreURL.parse(arg)
            except Exception:  # not a URL, or a malformed one (its error is redacted)
                continue
            values = [url.password] if url.password else []
            values += [value for key, value in url.query.items() if is_secret_key(key) and value]
            if not values:
                continue
            shown = url.render()
            for form in (arg, url.render(hide_secrets=False)):
                if form != shown:
                    self.urls[form] = shown
            for value in values:
                encoded = quote(value, safe="")
                found.update((value, encoded, _lower_escapes(encoded)))
        # Longest first: a URL or secret containing a shorter one goes whole.
        self._url_order = sorted(self.urls, key=len, reverse=True)
        self._patterns = [
            re.compile(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])")
            for secret in sorted(found, key=len, reverse=True)
        ]

    def scrub(self, message: str) -> str:
        """Return ``message`` with each URL redacted and each secret as ``***``."""
        for form in self._url_order:
            message = message.replace(form, self.urls[form])
        # A secret quoted alone is replaced only as a whole token, never inside
        # a word: the password "s" must not turn "postgresql" into "po***tgre***ql".
        for pattern in self._patterns:
            message = pattern.sub("***", message)
        return message


def _lower_escapes(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def _scrub(message: str, args: list[str]) -> str:
    """Hide the secrets of the command line's URLs in ``message``."""
    return _URLSecrets(args).scrub(message)


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
            debug = bool(ctx.params.get("debug"))
            args = ctx.meta.get(_ARGS, [])
            if debug:
                # The traceback, then the same line and status as without --debug.
                trace = "".join(traceback.format_exception(exc)).rstrip("\n")
                click.echo(_scrub(trace, args), err=True)
            if isinstance(exc, UnistoreError | CliError):
                message = str(exc) or type(exc).__name__
            else:
                message = f"unexpected {type(exc).__name__}: {exc}"
                if not debug:
                    message += " (run with --debug for the traceback)"
            click.echo(f"error: {_one_line(_scrub(message, args))}", err=True)
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
    from unistore._cli._migrate import migrate
    from unistore._cli._namespaces import ns
    from unistore._cli._rekey import rekey
    from unistore._cli._sessions_cmd import sessions

    for command in (demo, info, check, ns, sessions, copy, rekey, migrate):
        cli.add_command(command)


_register()
