"""Session ids: 256 random bits in the cookie, a digest of them in the store.

The cookie carries a token of 32 bytes from :mod:`secrets`, URL-safe base64
without padding (43 characters). Anything else a client sends is not a token
of ours and never reaches the store. The store holds the namespace
``sha256(token)`` instead of the token itself, so that read access to the store
(a backup, a replica, a key listing) does not hand out live session cookies.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Final

TOKEN_BYTES: Final = 32
TOKEN_LENGTH: Final = 43
_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{43}")


def new_token() -> str:
    """Return a fresh session token (43 URL-safe characters, 256 random bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def parse_token(value: object) -> str | None:
    """Return ``value`` if it has the shape of one of our tokens, else ``None``.

    Only the shape is checked here; whether the session exists is the store's
    answer. The length test comes first so that a huge cookie costs nothing.
    """
    if type(value) is not str or len(value) != TOKEN_LENGTH:
        return None
    return value if _TOKEN.fullmatch(value) else None


def namespace_id(token: str) -> str:
    """Return the namespace id of a token: its SHA-256 digest in hex."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()
