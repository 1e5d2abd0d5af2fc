"""The redis driver for unistore.

URLs: ``redis://``, ``rediss://``, ``redis+unix://``, ``redis+cluster://`` (Redis
Cluster) and ``redis+sentinel://`` (the master Sentinel names), TLS forms included.

Install ``unistore-redis`` and open a store by URL; the driver is found through
the ``unistore.drivers`` entry points::

    import unistore

    async with unistore.connect("redis://localhost:6379/0", key_prefix="myapp") as store:
        await store.set("ns", "slot", b"value", ttl=60)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unistore_redis._store import RedisStore

__all__ = ["RedisStore"]


def __getattr__(name: str) -> Any:
    # redis-py is imported only when the store class is actually needed.
    if name == "RedisStore":
        from unistore_redis._store import RedisStore

        return RedisStore
    raise AttributeError(f"module 'unistore_redis' has no attribute {name!r}")
