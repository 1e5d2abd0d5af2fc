"""The driver contract: what a storage driver implements and how it says so.

A driver is a store object (see :class:`Store`) plus the capability protocols it
implements. Each capability is a small :class:`typing.Protocol`; a store declares
the ones it implements in :attr:`Store.capabilities`, and the products and the
conformance suite rely on that declaration, not on guessing.

Drivers speak in *namespaces* and *slots*. Both are opaque strings built by the
caller (the namespaced store uses ``"<prefix>:<namespace-id>"``). A driver must
store any string for either exactly - including ``*``, ``?``, ``[``, ``:``,
``{``, ``}``, ``/``, ``..``, ``%``, NUL, newlines and 10 KB of text - and must
keep them apart: nothing done in one namespace may read, write, list, touch or
purge anything of another.

Values are ``bytes`` at this level; encoding is the caller's business.

Every write carries a TTL in seconds (a positive ``float``). There is no write
without expiry. An expired slot is invisible to every operation at once, and the
driver reclaims its space lazily or with a bounded sweep.

Session messages are opaque JSON texts (``str``, one per message, valid UTF-8
and without NUL; a driver that stores one message per line escapes newlines);
session metadata is a JSON-compatible mapping.
"""

from __future__ import annotations

from unistore._contract._driver import KEYWORD_ONLY, Driver, FullStore, Option
from unistore._contract._sessions import SessionDocuments, SessionPage, SessionRecord
from unistore._contract._slots import (
    TTL,
    Capability,
    Counter,
    Hash,
    KeyValue,
    NamespaceLifecycle,
    NamespaceListing,
    SlotKind,
    Store,
    Transaction,
    Transactions,
)

__all__ = [
    "Capability",
    "Counter",
    "Driver",
    "FullStore",
    "Hash",
    "KEYWORD_ONLY",
    "KeyValue",
    "NamespaceLifecycle",
    "NamespaceListing",
    "Option",
    "SessionDocuments",
    "SessionPage",
    "SessionRecord",
    "SlotKind",
    "Store",
    "TTL",
    "Transaction",
    "Transactions",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        # Shown (and documented) where users import them from.
        _obj.__module__ = __name__
del _name, _obj
