"""Blocking unistore, for Flask, Django, scripts and threads.

The same names, arguments, results and errors as the async API, with
blocking methods::

    from unistore import sync

    with sync.NamespacedStore("sqlite:///app.db", prefix="shop", default_ttl=3600) as data:
        basket = data.namespace("session-42")
        basket.hset("items", "sku-1", "2")
        order_id = basket.incr("orders")

Each store runs on a private event loop of its own, driven by the calling
thread when it is idle and shared with the thread running it otherwise; any
number of threads share a store safely, each call waiting for its own result.
Close it with ``close()`` or a ``with`` block; a store still
open at interpreter exit is closed then, within a few seconds at most.

Called from inside a running event loop, every blocking method raises
:class:`unistore.EventLoopError`: in async code, use the async API.
"""

from unistore._sessions import Conversation
from unistore.sync._namespaced import CasSnapshot, Namespace, NamespacedStore
from unistore.sync._sessions import SessionManager
from unistore.sync._store import Store, Transaction, connect

__all__ = [
    "CasSnapshot",
    "Conversation",
    "Namespace",
    "NamespacedStore",
    "SessionManager",
    "Store",
    "Transaction",
    "connect",
]
