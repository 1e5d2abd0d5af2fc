"""Entry point of the redis driver: ``redis[s]://``, ``redis+unix://``, ``redis[s]+cluster://``, ``redis[s]+sentinel://``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unistore import StoreURL, hookimpl
from unistore.protocols import Driver, Store
from unistore_redis._config import OPTIONS

__all__ = ["DRIVER", "unistore_driver"]


def _open(url: StoreURL, options: Mapping[str, Any]) -> Store:
    # Imported here so that resolving the scheme does not import redis-py.
    from unistore_redis._store import RedisStore

    return RedisStore(url, options)


#: The one declaration of the URLs this driver serves (``redis+unix``,
#: ``redis+cluster`` and ``redis+sentinel`` are the ``redis`` or ``rediss``
#: scheme with a dialect).
DRIVER = Driver(
    name="redis",
    open=_open,
    options=OPTIONS,
    distribution="unistore-redis",
    schemes=("redis", "rediss"),
)


@hookimpl
def unistore_driver() -> Driver:
    """Provide the redis driver; the registry matches its declared schemes."""
    return DRIVER
