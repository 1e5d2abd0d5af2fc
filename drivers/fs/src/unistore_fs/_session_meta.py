"""The session metadata file ``sessions/<encoded id>/meta.json`` of its scope.

It holds the record (label, metadata, lineage, times), where the messages are
(``log`` and its committed byte length ``log_size``; the first ``base_point``
messages come from the session ``base``), and ``forks``: the sessions whose
base is this one, so that editing or deleting it finds them without a scan.

Only ``log_size`` bytes of the log are committed: bytes after it are a torn or
uncommitted tail left by a crash, or messages a pop removed; readers ignore
them and the next append cuts them off. ``trims`` counts the pops that lowered
``log_size``, so a lock-free reader can tell that bytes it read may have been
rewritten since.

Newer fields, all optional so that files written before them load unchanged:
``scope`` (the session's scope, checked against its folder), ``ttl`` and
``expires_us`` (retention: the session is gone once the clock passes
``expires_us``), ``tokens`` (idempotency token to the length its write
produced, oldest first) and ``trims``.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Final

from unistore.errors import CorruptionError
from unistore.protocols import SessionRecord
from unistore.sdk import expiry_micros, micros_to_datetime, session_record
from unistore_fs._fsio import fsync_dir, open_dir, read_file, write_atomic
from unistore_fs._names import encode_name
from unistore_fs._scopes import Space

__all__ = [
    "META_FILE",
    "SessionMeta",
    "load_meta",
    "load_meta_in",
    "peek_id",
    "write_meta",
]

META_FILE: Final = "meta.json"
FIRST_LOG: Final = "messages.jsonl"


@dataclass
class SessionMeta:
    """The decoded ``meta.json`` of one session."""

    id: str
    created_us: int
    updated_us: int
    label: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    parent_id: str | None = None
    fork_point: int | None = None
    count: int = 0
    base: str | None = None
    base_point: int = 0
    log: str = FIRST_LOG
    log_gen: int = 0
    log_size: int = 0
    forks: list[str] = field(default_factory=list)
    scope: str = ""
    ttl: float | None = None
    expires_us: int | None = None
    tokens: dict[str, int] = field(default_factory=dict)
    trims: int = 0

    @property
    def own_count(self) -> int:
        """How many messages this session's own log holds."""
        return self.count - self.base_point

    def expired(self, now_us: int) -> bool:
        """Whether the session's retention ran out at ``now_us``."""
        return self.expires_us is not None and self.expires_us <= now_us

    def written(self, micros: int) -> None:
        """Stamp a write at ``micros``: the new ``updated_at``, and the TTL restarts."""
        self.updated_us = micros
        self.expires_us = expiry_micros(micros, self.ttl)

    def record(self) -> SessionRecord:
        """Return the public record."""
        return session_record(
            self.id,
            label=self.label,
            parent_id=self.parent_id,
            fork_point=self.fork_point,
            metadata=self.metadata,
            created_us=self.created_us,
            updated_us=self.updated_us,
            message_count=self.count,
            scope=self.scope,
            ttl=self.ttl,
            expires_us=self.expires_us,
        )

    def encode(self) -> bytes:
        """Serialise, with readable times for people browsing the folder."""
        doc = {
            "format": 1,
            "id": self.id,
            "label": self.label,
            "created_at": micros_to_datetime(self.created_us).isoformat(),
            "updated_at": micros_to_datetime(self.updated_us).isoformat(),
            "count": self.count,
            "parent_id": self.parent_id,
            "fork_point": self.fork_point,
            "metadata": self.metadata,
            "created_us": self.created_us,
            "updated_us": self.updated_us,
            "base": self.base,
            "base_point": self.base_point,
            "log": self.log,
            "log_gen": self.log_gen,
            "log_size": self.log_size,
            "forks": self.forks,
            "scope": self.scope,
            "ttl": self.ttl,
            "expires_us": self.expires_us,
            "tokens": self.tokens,
            "trims": self.trims,
        }
        if self.expires_us is not None:
            doc["expires_at"] = micros_to_datetime(self.expires_us).isoformat()
        # One line (the C encoder); pretty-printing would double the cost of a save.
        return json.dumps(doc, ensure_ascii=True).encode("ascii") + b"\n"


_LOG_NAME: Final = re.compile(r"messages(\.[0-9]+)?\.jsonl")


def _optional_str(value: object) -> bool:
    return value is None or isinstance(value, str)


_INT_FIELDS: Final = (
    "created_us",
    "updated_us",
    "count",
    "base_point",
    "log_gen",
    "log_size",
    "trims",
)


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _valid_ttl(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return 0 < value < math.inf


def _valid_tokens(tokens: object) -> bool:
    return isinstance(tokens, dict) and all(
        isinstance(token, str) and _count(length) for token, length in tokens.items()
    )


def _decode(data: bytes, session_id: str, scope: str) -> SessionMeta:
    try:
        doc = json.loads(data)
        if doc.get("format") != 1 or doc["id"] != session_id or doc.get("scope", "") != scope:
            raise CorruptionError(
                "a session metadata file names another session than its folder "
                "(moved by hand, or a digest collision)"
            )
        meta = SessionMeta(
            id=session_id,
            created_us=doc["created_us"],
            updated_us=doc["updated_us"],
            label=doc["label"],
            metadata=doc["metadata"],
            parent_id=doc["parent_id"],
            fork_point=doc["fork_point"],
            count=doc["count"],
            base=doc["base"],
            base_point=doc["base_point"],
            log=doc["log"],
            log_gen=doc["log_gen"],
            log_size=doc["log_size"],
            forks=list(doc["forks"]),
            scope=scope,
            ttl=doc.get("ttl"),
            expires_us=doc.get("expires_us"),
            tokens=doc.get("tokens", {}),
            trims=doc.get("trims", 0),
        )
    except CorruptionError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptionError(
            f"a session metadata file cannot be decoded: {type(exc).__name__}"
        ) from exc
    bad_ints = any(
        not isinstance(getattr(meta, name), int) or getattr(meta, name) < 0 for name in _INT_FIELDS
    )
    if (
        bad_ints
        or not isinstance(meta.metadata, dict)
        or not isinstance(meta.log, str)
        or _LOG_NAME.fullmatch(meta.log) is None
        or not meta.base_point <= meta.count
        or not all(_optional_str(v) for v in (meta.label, meta.parent_id, meta.base))
        or not all(isinstance(fork, str) for fork in meta.forks)
        or not _valid_ttl(meta.ttl)
        or not (meta.expires_us is None or _count(meta.expires_us))
        or not _valid_tokens(meta.tokens)
    ):
        raise CorruptionError("a session metadata file holds impossible values")
    return meta


def load_meta_in(dir_fd: int, session_id: str, scope: str) -> SessionMeta | None:
    """Read the metadata of the session whose folder is open as ``dir_fd``.

    Expired sessions are returned too: callers decide (a fork's base chain
    still reads an expired base until it is reclaimed).
    """
    data = read_file(META_FILE, dir_fd)
    return None if data is None else _decode(data, session_id, scope)


def load_meta(space: Space, session_id: str) -> SessionMeta | None:
    """Read a session's metadata without a lock, or ``None`` if it does not exist."""
    try:
        dir_fd = open_dir(encode_name(session_id), space.sessions_fd)
    except FileNotFoundError:
        return None
    try:
        return load_meta_in(dir_fd, session_id, space.scope)
    finally:
        os.close(dir_fd)


def peek_id(dir_fd: int) -> str | None:
    """Return the session id a folder's metadata records, or ``None`` (none, or unreadable)."""
    data = read_file(META_FILE, dir_fd)
    try:
        session_id = None if data is None else json.loads(data)["id"]
    except (ValueError, KeyError, TypeError):
        return None
    return session_id if isinstance(session_id, str) else None


def write_meta(space: Space, dir_fd: int, meta: SessionMeta) -> None:
    """Atomically replace ``meta.json`` (the commit point of every session change)."""
    write_atomic(dir_fd, META_FILE, meta.encode(), sync=space.sync)
    if space.sync:
        fsync_dir(dir_fd)
