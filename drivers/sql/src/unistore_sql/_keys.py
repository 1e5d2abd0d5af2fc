"""Identifiers as stored: fixed-size digests for indexes, exact bytes beside them.

Namespaces, slots, hash fields and session ids are arbitrary strings (NUL,
10 KB of text, lone surrogates). PostgreSQL cannot index long values in a
btree (about 2.7 KB per entry) and cannot hold NUL in ``text``, so every id
is keyed by the SHA-256 digest of its UTF-8 bytes and its exact bytes are
stored beside the digest for listing and reading back. Arguments arrive
checked by :mod:`unistore.sdk`; only the encoding lives here.
"""

from __future__ import annotations

import hashlib
import secrets

from unistore.errors import SlotKindError
from unistore.sdk import parse_counter


def encode(text: str) -> bytes:
    """Return the exact bytes stored for an id (lone surrogates survive)."""
    return text.encode("utf-8", "surrogatepass")


def decode(raw: bytes | memoryview) -> str:
    """Invert :func:`encode`."""
    return bytes(raw).decode("utf-8", "surrogatepass")


def digest(text: str) -> bytes:
    """Return the 32-byte key under which an id is indexed."""
    return hashlib.sha256(encode(text)).digest()


def new_token() -> int:
    """Return a fresh random 63-bit write token (slot version, hash generation).

    ``secrets`` reads the OS, so processes forked from one parent do not
    repeat each other's tokens as a copied PRNG state would.
    """
    return secrets.randbits(63)


def as_counter(value: bytes) -> int | None:
    """Return the integer a scalar value spells canonically, else ``None``.

    Such values live in the ``num`` column so that ``incr`` is one arithmetic
    statement; the SDK's rule decides what is canonical, so a value read back
    is byte-for-byte the one written.
    """
    try:
        return parse_counter(value, "")
    except SlotKindError:
        return None


def micros(seconds: float) -> int:
    """Return a clock reading in whole microseconds (session stamps)."""
    return int(seconds * 1_000_000)
