"""Session scopes: where each scope's sessions and listing index live.

The default scope ``""`` is the original layout, ``<root>/sessions/`` and
``<root>/session-index/``, so stores written before scopes existed load as
they are. Every other scope is one folder ``<root>/scopes/<scope folder>/``
(named by :func:`~unistore_fs._names.scope_dir_name`) holding its own
``sessions/`` and ``session-index/`` and a ``SCOPE`` file recording the full
scope text. A scope is opaque text: ``*``, ``..`` or ``a/b`` only ever become
one escaped folder name, and the ``SCOPE`` file is checked on every use, so a
name collision or a folder moved by hand is refused instead of mixing two
scopes.

A scope folder is built complete under a temporary name and renamed into
place, so it appears whole or not at all and two processes creating the same
scope at once end up sharing one folder. Scope folders are never removed
(except by ``destroy``): they hold three entries once their sessions are gone.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from unistore.errors import CorruptionError
from unistore_fs._fsio import (
    TEMP_PREFIX,
    close_quietly,
    fsync_dir,
    list_names,
    open_dir,
    read_file,
    temp_name,
    write_atomic,
)
from unistore_fs._names import scope_dir_name
from unistore_fs._root import INDEX_DIR, SESSIONS_DIR, Root

__all__ = ["SCOPE_FILE", "Space", "list_scopes", "open_space", "space_folders"]

SCOPE_FILE: Final = "SCOPE"
#: A half-built scope folder older than this was left by a crash.
_STALE_BUILD: Final = 3600.0


@dataclass(eq=False)
class Space:
    """The open folders of one scope, and the root's settings the session code needs.

    The default scope's descriptors belong to the root; another scope's are
    opened for one operation and closed by :func:`open_space`.
    """

    scope: str
    sessions_fd: int
    index_fd: int
    sync: bool
    lock_timeout: float
    #: The store's wall clock (seconds since the epoch).
    clock: Callable[[], float]

    def now_us(self) -> int:
        """Return the store clock's time in Unix microseconds."""
        return round(self.clock() * 1_000_000)


def _encode_scope(scope: str) -> bytes:
    return json.dumps({"scope": scope}, ensure_ascii=True).encode("ascii") + b"\n"


def _recorded_scope(dir_fd: int) -> str | None:
    data = read_file(SCOPE_FILE, dir_fd)
    if data is None:
        return None
    try:
        scope = json.loads(data)["scope"]
    except (ValueError, KeyError, TypeError):
        return None
    return scope if isinstance(scope, str) and scope else None


def _build(root: Root, name: str, scope: str) -> None:
    """Create the folder of ``scope`` atomically (a no-op if another process won the race)."""
    temp = temp_name()
    os.mkdir(temp, 0o755, dir_fd=root.scopes_fd)
    try:
        dir_fd = open_dir(temp, root.scopes_fd)
        try:
            write_atomic(dir_fd, SCOPE_FILE, _encode_scope(scope), sync=root.sync)
            os.mkdir(SESSIONS_DIR, 0o755, dir_fd=dir_fd)
            os.mkdir(INDEX_DIR, 0o755, dir_fd=dir_fd)
            if root.sync:
                fsync_dir(dir_fd)
        finally:
            os.close(dir_fd)
        try:
            os.rename(temp, name, src_dir_fd=root.scopes_fd, dst_dir_fd=root.scopes_fd)
        except OSError as exc:
            # Another creator's folder is in place (never empty): use that one.
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
        else:
            temp = ""
            if root.sync:
                fsync_dir(root.scopes_fd)
    finally:
        if temp:
            with contextlib.suppress(OSError):
                shutil.rmtree(temp, dir_fd=root.scopes_fd)


def _open_folders(dir_fd: int) -> tuple[int, int]:
    sessions_fd = open_dir(SESSIONS_DIR, dir_fd)
    try:
        return sessions_fd, open_dir(INDEX_DIR, dir_fd)
    except BaseException:
        os.close(sessions_fd)
        raise


def _open_scope(root: Root, scope: str, *, create: bool) -> tuple[int, int] | None:
    name = scope_dir_name(scope)
    try:
        dir_fd = open_dir(name, root.scopes_fd)
    except FileNotFoundError:
        if not create:
            return None
        _build(root, name, scope)
        dir_fd = open_dir(name, root.scopes_fd)
    try:
        if _recorded_scope(dir_fd) != scope:
            raise CorruptionError(
                "a scope folder records another scope than the one asked for "
                "(a name collision, or a folder moved by hand); refusing to mix them"
            )
        return _open_folders(dir_fd)
    finally:
        os.close(dir_fd)


def _space(root: Root, scope: str, sessions_fd: int, index_fd: int) -> Space:
    return Space(scope, sessions_fd, index_fd, root.sync, root.lock_timeout, root.clock)


@contextlib.contextmanager
def open_space(root: Root, scope: str, *, create: bool) -> Iterator[Space | None]:
    """Open the folders of ``scope`` for one operation.

    Yields ``None`` for a scope that has no folder yet (and ``create`` is
    false): it holds no session.

    Raises:
        CorruptionError: The scope's folder records another scope.
    """
    if not scope:
        yield _space(root, "", root.sessions_fd, root.index_fd)
        return
    fds = _open_scope(root, scope, create=create)
    if fds is None:
        yield None
        return
    try:
        yield _space(root, scope, *fds)
    finally:
        for fd in fds:
            close_quietly(fd)


def _holds_entries(dir_fd: int) -> bool:
    return any(not entry.name.startswith(".") for entry in list_names(dir_fd))


def _scope_folders(root: Root) -> Iterator[tuple[str, int]]:
    """Yield (scope, open folder) for every valid scope folder; the caller must not keep it."""
    now = time.time()
    for entry in list_names(root.scopes_fd):
        name = entry.name
        if not entry.is_dir(follow_symlinks=False):
            continue
        if name.startswith(TEMP_PREFIX):
            # A build interrupted by a crash; a recent one may still be running.
            if now - entry.stat(follow_symlinks=False).st_mtime > _STALE_BUILD:
                with contextlib.suppress(OSError):
                    shutil.rmtree(name, dir_fd=root.scopes_fd)
            continue
        try:
            dir_fd = open_dir(name, root.scopes_fd)
        except (FileNotFoundError, CorruptionError):
            continue
        try:
            scope = _recorded_scope(dir_fd)
            if scope is not None and scope_dir_name(scope) == name:
                yield scope, dir_fd
        finally:
            os.close(dir_fd)


def list_scopes(root: Root) -> list[str]:
    """Return every scope whose folder holds a session entry (``""``: the default).

    O(scopes); a scope whose sessions all expired may still be listed until
    the sweep reclaims them.
    """
    found = [""] if _holds_entries(root.sessions_fd) else []
    for scope, dir_fd in _scope_folders(root):
        try:
            sessions_fd = open_dir(SESSIONS_DIR, dir_fd)
        except (FileNotFoundError, CorruptionError):
            continue
        try:
            if _holds_entries(sessions_fd):
                found.append(scope)
        finally:
            os.close(sessions_fd)
    return found


def space_folders(root: Root) -> list[tuple[str, list[str]]]:
    """Return (scope, session folder names) for every scope: the sweep's work list.

    O(sessions in the store); the sweep takes it once per full pass.
    """
    out = [("", _session_names(root.sessions_fd))]
    for scope, dir_fd in _scope_folders(root):
        try:
            sessions_fd = open_dir(SESSIONS_DIR, dir_fd)
        except (FileNotFoundError, CorruptionError):
            continue
        try:
            out.append((scope, _session_names(sessions_fd)))
        finally:
            os.close(sessions_fd)
    return out


def _session_names(sessions_fd: int) -> list[str]:
    return [
        entry.name
        for entry in list_names(sessions_fd)
        if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False)
    ]
