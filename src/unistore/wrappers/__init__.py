"""Stores that wrap a store: same contract, values transformed on the way through.

* :class:`Compressed`: compresses slot values, hash values, session messages
  and metadata values (zstd or zlib), with an uncompressed fallback.
* :class:`Encrypted`: encrypts them (AES-GCM, key rotation); needs
  ``unistore[encryption]``.
* :func:`rekey`: re-encrypts what a store holds under the current key
  (also ``unistore rekey``).

Compose them in code (``Compressed(Encrypted(store, ...))``) or through
``unistore.connect(url, wrappers=[Compressed.using(), Encrypted.using(...)])``;
the list reads in the order a written value goes through them. Write your own
with :class:`unistore.sdk.StoreWrapper`.

``Encrypted`` is imported on first use, so ``cryptography`` is imported only
by programs that encrypt; ``zstandard`` only when a zstd ``Compressed`` is made.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from unistore.wrappers._compressed import Compressed

if TYPE_CHECKING:
    from unistore.wrappers._encrypted import Encrypted
    from unistore.wrappers._rekey import RekeyProgress, RekeyReport, rekey

__all__ = ["Compressed", "Encrypted", "RekeyProgress", "RekeyReport", "rekey"]

# Public name -> the module that defines it, imported on first use.
_LAZY = {
    "Encrypted": "unistore.wrappers._encrypted",
    "rekey": "unistore.wrappers._rekey",
    "RekeyReport": "unistore.wrappers._rekey",
    "RekeyProgress": "unistore.wrappers._rekey",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
