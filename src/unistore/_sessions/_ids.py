"""Time-sortable session ids: a 48-bit millisecond clock and 80 random bits.

The layout is the one of ULIDs: 26 characters of Crockford base32, so ids sort
as text in creation order. Within one process they are strictly increasing even
when several are made in the same millisecond or the wall clock steps back.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["new_session_id", "session_id_time_ms"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80
_RANDOM_LIMIT = 1 << _RANDOM_BITS
_LENGTH = 26

_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def _random(bits: int) -> int:
    # os.urandom rather than `secrets`, whose import pulls in hashlib and random.
    return int.from_bytes(os.urandom((bits + 7) // 8), "big") >> (-bits % 8)


def _encode(value: int) -> str:
    chars = []
    for _ in range(_LENGTH):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_session_id() -> str:
    """Return a new id, greater than every id made before in this process."""
    global _last_ms, _last_random
    with _lock:
        now = time.time_ns() // 1_000_000
        if now > _last_ms:
            _last_ms = now
            _last_random = _random(_RANDOM_BITS)
        else:
            # Same millisecond (or a clock step back): count up from the last id.
            _last_random += 1
            if _last_random >= _RANDOM_LIMIT:
                _last_ms += 1
                _last_random = _random(_RANDOM_BITS - 1)
        return _encode((_last_ms << _RANDOM_BITS) | _last_random)


def session_id_time_ms(session_id: str) -> int | None:
    """Return the millisecond timestamp of an id made here, or ``None``."""
    if len(session_id) != _LENGTH:
        return None
    value = 0
    for char in session_id:
        digit = _ALPHABET.find(char)
        if digit < 0:
            return None
        value = (value << 5) | digit
    return value >> _RANDOM_BITS
