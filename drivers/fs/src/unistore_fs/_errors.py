"""The one table that turns operating-system errors into unistore errors.

Every primitive runs under the SDK's mapping of this table, so an ``OSError``
raised anywhere below the store root (a full disk, a read-only mount, a folder
removed by hand) reaches the caller as one unistore error naming the store's
URL and the system's reason, never a path inside the store or a value.
"""

from __future__ import annotations

import errno
from typing import Final

from unistore.errors import CapacityError, StoreUnavailableError
from unistore.sdk import ErrorRule, ErrorTable

__all__ = ["ERRORS"]

_FULL: Final = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_HANDLES: Final = frozenset({errno.EMFILE, errno.ENFILE})
_DENIED: Final = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or type(exc).__name__


def _errno(exc: BaseException) -> int | None:
    return exc.errno if isinstance(exc, OSError) else None


ERRORS: Final = ErrorTable(
    ErrorRule(
        OSError,
        CapacityError,
        lambda exc: f"out of disk space or quota ({_reason(exc)})",
        when=lambda exc: _errno(exc) in _FULL,
    ),
    ErrorRule(
        OSError,
        CapacityError,
        lambda exc: f"ran out of file descriptors ({_reason(exc)})",
        when=lambda exc: _errno(exc) in _HANDLES,
    ),
    ErrorRule(
        OSError,
        StoreUnavailableError,
        lambda exc: f"cannot write its folder ({_reason(exc)})",
        when=lambda exc: _errno(exc) in _DENIED,
    ),
    ErrorRule(
        OSError,
        StoreUnavailableError,
        lambda exc: f"a store folder disappeared while in use ({_reason(exc)})",
        when=lambda exc: _errno(exc) == errno.ENOENT,
    ),
    fallback=ErrorRule(
        OSError,
        StoreUnavailableError,
        lambda exc: f"file system error ({_reason(exc)})",
    ),
)
"""OSError families and the unistore error each becomes (first match wins)."""
