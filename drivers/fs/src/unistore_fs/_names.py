"""Reversible, file-system-safe names for namespaces, slots and session ids.

An id becomes one path component that is safe on every common file system:

* ``a``-``z``, ``0``-``9``, ``-`` and ``_`` stay as they are;
* an upper-case letter becomes ``+`` plus the lower-case letter (``User`` is
  ``+user``), so two ids never differ only by case on disk;
* every other character becomes ``%xx`` per UTF-8 byte, lower-case hex (so no
  separator, dot, space, control character or non-ASCII text reaches the disk,
  and Unicode normalisation by the file system cannot merge two ids);
* the empty id is ``+`` and the Windows device names (``con``, ``nul``, ...)
  get their first letter escaped;
* an encoding longer than :data:`MAX_NAME` keeps a readable prefix and appends
  ``~`` plus a SHA-256 digest of the id. Such names are not reversible from the
  name alone, which is why every file also records the full id inside.

A scope's folder name (:func:`scope_dir_name`) is the same encoding, except
that a long one ends in the *whole* SHA-256 digest (64 hex digits): scopes
separate tenants, so two of them must not share a folder even if someone
searches for a collision; the folder also records its scope and every use
checks it.
"""

from __future__ import annotations

import hashlib
from typing import Final

__all__ = ["MAX_NAME", "decode_name", "encode_name", "scope_dir_name"]

#: Longest encoded name; leaves room for suffixes within a 255-byte NAME_MAX.
MAX_NAME: Final = 120
_READABLE: Final = 80
_DIGEST: Final = 32
#: Readable head of a hashed scope folder name (plus ``~`` and 64 hex digits).
_SCOPE_READABLE: Final = 56

_PLAIN: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
_RESERVED: Final = frozenset(
    {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(10)} | {f"lpt{i}" for i in range(10)}
)


def _escape(ch: str) -> str:
    if ch in _PLAIN:
        return ch
    if "A" <= ch <= "Z":
        return "+" + ch.lower()
    return "".join(f"%{byte:02x}" for byte in ch.encode("utf-8", "surrogatepass"))


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


def _hashed(parts: list[str], readable_size: int, digest: str) -> str:
    readable: list[str] = []
    size = 0
    for part in parts:
        if size + len(part) > readable_size:
            break
        readable.append(part)
        size += len(part)
    return "".join(readable) + "~" + digest


def _encode(name: str) -> tuple[str, list[str]]:
    parts = [_escape(ch) for ch in name]
    text = "".join(parts)
    if text in _RESERVED:
        text = f"%{ord(text[0]):02x}{text[1:]}"
    return text, parts


def encode_name(name: str) -> str:
    """Return the file-system name for an id (bounded, safe, case-distinct)."""
    if not name:
        return "+"
    text, parts = _encode(name)
    if len(text) <= MAX_NAME:
        return text
    return _hashed(parts, _READABLE, _digest(name)[:_DIGEST])


def scope_dir_name(scope: str) -> str:
    """Return the folder name of a (non-empty) scope: safe, bounded, collision-resistant.

    A short scope's name is reversible and never holds ``~``; a long one's is
    its readable head, ``~`` and the full SHA-256 of the scope, so the two
    kinds never meet.
    """
    text, parts = _encode(scope)
    if len(text) <= MAX_NAME:
        return text
    return _hashed(parts, _SCOPE_READABLE, _digest(scope))


def decode_name(text: str) -> str | None:
    """Return the id a name encodes, or ``None`` for a hashed (long) name.

    Raises:
        ValueError: ``text`` is not a name made by :func:`encode_name`.
    """
    if "~" in text:
        return None
    if text == "+":
        return ""
    out: list[str] = []
    pending = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%":
            pending.append(int(text[i + 1 : i + 3], 16))
            i += 3
            continue
        if pending:
            out.append(pending.decode("utf-8", "surrogatepass"))
            pending.clear()
        if ch == "+":
            out.append(text[i + 1].upper())
            i += 2
        elif ch in _PLAIN:
            out.append(ch)
            i += 1
        else:
            raise ValueError(f"not an encoded name: {text[:40]!r}")
    if pending:
        out.append(pending.decode("utf-8", "surrogatepass"))
    return "".join(out)
