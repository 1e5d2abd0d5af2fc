"""The store root: its layout, its open directories and its first-use checks."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from unistore.errors import ConfigurationError, StoreUnavailableError
from unistore.sdk import store_not_found
from unistore_fs._fsio import (
    DIR_FLAGS,
    close_quietly,
    fsync_dir,
    open_dir,
    read_file,
    remove_quietly,
    write_atomic,
    write_temp,
)

__all__ = [
    "INDEX_DIR",
    "LAYOUT_DIRS",
    "SESSIONS_DIR",
    "VERSION_FILE",
    "Root",
    "destroy_layout",
    "open_root",
]

VERSION_FILE: Final = "VERSION"
VERSION_TEXT: Final = b"unistore-fs layout 1\n"
NS_DIR: Final = "ns"
SESSIONS_DIR: Final = "sessions"
INDEX_DIR: Final = "session-index"
#: The sessions of the non-default scopes, one folder per scope.
SCOPES_DIR: Final = "scopes"
#: Everything the store owns inside its root (``destroy`` removes only these).
LAYOUT_DIRS: Final = (NS_DIR, SESSIONS_DIR, INDEX_DIR, SCOPES_DIR)


@dataclass(eq=False)
class Root:
    """Open directories of one store root, shared by the worker threads.

    A root is reference counted: ``destroy``/``aclose`` retire it and the last
    operation still using it closes the descriptors, so a descriptor number is
    never reused under a running operation.
    """

    path: str
    where: str
    root_fd: int
    ns_fd: int
    sessions_fd: int
    index_fd: int
    scopes_fd: int
    sync: bool
    lock_timeout: float
    #: The store's wall clock (seconds since the epoch), for every expiry and stamp.
    clock: Callable[[], float]
    users: int = 0
    retired: bool = False

    @property
    def fds(self) -> tuple[int, ...]:
        """The open descriptors, innermost first."""
        return (self.scopes_fd, self.index_fd, self.sessions_fd, self.ns_fd, self.root_fd)

    def close(self) -> None:
        """Close every descriptor (called once, when retired and unused)."""
        for fd in self.fds:
            close_quietly(fd)


def _unavailable(where: str, path: str, reason: str) -> StoreUnavailableError:
    return StoreUnavailableError(f"cannot use {path!r} as the root of store {where}: {reason}")


def _open_subdir(root_fd: int, name: str) -> int:
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o755, dir_fd=root_fd)
    return open_dir(name, root_fd)


def _open_existing_subdir(root_fd: int, name: str, where: str, path: str) -> int:
    try:
        return open_dir(name, root_fd)
    except FileNotFoundError:
        # The layout would need completing: an open that may create nothing refuses.
        raise ConfigurationError(
            f"cannot use {path!r} as the root of store {where}: its {name!r} folder is "
            "missing, and the store was opened with create=False, which completes no "
            "layout; open it once with create=True"
        ) from None


def open_root(
    path: str,
    *,
    where: str,
    sync: bool,
    lock_timeout: float,
    clock: Callable[[], float],
    create: bool = True,
) -> Root:
    """Create (if needed and ``create`` allows), check and open a store root.

    Raises:
        StoreUnavailableError: The path is a file, not writable, or holds
            another layout version.
        StoreNotFoundError: ``create`` is false and there is no folder, or
            no store in it (no VERSION file).
        ConfigurationError: ``create`` is false and the layout is incomplete.
    """
    if create:
        try:
            os.makedirs(path, exist_ok=True)
        except FileExistsError as exc:
            raise _unavailable(where, path, "it exists and is not a directory") from exc
        except OSError as exc:
            raise _unavailable(where, path, f"cannot create it ({exc.strerror})") from exc
    try:
        root_fd = os.open(path, DIR_FLAGS & ~os.O_NOFOLLOW)
    except FileNotFoundError as exc:
        if create:
            raise _unavailable(where, path, str(exc.strerror)) from exc
        raise store_not_found(f"file store {where}", f"no folder {path!r}") from None
    except OSError as exc:
        reason = "it is not a directory" if exc.errno == errno.ENOTDIR else exc.strerror
        raise _unavailable(where, path, str(reason)) from exc
    fds = [root_fd]
    try:
        if create:
            # Only a store that may create checks it can write here: the
            # check itself writes (and removes) a file.
            try:
                remove_quietly(write_temp(root_fd, b"", sync=False), root_fd)
            except OSError as exc:
                raise _unavailable(where, path, f"it is not writable ({exc.strerror})") from exc
        version = read_file(VERSION_FILE, root_fd)
        if version is None:
            if not create:
                raise store_not_found(
                    f"file store {where}",
                    f"the folder {path!r} holds no unistore store (no {VERSION_FILE} file)",
                )
            write_atomic(root_fd, VERSION_FILE, VERSION_TEXT, sync=sync)
            if sync:
                fsync_dir(root_fd)
        elif version != VERSION_TEXT:
            raise _unavailable(
                where, path, f"it holds an unsupported layout ({version[:40]!r} in VERSION)"
            )
        for name in LAYOUT_DIRS:
            fds.append(
                _open_subdir(root_fd, name)
                if create
                else _open_existing_subdir(root_fd, name, where, path)
            )
        if sync and create:
            fsync_dir(root_fd)
    except BaseException:
        for fd in fds:
            close_quietly(fd)
        raise
    return Root(
        path=path,
        where=where,
        root_fd=root_fd,
        ns_fd=fds[1],
        sessions_fd=fds[2],
        index_fd=fds[3],
        scopes_fd=fds[4],
        sync=sync,
        lock_timeout=lock_timeout,
        clock=clock,
    )


def destroy_layout(path: str) -> None:
    """Remove what a store keeps under ``path`` (its layout folders and VERSION file).

    Files in the root that the store did not create are left alone.
    """
    try:
        root_fd = os.open(path, DIR_FLAGS & ~os.O_NOFOLLOW)
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        for name in LAYOUT_DIRS:
            try:
                shutil.rmtree(name, dir_fd=root_fd)
            except FileNotFoundError:
                pass
            except OSError:
                # A link or a file where our folder should be: remove the entry itself.
                remove_quietly(name, root_fd)
        remove_quietly(VERSION_FILE, root_fd)
    finally:
        close_quietly(root_fd)
