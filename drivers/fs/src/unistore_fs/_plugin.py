"""Entry point of the fs driver: ``file://`` URLs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unistore import StoreURL, hookimpl
from unistore.errors import ConfigurationError, InvalidURLError
from unistore.protocols import Driver, Store
from unistore_fs._options import OPTIONS

__all__ = ["DRIVER", "OPTIONS", "unistore_driver"]


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
        sweep_interval=options["sweep_interval"],
        clock=options["clock"],
        create=options["create"],
    )


#: The one declaration of the URLs this driver serves.
DRIVER = Driver(
    name="file",
    open=_open,
    options=OPTIONS,
    distribution="unistore-fs",
    schemes=("file",),
    aliases={"fs": "file"},
)


@hookimpl
def unistore_driver() -> Driver:
    """Provide the file driver; the registry matches its declared scheme and alias."""
    return DRIVER
