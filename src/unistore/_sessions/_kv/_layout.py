"""How generic session documents are named on hash slots.

Everything lives in one namespace so that every mutation, however many sessions
it touches (a delete that materialises forks), is one optimistic transaction.
Session ids never appear raw in slot or field names: they are base64url-encoded
(alphabet ``A-Za-z0-9_-``), so any id is safe on any driver and the ``/``
separators below are unambiguous.

Slots (``<e>`` is an encoded id, ``<c>``/``<t>``/``<l>`` decimal numbers)::

    meta/<e>            the session: label, lineage, storage pointers, length, ...
    msgs/<e>/<c>        messages of absolute index c*chunk .. c*chunk+chunk-1 that the
                        session stores itself; field = str(absolute index)
    forks/<e>           sessions whose base is this one; field = <e of fork>,
                        value = the fork's base point
    index               listing directory: one field per non-empty <t>
    index/<t>           one field per non-empty leaf <l> of that period
    index/<t>/<l>       listing entries; field = "<updated:020d>/<e>", value = record JSON
"""

from __future__ import annotations

import base64
import time
from typing import Final

from unistore.errors import CorruptionError

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_NAMESPACE",
    "DEFAULT_SLOT_TTL",
    "INDEX_SLOT",
    "LEAF_SHIFT",
    "TOP_SHIFT",
    "chunk_slot",
    "decode_id",
    "encode_id",
    "entry_field",
    "forks_slot",
    "leaf_slot",
    "meta_slot",
    "mid_slot",
    "now_micros",
    "parse_entry_field",
]

DEFAULT_NAMESPACE: Final = "unistore.sessions"

#: 100 years. The KV contract has no write without expiry; sessions must not expire.
DEFAULT_SLOT_TTL: Final = 100 * 365.25 * 24 * 3600.0

#: Messages per chunk slot: bounds what one append rewrites on drivers that store a
#: hash as one blob, and what reading the last few messages over-fetches.
DEFAULT_CHUNK_SIZE: Final = 64

#: A leaf of the listing index covers 2**30 us (about 18 minutes), a period 2**40 us
#: (about 12.7 days, so at most 1024 leaves per period and ~29 periods a year).
LEAF_SHIFT: Final = 30
TOP_SHIFT: Final = 40

INDEX_SLOT: Final = "index"


def now_micros() -> int:
    """Return the current UTC time in microseconds since the epoch."""
    return time.time_ns() // 1000


def encode_id(session_id: str) -> str:
    """Encode a session id for use inside slot and field names."""
    raw = session_id.encode("utf-8", "surrogatepass")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_id(encoded: str) -> str:
    """Invert :func:`encode_id`."""
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        return raw.decode("utf-8", "surrogatepass")
    except (ValueError, UnicodeError) as exc:
        raise CorruptionError("a session index entry has an unreadable id") from exc


def meta_slot(encoded: str) -> str:
    """Return the slot of a session's record and storage pointers."""
    return f"meta/{encoded}"


def chunk_slot(encoded: str, chunk: int) -> str:
    """Return the slot holding chunk ``chunk`` of a session's own messages."""
    return f"msgs/{encoded}/{chunk}"


def forks_slot(encoded: str) -> str:
    """Return the slot listing the forks whose base is the session."""
    return f"forks/{encoded}"


def mid_slot(top: int) -> str:
    """Return the index slot listing the non-empty leaves of period ``top``."""
    return f"{INDEX_SLOT}/{top}"


def leaf_slot(top: int, leaf: int) -> str:
    """Return the index slot holding the entries of ``leaf``."""
    return f"{INDEX_SLOT}/{top}/{leaf}"


def entry_field(updated: int, encoded: str) -> str:
    """Return the listing entry name; sorting names sorts by (updated, id bytes)."""
    return f"{updated:020d}/{encoded}"


def parse_entry_field(name: str) -> tuple[int, str]:
    """Return ``(updated micros, session id)`` of a listing entry name."""
    micros, sep, encoded = name.partition("/")
    if not sep or not micros.isdigit():
        raise CorruptionError("a session index entry has an unreadable name")
    return int(micros), decode_id(encoded)
