"""``unistore sessions``: list, show (with fork ancestry), delete, rename; export and import."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from unistore._cli._common import (
    json_option,
    open_store,
    require,
    run,
    yes_option,
)
from unistore._cli._common import url_argument as _url
from unistore._cli._output import (
    clip,
    console,
    display,
    format_time,
    print_json,
    record_json,
    table,
    text,
)
from unistore._cli._sessions_common import get_record as _get
from unistore._cli._sessions_common import not_found as _not_found
from unistore._cli._sessions_common import scope_option as _scope
from unistore._cli._sessions_io import export, import_session
from unistore.protocols import Capability, SessionPage, SessionRecord

__all__ = ["sessions"]


@click.group()
def sessions() -> None:
    """Inspect and move sessions: durable conversations and their forks."""


sessions.add_command(export)
sessions.add_command(import_session)


@sessions.command("list")
@_url
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1), help="Page size.")
@click.option("--cursor", metavar="C", help="Continue after a page (its next cursor).")
@click.option("--all", "walk_all", is_flag=True, help="Walk every page.")
@_scope
@json_option
def list_sessions(
    url: str, limit: int, cursor: str | None, walk_all: bool, scope: str | None, as_json: bool
) -> None:
    """List one scope's sessions, most recently updated first, one page at a time."""

    async def go() -> SessionPage:
        async with open_store(url) as store:
            require(store, Capability.SESSION_DOCUMENTS, "store sessions")
            page: SessionPage = await store.list_sessions(scope=scope, limit=limit, cursor=cursor)
            items = list(page.items)
            while walk_all and page.next_cursor is not None:
                page = await store.list_sessions(scope=scope, limit=limit, cursor=page.next_cursor)
                items.extend(page.items)
            return SessionPage(items=items, next_cursor=page.next_cursor)

    page = run(go())
    if as_json:
        print_json({"items": [record_json(r) for r in page.items], "next_cursor": page.next_cursor})
        return
    out = console()
    if not page.items:
        out.print("no sessions")
        return
    id_width = min(40, max(len(display(record.id)) for record in page.items))
    # Columns that must not shrink; the label takes what is left, and the
    # update time goes first when the terminal is narrow (the order shows it).
    fixed = id_width + 4 + 14 + 3 * 4
    with_time = out.width - fixed - 19 - 3 >= 20
    grid = table()
    grid.add_column("id", no_wrap=True)
    grid.add_column(
        "label",
        no_wrap=True,
        overflow="ellipsis",
        max_width=max(8, out.width - fixed - (22 if with_time else 0) - 4),
    )
    grid.add_column("msgs", justify="right", no_wrap=True)
    grid.add_column("forked from", no_wrap=True, overflow="ellipsis", max_width=14)
    if with_time:
        grid.add_column("updated (UTC)", no_wrap=True)
    for record in page.items:
        parent = (
            Text("")
            if record.parent_id is None
            else Text(f"@{record.fork_point} {display(record.parent_id)}")
        )
        row: list[Text] = [
            text(record.id, limit=id_width),
            text(record.label, limit=80),
            Text(str(record.message_count)),
            parent,
        ]
        if with_time:
            row.append(Text(format_time(record.updated_at)))
        grid.add_row(*row)
    out.print(grid)
    if page.next_cursor is not None:
        out.print(Text(f"more: --cursor {page.next_cursor}", style="dim"))


async def _ancestry(store: Any, record: SessionRecord) -> list[dict[str, Any]]:
    """The parent chain, nearest first, each with the fork point into it."""
    chain: list[dict[str, Any]] = []
    seen = {record.id}
    child = record
    while child.parent_id is not None and child.parent_id not in seen:
        seen.add(child.parent_id)
        parent: SessionRecord | None = await store.get_session(child.parent_id, scope=record.scope)
        chain.append(
            {
                "id": child.parent_id,
                "label": None if parent is None else parent.label,
                "fork_point": child.fork_point,
                "exists": parent is not None,
            }
        )
        if parent is None:
            break
        child = parent
    return chain


def _owners(record: SessionRecord, chain: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """``(first index, session id)`` of each run of messages, by the session it came from.

    Lineage as recorded: a fork's first ``fork_point`` messages are those its
    parent had when it was forked, whether or not they were copied since.
    """
    runs: list[tuple[int, str]] = []
    end = record.message_count
    owner = record.id
    for ancestor in chain:
        start = min(ancestor["fork_point"] or 0, end)
        if start < end:
            runs.append((start, owner))
        end, owner = start, ancestor["id"]
        if not ancestor["exists"]:
            break
    if end > 0:
        runs.append((0, owner))
    return sorted(runs)


def _owner_at(runs: list[tuple[int, str]], index: int) -> str:
    owner = runs[0][1] if runs else ""
    for start, session_id in runs:
        if start <= index:
            owner = session_id
    return owner


def _message_json(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _message_line(index: int, raw: str, width: int) -> Text:
    message = _message_json(raw)
    if isinstance(message, dict):
        role = str(message.get("role", "?"))
        content = message.get("content")
        body = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        extra = {k: v for k, v in message.items() if k not in ("role", "content")}
        if extra:
            body += " " + json.dumps(extra, ensure_ascii=False)
    else:
        role, body = "?", raw
    return Text.assemble(
        (f"{index:>4} ", "dim"), (f"{role}: ", "bold cyan"), clip(display(body), width)
    )


@sessions.command("show")
@_url
@click.argument("session_id", metavar="ID")
@click.option("--last", type=click.IntRange(0), help="Show only the last N messages.")
@click.option("--full", is_flag=True, help="Do not shorten long messages.")
@_scope
@json_option
def show(
    url: str, session_id: str, last: int | None, full: bool, scope: str | None, as_json: bool
) -> None:
    """Show a session: its record, fork ancestry and messages."""

    async def go() -> tuple[SessionRecord, list[dict[str, Any]], list[str]]:
        async with open_store(url) as store:
            record = await _get(store, session_id, scope)
            chain = await _ancestry(store, record)
            messages: list[str] = await store.read_messages(session_id, last=last, scope=scope)
            return record, chain, messages

    record, chain, messages = run(go())
    first = record.message_count - len(messages)
    if as_json:
        print_json(
            {
                "session": record_json(record),
                "ancestry": chain,
                "first_index": first,
                "messages": [_message_json(m) for m in messages],
            }
        )
        return
    out = console()
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("session", text(record.id, limit=200))
    head.add_row("label", text(record.label, limit=200))
    head.add_row("messages", str(record.message_count))
    if record.scope is not None:
        head.add_row("scope", text(record.scope, limit=200))
    if record.expires_at is not None:
        head.add_row("expires", f"{format_time(record.expires_at)} UTC (ttl {record.ttl:g} s)")
    head.add_row("created", format_time(record.created_at) + " UTC")
    head.add_row("updated", format_time(record.updated_at) + " UTC")
    if record.metadata:
        head.add_row("metadata", Text(json.dumps(dict(record.metadata), ensure_ascii=False)))
    for ancestor in chain:
        gone = "" if ancestor["exists"] else " (deleted)"
        label = f" {clip(display(ancestor['label']), 24)!r}" if ancestor["label"] else ""
        head.add_row(
            "forked from",
            Text(
                f"{clip(display(ancestor['id']), 40)}{label} at message "
                f"{ancestor['fork_point']}{gone}"
            ),
        )
    out.print(head)
    width = 1_000_000 if full else max(40, out.width - 12)
    runs = _owners(record, chain)
    shown: str | None = None
    for offset, raw in enumerate(messages):
        index = first + offset
        owner = _owner_at(runs, index)
        if chain and owner != shown:
            what = (
                "own messages" if owner == record.id else f"shared from {clip(display(owner), 40)}"
            )
            out.rule(Text(what, style="dim"), align="left", style="dim")
        shown = owner
        out.print(_message_line(index, raw, width))


@sessions.command("delete")
@_url
@click.argument("session_id", metavar="ID")
@_scope
@yes_option
def delete(url: str, session_id: str, scope: str | None, yes: bool) -> None:
    """Delete a session (asks first unless --yes). Its forks keep their messages."""

    async def lookup() -> SessionRecord:
        async with open_store(url) as store:
            return await _get(store, session_id, scope)

    async def go() -> bool:
        async with open_store(url) as store:
            require(store, Capability.SESSION_DOCUMENTS, "store sessions")
            existed: bool = await store.delete_session(session_id, scope=scope)
            return existed

    if not yes:
        record = run(lookup())
        click.confirm(
            f"Delete session {clip(display(record.id), 80)!r} ({record.message_count} message(s))?",
            abort=True,
            err=True,
        )
    if not run(go()):
        raise _not_found(session_id)
    console().print(text(f"deleted session {session_id}", limit=300))


@sessions.command("rename")
@_url
@click.argument("session_id", metavar="ID")
@click.argument("label", metavar="LABEL")
@_scope
def rename(url: str, session_id: str, label: str, scope: str | None) -> None:
    """Set the label of a session."""

    async def go() -> None:
        async with open_store(url) as store:
            await _get(store, session_id, scope)
            await store.update_session(session_id, scope=scope, label=label)

    run(go())
    console().print(text(f"renamed session {session_id} to {label!r}", limit=300))
