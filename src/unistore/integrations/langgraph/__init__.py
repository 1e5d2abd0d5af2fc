"""LangGraph on unistore: a checkpoint saver and a long-term memory store.

* :class:`UnistoreSaver` implements ``BaseCheckpointSaver``: checkpoints,
  pending writes, ``delete_thread`` and ``copy_thread`` (an O(1) session fork).
* :class:`UnistoreStore` implements ``langgraph.store.base.BaseStore``: items
  in tuple namespaces, TTLs in minutes, filtered search, namespace listing.

Both take a store URL or an open store and work on every driver::

    from unistore.integrations.langgraph import UnistoreSaver, UnistoreStore

    graph = builder.compile(
        checkpointer=UnistoreSaver("sqlite:///graph.db"),
        store=UnistoreStore("sqlite:///graph.db"),
    )

Install with ``pip install "unistore[langgraph]"``.
"""

from __future__ import annotations

try:
    import langgraph.checkpoint.base
    import langgraph.store.base  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        'unistore.integrations.langgraph needs LangGraph: pip install "unistore[langgraph]"'
    ) from exc

from unistore.integrations.langgraph._saver import UnistoreSaver
from unistore.integrations.langgraph._store import UnistoreStore

__all__ = ["UnistoreSaver", "UnistoreStore"]
