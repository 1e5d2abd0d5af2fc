"""Channel versions: strings that sort in the order they were made."""

from __future__ import annotations

import random

from unistore.errors import ValidationError


def next_version(current: str | int | float | None) -> str:
    """The version after ``current``.

    A zero-padded counter, so versions compare correctly as strings, then a
    random fraction that keeps two versions made from one value apart (as
    LangGraph's own savers do).
    """
    if current is None:
        number = 0
    elif isinstance(current, bool):
        raise ValidationError("a channel version must be a str, int or None, not a bool")
    elif isinstance(current, int | float):
        number = int(current)
    elif isinstance(current, str):
        head = current.split(".", 1)[0]
        if not head.isdigit():
            raise ValidationError("a channel version must start with its counter")
        number = int(head)
    else:
        raise ValidationError(f"a channel version must be a str, not {type(current).__name__}")
    return f"{number + 1:032}.{random.random():016}"
