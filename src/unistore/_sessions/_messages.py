"""Messages of a conversation: validation, their JSON text, and read-only live views."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar, overload

from unistore.errors import ValidationError

__all__ = ["ListView", "encode_message"]

_T = TypeVar("_T")


def encode_message(message: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """Validate a message; return a detached JSON-pure copy and its JSON text.

    Raises:
        ValidationError: Not a mapping, no ``role`` string, or not JSON.
    """
    if not isinstance(message, Mapping):
        raise ValidationError(f"a message must be a mapping, got {type(message).__name__}")
    role = message.get("role")
    if not isinstance(role, str) or not role:
        raise ValidationError("a message needs a non-empty 'role' string")
    try:
        text = json.dumps(dict(message), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"a message must be JSON-compatible: {exc}") from None
    copy: dict[str, Any] = json.loads(text)
    return copy, text


class ListView(Sequence[_T]):
    """A live, read-only view of a list (a slice is a tuple copy).

    Args:
        items: The list viewed; later changes to it show through.
        what: Names the items in the ``repr``.
    """

    __slots__ = ("_items", "_what")

    def __init__(self, items: list[_T], what: str) -> None:
        self._items = items
        self._what = what

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> _T: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[_T]: ...

    def __getitem__(self, index: int | slice) -> _T | Sequence[_T]:
        if isinstance(index, slice):
            return tuple(self._items[index])
        return self._items[index]

    def __iter__(self) -> Iterator[_T]:
        return iter(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(other) == len(self._items) and all(
                a == b for a, b in zip(self._items, other, strict=True)
            )
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{self._what}: {len(self._items)}>"
