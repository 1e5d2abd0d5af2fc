"""Session folders: locking one, and clearing what a crash left in it."""

from __future__ import annotations

from unistore_fs._fsio import TEMP_PREFIX, list_names, remove_quietly
from unistore_fs._locks import LOCK_NAME, Busy, DirLock, try_lock_dir
from unistore_fs._names import encode_name
from unistore_fs._scopes import Space
from unistore_fs._session_meta import SessionMeta

__all__ = ["clear", "lock_session", "tidy"]


def lock_session(space: Space, session_id: str, *, create: bool) -> DirLock | Busy | None:
    """Try to lock a session's folder; ``None`` if it has none (and ``create`` is false)."""
    try:
        return try_lock_dir(space.sessions_fd, encode_name(session_id), create=create)
    except FileNotFoundError:
        return None


def clear(dir_fd: int) -> None:
    """Remove what a crashed create or delete left in a session folder."""
    for entry in list_names(dir_fd):
        if entry.name != LOCK_NAME and not entry.is_dir(follow_symlinks=False):
            remove_quietly(entry.name, dir_fd)


def tidy(dir_fd: int, meta: SessionMeta) -> None:
    """Remove temporaries and old log generations a crash left in a session folder."""
    for entry in list_names(dir_fd):
        name = entry.name
        stray_log = name.startswith("messages") and name != meta.log
        if (name.startswith(TEMP_PREFIX) or stray_log) and entry.is_file(follow_symlinks=False):
            remove_quietly(name, dir_fd)
