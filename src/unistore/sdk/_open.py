"""The open mode: whether a store may create what its URL names, or only open it.

``unistore.connect(url, create=False)`` opens a store without creating
anything: no database file, folder, table or schema upgrade. A driver honours
it by declaring :data:`CREATE_OPTION`, passing the option's value to
:class:`~unistore.sdk.StoreBase` and checking :attr:`StoreBase.may_create
<unistore.sdk.StoreBase.may_create>` where it would create something, raising
:func:`store_not_found` when what the URL names is missing. The registry
refuses ``create=False`` for a driver that does not declare the option, so
that no caller gets a store created behind its back.
"""

from __future__ import annotations

from typing import Any

from unistore.errors import StoreNotFoundError
from unistore.protocols import Option

__all__ = ["CREATE_OPTION", "CREATE_OPTION_NAME", "parse_create", "store_not_found"]

#: The option's name, reserved by the registry for the open mode.
CREATE_OPTION_NAME = "create"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def parse_create(value: Any) -> bool:
    """Parse the ``create`` option from URL text (``true``/``false``...) or a ``bool``.

    Raises:
        ValueError: The text is not a boolean word.
        TypeError: A keyword value that is not a ``bool``.
    """
    if isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected a bool, got {type(value).__name__}")
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError("expected true or false")


CREATE_OPTION = Option(
    name=CREATE_OPTION_NAME,
    parse=parse_create,
    default=True,
    doc="create the store (file, folder, tables) when missing and upgrade its schema; "
    "false: open only an existing, current store and create nothing",
    check=parse_create,
)
"""The ``create`` option (the open mode): declare it and pass it to ``StoreBase``."""


def store_not_found(where: str, missing: str) -> StoreNotFoundError:
    """Return the error of a store opened with ``create=False`` that does not exist.

    Every driver words it alike, so that callers (the ``unistore`` command)
    can rely on it.

    Args:
        where: Names the store (``"sqlite store sqlite:///app.db"``), redacted.
        missing: What is missing, in a few words (``"no database file 'app.db'"``).
    """
    return StoreNotFoundError(
        f"{where}: {missing}; nothing was created (the store was opened with create=False)"
    )
