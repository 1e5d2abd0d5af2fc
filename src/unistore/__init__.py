"""unistore: one async storage API over pluggable drivers chosen by URL.

Example:
    >>> import unistore
    >>> async def main() -> None:
    ...     async with unistore.connect("memory://") as store:
    ...         await store.set("app:user-1", "greeting", b"hello", ttl=60)

Only the contract (errors, protocols, URLs) is imported eagerly; the registry,
the products and the tooling load on first use of one of their names, so that
``import unistore`` stays cheap and imports no driver.
"""

# No ``from __future__ import annotations`` and no ``from typing import ...``
# here: either would put a non-public name (``annotations``, ``Any``) on the
# package, and every global of this module is an attribute of ``unistore``.
import types as _types
import typing as _typing

from unistore._url import StoreURL
from unistore.errors import (
    AuthenticationError,
    CapacityError,
    ConfigurationError,
    ConflictError,
    ContentionError,
    CorruptionError,
    DriverError,
    EventLoopError,
    InvalidOptionError,
    InvalidURLError,
    NotSupportedError,
    SessionConflictError,
    SessionError,
    SessionExistsError,
    SessionNotFoundError,
    SlotKindError,
    StoreClosedError,
    StoreNotFoundError,
    StoreTimeoutError,
    StoreUnavailableError,
    TransactionConflictError,
    UnistoreError,
    UnknownSchemeError,
    ValidationError,
)
from unistore.protocols import (
    Capability,
    Driver,
    FullStore,
    Option,
    SessionPage,
    SessionRecord,
    SlotKind,
    Store,
)

if _typing.TYPE_CHECKING:
    from unistore._capabilities import require
    from unistore._copy import CopyProgress, CopyReport, copy_store
    from unistore._namespaced._cas import CasOps, CasSnapshot
    from unistore._namespaced._handle import Namespace
    from unistore._namespaced._store import NamespacedStore
    from unistore._registry import (
        available_schemes,
        connect,
        get_driver,
        hookimpl,
        register,
        unregister,
    )
    from unistore._sessions import (
        ChildSpawnedEvent,
        Conversation,
        LifecycleErrorEvent,
        LoadEvent,
        MessageCompleteEvent,
        MessageDraft,
        MessagesChangedEvent,
        SaveEvent,
        SessionManager,
    )
    from unistore._sessions._kv import KVSessionDocuments, KVSessionDocumentsMixin
    from unistore.sdk import StoreBase as BaseStore

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "BaseStore",
    "Capability",
    "CapacityError",
    "CasOps",
    "CasSnapshot",
    "ChildSpawnedEvent",
    "ConfigurationError",
    "ConflictError",
    "ContentionError",
    "Conversation",
    "CopyProgress",
    "CopyReport",
    "CorruptionError",
    "Driver",
    "DriverError",
    "EventLoopError",
    "FullStore",
    "InvalidOptionError",
    "InvalidURLError",
    "KVSessionDocuments",
    "KVSessionDocumentsMixin",
    "LifecycleErrorEvent",
    "LoadEvent",
    "MessageCompleteEvent",
    "MessageDraft",
    "MessagesChangedEvent",
    "Namespace",
    "NamespacedStore",
    "NotSupportedError",
    "Option",
    "SaveEvent",
    "SessionConflictError",
    "SessionError",
    "SessionExistsError",
    "SessionManager",
    "SessionNotFoundError",
    "SessionPage",
    "SessionRecord",
    "SlotKind",
    "SlotKindError",
    "Store",
    "StoreClosedError",
    "StoreNotFoundError",
    "StoreTimeoutError",
    "StoreURL",
    "StoreUnavailableError",
    "TransactionConflictError",
    "UnistoreError",
    "UnknownSchemeError",
    "ValidationError",
    "__version__",
    "available_schemes",
    "connect",
    "copy_store",
    "get_driver",
    "hookimpl",
    "register",
    "require",
    "unregister",
]

#: Public names imported on first use, with their home module. Keeping them
#: out of the eager imports keeps ``import unistore`` cheap: the registry pulls
#: in pluggy and importlib.metadata, the products pull in asyncio.
_LAZY: dict[str, str] = {
    # The pre-SDK name of the store base class, kept as an alias.
    "BaseStore": "unistore.sdk:StoreBase",
    "require": "unistore._capabilities",
    **dict.fromkeys(
        ["available_schemes", "connect", "get_driver", "hookimpl", "register", "unregister"],
        "unistore._registry",
    ),
    **dict.fromkeys(["CasOps", "CasSnapshot"], "unistore._namespaced._cas"),
    "NamespacedStore": "unistore._namespaced._store",
    "Namespace": "unistore._namespaced._handle",
    **dict.fromkeys(
        [
            "ChildSpawnedEvent",
            "Conversation",
            "LifecycleErrorEvent",
            "LoadEvent",
            "MessageCompleteEvent",
            "MessageDraft",
            "MessagesChangedEvent",
            "SaveEvent",
            "SessionManager",
        ],
        "unistore._sessions",
    ),
    "KVSessionDocuments": "unistore._sessions._kv",
    "KVSessionDocumentsMixin": "unistore._sessions._kv",
    **dict.fromkeys(["CopyProgress", "CopyReport", "copy_store"], "unistore._copy"),
}


def __getattr__(name: str) -> _typing.Any:
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module 'unistore' has no attribute {name!r}")
    import importlib

    module, _, attribute = home.partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # The public names only: ``__all__`` (lazy names included, before their
    # first use) and the public submodules imported so far (``errors``,
    # ``protocols``, ``testing`` ...). Helpers such as ``_typing`` stay out.
    loaded = {
        name
        for name, value in globals().items()
        if not name.startswith("_") and isinstance(value, _types.ModuleType)
    }
    return sorted(set(__all__) | loaded)
