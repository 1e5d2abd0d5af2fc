"""Namespace tuples as store namespaces, and the matching rules of LangGraph's store.

A tuple becomes one string in which every label is escaped (``%``, ``:`` and
``/`` as ``%25``, ``%3A``, ``%2F``) and ends with ``/``. So no two tuples share
an encoding, a tuple's encoding starts with its prefix's encoding exactly when
the tuple starts with the prefix, and the encoding holds no ``:``, which keeps
two store prefixes apart even when one extends the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from langgraph.store.base import InvalidNamespaceError, MatchCondition

from unistore.errors import ValidationError


class NamespaceError(ValidationError, InvalidNamespaceError):
    """A bad namespace: both unistore's ``ValidationError`` and LangGraph's error."""


def encode(namespace: Sequence[str]) -> str:
    """The collision-free text of a namespace tuple (or of a tuple prefix)."""
    return "".join(
        label.replace("%", "%25").replace(":", "%3A").replace("/", "%2F") + "/"
        for label in namespace
    )


def decode(text: str) -> tuple[str, ...]:
    """Invert :func:`encode`; every ``%`` came from it, so ``unquote`` is exact."""
    return tuple(unquote(label) for label in text.split("/")[:-1])


def literal_prefix(path: Sequence[str]) -> tuple[str, ...]:
    """The labels of a prefix condition before its first ``*`` wildcard."""
    head: list[str] = []
    for label in path:
        if label == "*":
            break
        head.append(label)
    return tuple(head)


def condition_matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    """Whether a namespace passes a prefix or suffix condition (``*``: any label)."""
    path = tuple(condition.path)
    if len(path) > len(namespace):
        return False
    if condition.match_type == "prefix":
        window = namespace[: len(path)]
    elif condition.match_type == "suffix":
        window = namespace[len(namespace) - len(path) :]
    else:
        raise ValidationError(
            f"UnistoreStore: unknown match type {condition.match_type!r}; use 'prefix' or 'suffix'"[
                :200
            ]
        )
    return all(want in ("*", have) for want, have in zip(path, window, strict=True))


def value_matches(value: Any, wanted: Any) -> bool:
    """LangGraph's filter rule for one field: equality, nested dicts, ``$`` operators."""
    if isinstance(wanted, dict):
        if any(key.startswith("$") for key in wanted):
            return all(_operator(value, op, operand) for op, operand in wanted.items())
        if not isinstance(value, dict):
            return False
        return all(value_matches(value.get(key), sub) for key, sub in wanted.items())
    if isinstance(wanted, list | tuple):
        return (
            isinstance(value, list | tuple)
            and len(value) == len(wanted)
            and all(value_matches(v, w) for v, w in zip(value, wanted, strict=True))
        )
    return bool(value == wanted)


def item_matches(value: dict[str, Any], filter: dict[str, Any] | None) -> bool:
    """Whether a stored value passes a search filter (every field must)."""
    if not filter:
        return True
    return all(value_matches(value.get(key), wanted) for key, wanted in filter.items())


def _operator(value: Any, op: str, operand: Any) -> bool:
    if op == "$eq":
        return bool(value == operand)
    if op == "$ne":
        return bool(value != operand)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        try:
            left, right = float(value), float(operand)
        except (TypeError, ValueError):
            # A missing or non-numeric field is not in a numeric range.
            return False
        if op == "$gt":
            return left > right
        if op == "$gte":
            return left >= right
        if op == "$lt":
            return left < right
        return left <= right
    raise ValidationError(f"UnistoreStore: unsupported filter operator {op!r}"[:200])
