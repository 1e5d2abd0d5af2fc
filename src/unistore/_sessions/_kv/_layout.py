"""How generic session documents are named on hash slots.

Everything lives in one namespace so that every mutation, however many sessions
it touches (a delete that materialises forks), is one optimistic transaction.
Session ids and scopes never appear raw in slot or field names: they are
base64url-encoded (alphabet ``A-Za-z0-9_-``), so any id is safe on any driver,
the ``/`` separators below are unambiguous, and no name holds ``:``, ``{``,
``}``, ``*`` or NUL whatever the caller's text.

Slots of the default scope (``<e>`` is an encoded id, ``<c>``/``<t>``/``<l>``
decimal numbers)::

    meta/<e>            the session: label, lineage, storage pointers, length, ...
    msgs/<e>/<c>        messages of absolute index c*chunk .. c*chunk+chunk-1 that the
                        session stores itself; field = str(absolute index)
    forks/<e>           sessions whose base is this one; field = <e of fork>,
                        value = the fork's base point
    index               listing directory: one field per non-empty <t>
    index/<t>           one field per non-empty leaf <l> of that period
    index/<t>/<l>       listing entries; field = "<updated:020d>/<e>", value = record JSON

The slots of another scope are the same names behind ``scope/<s>/``, ``<s>``
being the encoded scope; ``scopes`` names those scopes (field = ``<s>``). No
default-scope name starts with ``scope/`` and an encoded scope holds no ``/``,
so two scopes never share a slot. The default scope keeps the unprefixed names
of the first layout, so data written before scopes existed stays where it is.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Final

from unistore.errors import CorruptionError

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_NAMESPACE",
    "LEAF_SHIFT",
    "LEGACY_SLOT_TTL",
    "SCOPES_SLOT",
    "TOP_SHIFT",
    "Names",
    "decode_id",
    "encode_id",
    "entry_field",
    "parse_entry_field",
]

DEFAULT_NAMESPACE: Final = "unistore.sessions"

#: The expiry the first layout wrote with every slot (100 years), when the KV
#: contract had no write without one. Slots now default to no expiry; data
#: written with this one reads the same.
LEGACY_SLOT_TTL: Final = 100 * 365.25 * 24 * 3600.0

#: Messages per chunk slot: bounds what one append rewrites on drivers that store a
#: hash as one blob, and what reading the last few messages over-fetches.
DEFAULT_CHUNK_SIZE: Final = 64

#: A leaf of the listing index covers 2**30 us (about 18 minutes), a period 2**40 us
#: (about 12.7 days, so at most 1024 leaves per period and ~29 periods a year).
LEAF_SHIFT: Final = 30
TOP_SHIFT: Final = 40

#: The directory of the non-default scopes holding (or having held) sessions.
SCOPES_SLOT: Final = "scopes"

_SCOPED: Final = "scope/"


def _encode(text: str) -> str:
    raw = text.encode("utf-8", "surrogatepass")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode(encoded: str, what: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        return raw.decode("utf-8", "surrogatepass")
    except (ValueError, UnicodeError) as exc:
        raise CorruptionError(f"a session {what} is unreadable") from exc


def encode_id(session_id: str) -> str:
    """Encode a session id for use inside slot and field names."""
    return _encode(session_id)


def decode_id(encoded: str) -> str:
    """Invert :func:`encode_id`."""
    return _decode(encoded, "index entry id")


@dataclass(frozen=True, slots=True)
class Names:
    """The slot names of one scope.

    Attributes:
        scope: The scope (``""``: the default scope).
        prefix: What every slot name of the scope starts with (``""`` for the
            default scope).
        field: The scope's field in :data:`SCOPES_SLOT` (``""`` for the default).
        index: The listing directory of the scope.
    """

    scope: str
    prefix: str
    field: str
    index: str

    @classmethod
    def of(cls, scope: str) -> Names:
        """Return the names of ``scope``."""
        if not scope:
            return cls("", "", "", "index")
        field = _encode(scope)
        prefix = f"{_SCOPED}{field}/"
        return cls(scope, prefix, field, f"{prefix}index")

    @staticmethod
    def scope_of(field: str) -> str:
        """Return the scope a field of :data:`SCOPES_SLOT` names."""
        return _decode(field, "scope")

    def meta(self, encoded: str) -> str:
        """Return the slot of a session's record and storage pointers."""
        return f"{self.prefix}meta/{encoded}"

    def chunk(self, encoded: str, chunk: int) -> str:
        """Return the slot holding chunk ``chunk`` of a session's own messages."""
        return f"{self.prefix}msgs/{encoded}/{chunk}"

    def forks(self, encoded: str) -> str:
        """Return the slot listing the forks whose base is the session."""
        return f"{self.prefix}forks/{encoded}"

    def mid(self, top: int) -> str:
        """Return the index slot listing the non-empty leaves of period ``top``."""
        return f"{self.index}/{top}"

    def leaf(self, top: int, leaf: int) -> str:
        """Return the index slot holding the entries of ``leaf``."""
        return f"{self.index}/{top}/{leaf}"


def entry_field(updated: int, encoded: str) -> str:
    """Return the listing entry name; sorting names sorts by (updated, id bytes)."""
    return f"{updated:020d}/{encoded}"


def parse_entry_field(name: str) -> tuple[int, str]:
    """Return ``(updated micros, session id)`` of a listing entry name."""
    micros, sep, encoded = name.partition("/")
    if not sep or not micros.isdigit():
        raise CorruptionError("a session index entry has an unreadable name")
    return int(micros), decode_id(encoded)
