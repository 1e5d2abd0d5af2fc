"""The key ring of :class:`~unistore.wrappers.Encrypted`: checked keys, by id.

Keys are checked once, at construction, and turned into AES-GCM objects at
once: the ring never keeps the raw key bytes, and no error, ``repr`` or log
line shows anything of a key but its id.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from unistore.errors import ConfigurationError, InvalidOptionError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["KEY_ID_MAX", "KeyRing", "check_key_id", "parse_key_lines"]

#: Longest key id: it is written into every ciphertext's header.
KEY_ID_MAX: Final = 32
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,32}")
#: AES-128, AES-192, AES-256.
_KEY_SIZES: Final = (16, 24, 32)
_INSTALL_HINT: Final = 'pip install "unistore[encryption]"'


def check_key_id(key_id: object) -> str:
    """Return ``key_id`` if it is a valid key id, else raise.

    A key id is 1 to 32 characters among ``A-Z a-z 0-9 . _ -``: short enough
    for every header, printable in every log and error.

    Raises:
        InvalidOptionError: Not a valid key id.
    """
    if not isinstance(key_id, str):
        raise InvalidOptionError(f"a key id must be a str, got {type(key_id).__name__}")
    if not _KEY_ID.fullmatch(key_id):
        raise InvalidOptionError(
            f"invalid key id {key_id!r}: use 1 to {KEY_ID_MAX} characters "
            "among letters, digits, '.', '_' and '-'"
        )
    return key_id


def _key_bytes(key_id: str, key: object) -> bytes:
    """The raw bytes of one key, given as bytes or as base64 text."""
    if isinstance(key, bytes | bytearray | memoryview):
        raw = bytes(key)
    elif isinstance(key, str):
        try:
            # Either alphabet: keys pasted from `openssl rand -base64` or urlsafe tools.
            text = key.strip().replace("-", "+").replace("_", "/")
            raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidOptionError(
                f"key {key_id!r} is not valid base64 text (give bytes, or base64 of "
                "16, 24 or 32 bytes)"
            ) from None
    else:
        raise InvalidOptionError(
            f"key {key_id!r} must be bytes or base64 text, got {type(key).__name__}"
        )
    if len(raw) not in _KEY_SIZES:
        raise InvalidOptionError(
            f"key {key_id!r} has {len(raw)} bytes; AES-GCM needs 16, 24 or 32 "
            "(128, 192 or 256 bits)"
        )
    return raw


def _aesgcm_class() -> type[AESGCM]:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        raise ConfigurationError(
            f"encryption needs the cryptography package: {_INSTALL_HINT}"
        ) from None
    return AESGCM


class KeyRing:
    """The keys an :class:`~unistore.wrappers.Encrypted` decrypts with, and the current one.

    Args:
        keys: Key id -> key (16, 24 or 32 bytes, or their base64 text).
        current: The id of the key new values are encrypted with.

    Raises:
        InvalidOptionError: No keys, a bad key id, a key of the wrong size or
            type, or ``current`` not among the keys.
        ConfigurationError: The ``cryptography`` package is not installed.
    """

    __slots__ = ("_ciphers", "current")

    def __init__(self, keys: Mapping[str, bytes | str], current: str) -> None:
        if not isinstance(keys, Mapping) or not keys:
            raise InvalidOptionError("keys must be a non-empty mapping of key id -> key")
        aesgcm = _aesgcm_class()
        ciphers: dict[str, AESGCM] = {}
        for key_id, key in keys.items():
            check_key_id(key_id)
            ciphers[key_id] = aesgcm(_key_bytes(key_id, key))
        check_key_id(current)
        if current not in ciphers:
            raise InvalidOptionError(
                f"current key {current!r} is not among the keys ({', '.join(sorted(ciphers))})"
            )
        self._ciphers = ciphers
        #: The id of the key that encrypts.
        self.current = current

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of every key, sorted."""
        return tuple(sorted(self._ciphers))

    def cipher(self, key_id: str) -> AESGCM | None:
        """The AES-GCM object of ``key_id``, or ``None`` when the ring lacks it."""
        return self._ciphers.get(key_id)

    def __repr__(self) -> str:
        return f"KeyRing(key_ids={list(self.key_ids)!r}, current={self.current!r})"


def parse_key_lines(text: str, *, source: str) -> dict[str, str]:
    """Parse ``id=base64key`` lines (blank lines and ``#`` comments skipped).

    Args:
        text: The lines.
        source: Where they come from, for errors (a file name, a variable).

    Returns:
        Key id -> base64 text, checked by :class:`KeyRing` when it is built.

    Raises:
        InvalidOptionError: A line without ``=``, a bad or repeated key id.
            The message gives the line number, never the line.
    """
    keys: dict[str, str] = {}
    for number, line in enumerate(text.replace(";", "\n").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key_id, sep, key = line.partition("=")
        key_id = key_id.strip()
        if not sep or not key.strip():
            raise InvalidOptionError(f"{source}, entry {number}: expected id=base64key")
        if not _KEY_ID.fullmatch(key_id):
            # Not echoed: a malformed line may be a key pasted without its id.
            raise InvalidOptionError(
                f"{source}, entry {number}: invalid key id (use 1 to {KEY_ID_MAX} "
                "characters among letters, digits, '.', '_' and '-')"
            )
        if key_id in keys:
            raise InvalidOptionError(f"{source}, entry {number}: key id {key_id!r} given twice")
        keys[key_id] = key.strip()
    if not keys:
        raise InvalidOptionError(f"{source} holds no keys (expected id=base64key lines)")
    return keys
