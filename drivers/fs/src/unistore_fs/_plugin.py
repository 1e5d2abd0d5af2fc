"""Entry point of the fs driver: ``file://`` URLs."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from unistore import StoreURL, hookimpl
from unistore.errors import ConfigurationError, InvalidURLError
from unistore.protocols import Driver, Option, Store

__all__ = ["OPTIONS", "unistore_driver"]


def _durability(value: Any) -> str:
    if value not in ("fsync", "flush"):
        raise ValueError("expected 'fsync' or 'flush'")
    return str(value)


def _seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a number of seconds")
    seconds = float(value)
    if not 0 < seconds < math.inf:
        raise ValueError("expected a positive number of seconds")
    return seconds


def _count(minimum: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, (bool, float)):
            raise TypeError("expected an integer")
        number = int(value)
        if number < minimum:
            raise ValueError(f"expected an integer >= {minimum}")
        return number

    return parse


_SWEEP_EVERY = _count(0)
_SWEEP_BATCH = _count(1)

OPTIONS: tuple[Option, ...] = (
    Option(
        "durability",
        _durability,
        "fsync",
        "fsync: every write is on disk before it returns; flush: survives a crashed "
        "process but not a power cut",
        check=_durability,
    ),
    Option(
        "lock_timeout",
        _seconds,
        10.0,
        "seconds to wait for a lock held by another process",
        check=_seconds,
    ),
    Option(
        "sweep_every",
        _SWEEP_EVERY,
        256,
        "writes between two expiry sweep steps (0: never)",
        check=_SWEEP_EVERY,
    ),
    Option(
        "sweep_batch",
        _SWEEP_BATCH,
        4,
        "namespace folders visited per expiry sweep step",
        check=_SWEEP_BATCH,
    ),
)


def _open(url: StoreURL, options: Mapping[str, Any]) -> Store:
    try:
        import fcntl  # noqa: F401  (POSIX only; checked here for a clear error)
    except ImportError:  # pragma: no cover - Windows
        raise ConfigurationError(
            "the file driver needs POSIX file locks (fcntl), which this platform lacks"
        ) from None
    from unistore_fs._store import FileStore

    path = url.local_path
    if not path:
        raise InvalidURLError(f"file URL {str(url)!r} names no folder")
    return FileStore(
        url,
        path=path,
        durability=options["durability"],
        lock_timeout=options["lock_timeout"],
        sweep_every=options["sweep_every"],
        sweep_batch=options["sweep_batch"],
    )


_DRIVER = Driver(name="file", open=_open, options=OPTIONS, distribution="unistore-fs")


@hookimpl
def unistore_driver(scheme: str) -> Driver | None:
    """Provide the file driver for ``file://`` URLs."""
    return _DRIVER if scheme == "file" else None
