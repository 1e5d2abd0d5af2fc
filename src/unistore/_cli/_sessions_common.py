"""What the ``unistore sessions`` commands share: the scope option and record lookup."""

from __future__ import annotations

from typing import Any

import click

from unistore._cli._common import CliError, ExitCode, require
from unistore._cli._output import clip, display
from unistore.protocols import Capability, SessionRecord

__all__ = ["get_record", "not_found", "scope_option"]


def not_found(session_id: str) -> CliError:
    return CliError(f"no session {clip(display(session_id), 80)!r}", ExitCode.NOT_FOUND)


scope_option = click.option(
    "--scope",
    metavar="SCOPE",
    default=None,
    help="The scope the sessions live in (default: the default scope).",
)


async def get_record(store: Any, session_id: str, scope: str | None) -> SessionRecord:
    require(store, Capability.SESSION_DOCUMENTS, "store sessions")
    record: SessionRecord | None = await store.get_session(session_id, scope=scope)
    if record is None:
        raise not_found(session_id)
    return record
