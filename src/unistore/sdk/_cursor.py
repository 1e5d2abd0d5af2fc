"""One codec for listing cursors: opaque, versioned, tamper-evident text.

A cursor carries the position after the last item of a page (for sessions:
the ``updated_at`` stamp and the id). Drivers choose the parts; the codec
makes them URL-safe text and refuses anything it did not make.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Final, overload

from unistore.errors import ValidationError

__all__ = ["decode_cursor", "encode_cursor"]

_VERSION: Final = 1

Part = int | str


def encode_cursor(*parts: Part) -> str:
    """Return the cursor text for ``parts`` (ints and strs, any content)."""
    raw = json.dumps([_VERSION, *parts], separators=(",", ":"), ensure_ascii=True)
    return base64.urlsafe_b64encode(raw.encode("ascii")).decode("ascii").rstrip("=")


@overload
def decode_cursor(cursor: str, first: type[int], second: type[str], /) -> tuple[int, str]: ...


@overload
def decode_cursor(cursor: str, *shape: type[int] | type[str]) -> tuple[Part, ...]: ...


def decode_cursor(cursor: str, *shape: type[int] | type[str]) -> tuple[Part, ...]:
    """Return the parts of a cursor made by :func:`encode_cursor`.

    Args:
        cursor: The text a previous page returned.
        *shape: The type of each expected part, in order.

    Raises:
        ValidationError: The text is not a cursor of that shape.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error, TypeError, AttributeError):
        raise ValidationError("invalid session listing cursor") from None
    if (
        not isinstance(decoded, list)
        or len(decoded) != len(shape) + 1
        or decoded[0] != _VERSION
        or not all(type(part) is kind for part, kind in zip(decoded[1:], shape, strict=True))
    ):
        raise ValidationError("invalid session listing cursor")
    return tuple(decoded[1:])
