"""The driver SDK: write a driver as primitives, a layout and an error table.

A driver's store class inherits :class:`StoreBase`'s capability bases, one
per capability it implements; their public methods are final and do, in this
order, the closed-store check, argument validation (one set of rules for every
driver), TTL normalisation, and the call into the driver's ``_``-prefixed
primitive inside the driver's error table::

    from unistore.sdk import ErrorRule, ErrorTable, KeyValueBase

    class TinyStore(KeyValueBase):
        NAME = "tiny"
        ERRORS = ErrorTable(ErrorRule(OSError, StoreUnavailableError, "disk failed"))

        async def _get(self, ns, slot): ...
        async def _set(self, ns, slot, value, ttl): ...
        async def _delete(self, ns, slot): ...

Also here: the typed transaction op queue (:class:`TransactionBase`, the
``*Op`` dataclasses), the conflict-injection hook
(:meth:`TransactionsBase.simulate_concurrent_change`), one backoff policy
(:class:`Backoff`), one listing-cursor codec, the counter rules (int64,
canonical decimals), the open mode (:data:`CREATE_OPTION`: open an existing
store without creating anything, :func:`store_not_found`), and a finaliser
that releases what a dropped store holds (:meth:`StoreBase._hold`). See the
"Writing a driver" guide.

Stores that wrap a store (encryption, compression, instrumentation) start
from :class:`StoreWrapper`: it delegates every operation to the wrapped store
through one interception point and passes values through overridable
transforms (a wrapped transaction is a :class:`WrappedTransaction`;
:meth:`StoreWrapper.using` returns a :class:`WrapperFactory` for
``connect(url, wrappers=[...])``). See the "Wrappers" guide.
"""

from __future__ import annotations

from unistore.sdk._checks import (
    INT64_MAX,
    INT64_MIN,
    RETENTION_MAX,
    SCOPE_MAX,
    TOKEN_MAX,
    add_counter,
    check_amount,
    check_count,
    check_cursor,
    check_expiry,
    check_fields,
    check_id,
    check_label,
    check_last,
    check_limit,
    check_mapping,
    check_messages,
    check_metadata,
    check_pop,
    check_retention,
    check_scope,
    check_slot_names,
    check_token,
    check_ttl,
    check_value,
    check_watch,
    not_utf8,
    parse_counter,
    short,
)
from unistore.sdk._cursor import decode_cursor, encode_cursor
from unistore.sdk._errors import ErrorRule, ErrorTable
from unistore.sdk._full import FullStoreBase
from unistore.sdk._loops import LoopAffinity
from unistore.sdk._now import LATER, Later
from unistore.sdk._open import CREATE_OPTION, store_not_found
from unistore.sdk._records import (
    datetime_to_micros,
    expiry_micros,
    length_conflict,
    micros_to_datetime,
    position_error,
    session_exists,
    session_not_found,
    session_record,
)
from unistore.sdk._retry import Backoff, Deadline
from unistore.sdk._sessions import (
    TOKENS_KEPT,
    ForkRequest,
    MessageWrite,
    NewSession,
    PopRequest,
    SessionDocumentsBase,
)
from unistore.sdk._slots import (
    CounterBase,
    HashBase,
    KeyValueBase,
    NamespaceLifecycleBase,
    NamespaceListingBase,
    TTLBase,
)
from unistore.sdk._store import CLOCK_OPTION, StoreBase
from unistore.sdk._tokens import recall_token, remember_token
from unistore.sdk._tx import (
    DeleteOp,
    HDelOp,
    HSetOp,
    Op,
    SetOp,
    TransactionBase,
    TransactionsBase,
)
from unistore.sdk._wrap import StoreWrapper, WrappedTransaction, WrapperFactory

__all__ = [
    "CLOCK_OPTION",
    "CREATE_OPTION",
    "INT64_MAX",
    "INT64_MIN",
    "LATER",
    "RETENTION_MAX",
    "SCOPE_MAX",
    "TOKENS_KEPT",
    "TOKEN_MAX",
    "Backoff",
    "CounterBase",
    "Deadline",
    "DeleteOp",
    "ErrorRule",
    "ErrorTable",
    "ForkRequest",
    "FullStoreBase",
    "HDelOp",
    "HSetOp",
    "HashBase",
    "KeyValueBase",
    "Later",
    "LoopAffinity",
    "MessageWrite",
    "NewSession",
    "NamespaceLifecycleBase",
    "NamespaceListingBase",
    "Op",
    "PopRequest",
    "SessionDocumentsBase",
    "SetOp",
    "StoreBase",
    "StoreWrapper",
    "TTLBase",
    "TransactionBase",
    "TransactionsBase",
    "WrappedTransaction",
    "WrapperFactory",
    "add_counter",
    "check_amount",
    "check_count",
    "check_cursor",
    "check_expiry",
    "check_fields",
    "check_id",
    "check_label",
    "check_last",
    "check_limit",
    "check_mapping",
    "check_messages",
    "check_metadata",
    "check_pop",
    "check_retention",
    "check_scope",
    "check_slot_names",
    "check_token",
    "check_ttl",
    "check_value",
    "check_watch",
    "datetime_to_micros",
    "decode_cursor",
    "encode_cursor",
    "expiry_micros",
    "length_conflict",
    "micros_to_datetime",
    "not_utf8",
    "parse_counter",
    "position_error",
    "recall_token",
    "remember_token",
    "session_exists",
    "session_not_found",
    "session_record",
    "short",
    "store_not_found",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        # Shown (and documented) where driver authors import them from.
        _obj.__module__ = __name__
del _name, _obj
