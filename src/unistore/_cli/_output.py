"""Rendering helpers: consoles, JSON, safe display of opaque ids and values."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any, Protocol, Self

import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from unistore.protocols import SessionRecord

__all__ = [
    "clip",
    "console",
    "decode_value",
    "display",
    "format_time",
    "format_ttl",
    "print_json",
    "progress_console",
    "record_json",
    "table",
    "text",
]

#: Longest id or value shown in a table cell before it is clipped.
CELL_LIMIT = 60


def console() -> Console:
    """A console on the current stdout (made per use: tests swap stdout)."""
    return Console(highlight=False, emoji=False)


def progress_console() -> Console:
    """Where progress bars go: stderr, so that stdout stays clean for pipes and ``--json``."""
    return Console(stderr=True, highlight=False, emoji=False)


class Step(Protocol):
    """A progress step of a phased job (copy, rekey)."""

    @property
    def phase(self) -> str: ...
    @property
    def done(self) -> int: ...
    @property
    def total(self) -> int: ...


class PhaseProgress:
    """A progress bar with one row per phase ("namespaces", "sessions"), on stderr.

    Use it as a context manager and pass it as the job's ``progress``
    callback. It shows nothing when stderr is not a terminal, and disappears
    when done.
    """

    def __init__(self) -> None:
        where = progress_console()
        self._bar = Progress(
            TextColumn("{task.description:>10}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=where,
            transient=True,
            disable=not where.is_terminal,
        )
        self._rows: dict[str, TaskID] = {}

    def __enter__(self) -> Self:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(None, None, None)

    def __call__(self, step: Step) -> None:
        row = self._rows.get(step.phase)
        if row is None:
            row = self._rows[step.phase] = self._bar.add_task(step.phase, total=step.total)
        self._bar.update(row, completed=step.done, total=step.total)


def table(*, title: str | Text | None = None, **options: Any) -> Table:
    """A table in the house style: a rule under the header, no vertical lines."""
    return Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        title=title,
        title_justify="left",
        title_style="bold",
        **options,
    )


def print_json(data: Any) -> None:
    """Print one JSON document (non-ASCII kept, datetimes as ISO text)."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def display(value: str) -> str:
    """Escape what a terminal would not show faithfully (NUL, newlines, tabs)."""
    if value.isprintable():
        return value
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in value)


def clip(value: str, limit: int = CELL_LIMIT) -> str:
    """Shorten a long text for a table cell, marking the cut."""
    return value if len(value) <= limit else value[: limit - 1] + "\u2026"


def text(value: str | None, *, limit: int = CELL_LIMIT, style: str = "") -> Text:
    """A table cell for an opaque string: escaped, clipped, never read as markup."""
    if value is None:
        return Text("-", style="dim")
    return Text(clip(display(value), limit), style=style)


def decode_value(data: bytes) -> tuple[str, str]:
    """Return ``(text, encoding)``: UTF-8 text when it decodes, else base64."""
    try:
        return data.decode(), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def format_ttl(seconds: float | None) -> str:
    """Seconds left as ``1h 02m 03s`` (``-`` when unknown)."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def format_time(moment: datetime) -> str:
    """A UTC timestamp to the second, as ``2025-01-31 12:00:00``."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def record_json(record: SessionRecord) -> dict[str, Any]:
    """A session record as a JSON-compatible dict."""
    return {
        "id": record.id,
        "label": record.label,
        "parent_id": record.parent_id,
        "fork_point": record.fork_point,
        "metadata": dict(record.metadata),
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        "message_count": record.message_count,
        "scope": record.scope,
        "ttl": record.ttl,
        "expires_at": None if record.expires_at is None else record.expires_at.isoformat(),
    }
