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


#: Digests of short ids kept: the same namespaces and slots come back call
#: after call, and a dict lookup costs a fraction of a SHA-256.
_DIGESTS_KEPT = 4096
_DIGEST_CACHED_LENGTH = 256


class _Digests(dict[str, bytes]):
    """Digests by id; a miss computes the digest (and keeps it if the id is short)."""

    def __missing__(self, text: str) -> bytes:
        value = hashlib.sha256(encode(text)).digest()
        if len(text) <= _DIGEST_CACHED_LENGTH:
            if len(self) >= _DIGESTS_KEPT:
                self.clear()
            self[text] = value
        return value


#: Return the 32-byte key under which an id is indexed. The cache's own
#: ``__getitem__``: a hit runs no Python frame at all, and the hottest reads
#: digest two or three ids per call.
digest = _Digests().__getitem__


def session_key(scope: str, session_id: str) -> bytes:
    """Return the 32-byte key of a session: its identity is (scope, id).

    The default scope keeps the digest of the id alone, the key every earlier
    release wrote, so existing sessions read unchanged. Another scope hashes
    ``0xFF``, the scope, ``0x00`` and the id: ``0xFF`` never occurs in the
    encoding of text, so no default-scope id can produce that input, and a
    scope holds no NUL, so the first one ends it and no two (scope, id) pairs
    share one.
    """
    if not scope:
        return digest(session_id)
    return hashlib.sha256(b"\xff" + encode(scope) + b"\x00" + encode(session_id)).digest()


def scope_key(scope: str) -> bytes:
    """Return the indexed key of a scope: empty for the default scope, else its digest."""
    return digest(scope) if scope else b""


def prefix_bounds(prefix: bytes) -> tuple[bytes, bytes | None]:
    """Return ``(low, high)``: exactly the byte strings starting with ``prefix``.

    Every such string is ``>= low`` and ``< high``; ``high`` is ``None`` when
    no upper bound exists (``prefix`` is all ``0xFF`` bytes, which encoded
    text never is). Bytes compare as unsigned values, so this holds for any
    prefix, including one ending in U+10FFFF (``F4 8F BF BF``).
    """
    stem = prefix.rstrip(b"\xff")
    if not stem:
        return prefix, None
    return prefix, stem[:-1] + bytes([stem[-1] + 1])


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
