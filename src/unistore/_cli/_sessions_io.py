"""``unistore sessions export`` and ``import``: one session as JSON lines."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

import click

from unistore._cli._common import CliError, ExitCode, json_option, open_store, require, run
from unistore._cli._common import url_argument as _url
from unistore._cli._output import clip, console, display, print_json, record_json, text
from unistore._cli._sessions_common import get_record, scope_option
from unistore.errors import ValidationError
from unistore.protocols import Capability, SessionRecord
from unistore.sdk import check_retention, check_scope

__all__ = ["EXPORT_FORMAT", "export", "import_session"]

#: The "format" of the first line of an export.
EXPORT_FORMAT = "unistore-session/1"
#: Messages per append call on import.
_BATCH = 500


@click.command("export")
@_url
@click.argument("session_id", metavar="ID")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    default="-",
    help="Write to FILE instead of stdout.",
)
@scope_option
def export(url: str, session_id: str, output: str, scope: str | None) -> None:
    """Export a session as JSON lines: the record first, then one message per line."""

    async def go() -> tuple[SessionRecord, list[str]]:
        async with open_store(url) as store:
            record = await get_record(store, session_id, scope)
            return record, await store.read_messages(session_id, scope=scope)

    record, messages = run(go())
    header = {"format": EXPORT_FORMAT, **record_json(record)}
    lines = [json.dumps(header, ensure_ascii=False, separators=(",", ":"))]
    for raw in messages:
        if "\n" in raw or "\r" in raw:
            # Messages are single-line JSON by contract; re-encode defensively.
            raw = json.dumps(json.loads(raw), ensure_ascii=False, separators=(",", ":"))
        lines.append(raw)
    body = "\n".join(lines) + "\n"
    if output == "-":
        sys.stdout.write(body)
        sys.stdout.flush()
        return
    with open(output, "w", encoding="utf-8", newline="\n") as file:
        file.write(body)
    click.echo(f"exported {len(messages)} message(s) of session {display(record.id)}", err=True)


def _read_export(source: IO[str]) -> tuple[dict[str, Any], list[str]]:
    first = source.readline()
    try:
        header = json.loads(first)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
        raise CliError(
            f"not a unistore session export: the first line must be a {EXPORT_FORMAT} record",
            ExitCode.USAGE,
        )
    messages: list[str] = []
    for number, line in enumerate(source, 2):
        line = line.rstrip("\r\n")
        if not line:
            continue
        try:
            json.loads(line)
        except ValueError:
            raise CliError(f"line {number} is not JSON", ExitCode.USAGE) from None
        messages.append(line)
    return header, messages


def _target(header: dict[str, Any], scope: str | None) -> tuple[str | None, float | None]:
    """The scope and retention an import creates the session with, checked."""
    where = scope if scope is not None else header.get("scope")
    try:
        checked_scope = check_scope(where)
        ttl = check_retention(header.get("ttl"))
    except ValidationError as exc:
        source = "--scope" if scope is not None and "scope" in str(exc) else "the export"
        raise CliError(f"{source}: {exc}", ExitCode.USAGE) from None
    return checked_scope or None, ttl


@click.command("import")
@_url
@click.argument("source", metavar="FILE", type=click.File("r", encoding="utf-8"))
@click.option(
    "--id", "new_id", metavar="NEW", help="Import under this id instead of the exported one."
)
@scope_option
@json_option
def import_session(
    url: str, source: IO[str], new_id: str | None, scope: str | None, as_json: bool
) -> None:
    """Import a session exported with `sessions export` (FILE may be - for stdin).

    The session is created as a standalone session in --scope (default: the
    exported one): fork lineage and timestamps are not carried over, its
    retention (ttl) is.
    """
    header, messages = _read_export(source)
    session_id = new_id if new_id is not None else header.get("id")
    if not isinstance(session_id, str):
        raise CliError("the export has no session id; pass --id", ExitCode.USAGE)
    label = header.get("label")
    metadata = header.get("metadata") or {}
    where, ttl = _target(header, scope)

    async def go() -> None:
        # An import writes: into a new store as well as into an existing one.
        async with open_store(url, create=True) as store:
            require(store, Capability.SESSION_DOCUMENTS, "store sessions")
            if await store.get_session(session_id, scope=where) is not None:
                raise CliError(
                    f"session {clip(display(session_id), 80)!r} already exists; "
                    "import it under another id with --id NEW"
                )
            await store.create_session(
                session_id,
                scope=where,
                label=label if isinstance(label, str) else None,
                metadata=metadata,
                ttl=ttl,
            )
            for start in range(0, len(messages), _BATCH):
                await store.append_messages(
                    session_id,
                    messages[start : start + _BATCH],
                    expected_length=start,
                    scope=where,
                )

    run(go())
    if as_json:
        print_json({"id": session_id, "messages": len(messages)})
    else:
        console().print(
            text(f"imported {len(messages)} message(s) into session {session_id}", limit=300)
        )
