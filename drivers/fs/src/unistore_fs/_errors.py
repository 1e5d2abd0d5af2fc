"""The one place where operating-system errors become unistore errors."""

from __future__ import annotations

import errno

from unistore.errors import CapacityError, DriverError, StoreUnavailableError

__all__ = ["map_os_error"]

_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_DENIED = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
_HANDLES = frozenset({errno.EMFILE, errno.ENFILE})


def map_os_error(exc: OSError, where: str) -> DriverError:
    """Translate an ``OSError`` raised under the store root.

    Args:
        exc: The error.
        where: The store's redacted URL, for the message.
    """
    reason = exc.strerror or type(exc).__name__
    if exc.errno in _FULL:
        return CapacityError(f"store {where} is out of disk space or quota ({reason})")
    if exc.errno in _HANDLES:
        return CapacityError(f"store {where} ran out of file descriptors ({reason})")
    if exc.errno in _DENIED:
        return StoreUnavailableError(f"store {where} cannot write its folder ({reason})")
    if exc.errno == errno.ENOENT:
        return StoreUnavailableError(
            f"store {where}: a store folder disappeared while in use ({reason})"
        )
    return StoreUnavailableError(f"store {where}: file system error ({reason})")
