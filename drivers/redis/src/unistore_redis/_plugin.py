"""Entry point of the redis driver: ``redis://``, ``rediss://`` and ``redis+unix://``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unistore import hookimpl
from unistore._url import StoreURL
from unistore.protocols import Driver, Store
from unistore_redis._config import OPTIONS

__all__ = ["unistore_driver"]


def _open(url: StoreURL, options: Mapping[str, Any]) -> Store:
    # Imported here so that resolving the scheme does not import redis-py.
    from unistore_redis._store import RedisStore

    return RedisStore(url, options)


_DRIVER = Driver(name="redis", open=_open, options=OPTIONS, distribution="unistore-redis")


@hookimpl
def unistore_driver(scheme: str) -> Driver | None:
    """Provide the redis driver for ``redis`` and ``rediss`` URLs."""
    return _DRIVER if scheme in ("redis", "rediss") else None
