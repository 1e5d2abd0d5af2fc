r"""The ciphertext format of :class:`~unistore.wrappers.Encrypted`: header, AES-GCM, context.

A ciphertext is, byte by byte::

    ff 55 45          magic (b"\xffUE"; 0xff starts no UTF-8 text)
    01                format version
    NN                length of the key id (1 to 32)
    ...               the key id, ASCII
    ...               a random 12-byte nonce
    ...               the AES-GCM ciphertext of the value, then its 16-byte tag

The associated data is the header itself followed by the *context*: the kind
of value (slot value, hash field, session message, session metadata) and
where it belongs (namespace and slot, the field, the scope, the metadata
key), each part length-prefixed so no two contexts share an encoding. The
context is not stored: it is rebuilt from where a value is read, so a
ciphertext read anywhere else than where it was written fails to decrypt.

Session messages and metadata values are JSON, so there the ciphertext is
carried as URL-safe base64 without padding (a message as a JSON string
literal); that text always starts with :data:`TEXT_MARK`, the magic's base64.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from typing import Final

from unistore.errors import ConfigurationError, CorruptionError
from unistore.wrappers._enc_keys import KeyRing

__all__ = [
    "FIELD",
    "MAGIC",
    "MESSAGE",
    "METADATA",
    "TEXT_MARK",
    "VALUE",
    "Codec",
    "context",
    "from_text",
    "key_id_of",
    "to_text",
]

MAGIC: Final = b"\xffUE"
VERSION: Final = 1
NONCE_SIZE: Final = 12
TAG_SIZE: Final = 16
#: How every text form of a ciphertext starts: the magic in URL-safe base64.
TEXT_MARK: Final = base64.urlsafe_b64encode(MAGIC).decode("ascii")

# The kinds bound into the context: a field's ciphertext is no slot value.
VALUE: Final = b"value"
FIELD: Final = b"field"
MESSAGE: Final = b"message"
METADATA: Final = b"metadata"

_DOMAIN: Final = b"unistore.Encrypted/1"


def context(kind: bytes, *parts: str | None) -> bytes:
    """The associated data (after the header) for a value of ``kind`` at ``parts``.

    ``None`` (the default scope) and every string (even ``""``) encode apart.
    """
    out = bytearray(_DOMAIN)
    out += len(kind).to_bytes(1, "big") + kind
    for part in parts:
        if part is None:
            out += b"\x00"
            continue
        data = part.encode("utf-8", "surrogatepass")
        out += b"\x01" + len(data).to_bytes(4, "big") + data
    return bytes(out)


def _split(blob: bytes) -> tuple[str, int] | None:
    """Return ``(key id, header length)`` of a ciphertext, ``None`` if it has no magic.

    Raises:
        CorruptionError: The magic is there but the header is not whole or valid.
    """
    if not blob.startswith(MAGIC):
        return None
    if len(blob) < len(MAGIC) + 2:
        raise CorruptionError("encrypted value truncated inside its header")
    version = blob[len(MAGIC)]
    if version != VERSION:
        raise CorruptionError(
            f"encrypted value has format version {version}; this unistore reads version {VERSION}"
        )
    size = blob[len(MAGIC) + 1]
    start = len(MAGIC) + 2
    end = start + size
    raw_id = blob[start:end]
    if not 1 <= size <= 32 or len(raw_id) != size:
        raise CorruptionError("encrypted value has a damaged key id in its header")
    try:
        key_id = raw_id.decode("ascii")
    except UnicodeDecodeError:
        raise CorruptionError("encrypted value has a damaged key id in its header") from None
    if not key_id.isprintable():
        raise CorruptionError("encrypted value has a damaged key id in its header")
    header = end + NONCE_SIZE
    if len(blob) < header + TAG_SIZE:
        raise CorruptionError(f"encrypted value under key {key_id!r} is truncated")
    return key_id, header


def key_id_of(blob: bytes) -> str | None:
    """The id of the key a ciphertext was made with, ``None`` for a value without header.

    Raises:
        CorruptionError: The header is damaged.
    """
    split = _split(blob)
    return None if split is None else split[0]


def to_text(blob: bytes) -> str:
    """A ciphertext as text (URL-safe base64, no padding), for JSON."""
    return base64.urlsafe_b64encode(blob).rstrip(b"=").decode("ascii")


def from_text(text: str) -> bytes | None:
    """The ciphertext a text carries, or ``None`` when it is no ciphertext's text.

    Raises:
        CorruptionError: It starts like one but is not valid base64.
    """
    if not text.startswith(TEXT_MARK):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise CorruptionError("encrypted text is not valid base64 (damaged)") from None


class Codec:
    """Seals and opens values with a :class:`KeyRing`.

    Args:
        ring: The keys; its current key seals.
    """

    __slots__ = ("_header", "_invalid_tag", "_ring", "_sealer")

    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring
        key_id = ring.current.encode("ascii")
        self._header = MAGIC + bytes((VERSION, len(key_id))) + key_id
        sealer = ring.cipher(ring.current)
        assert sealer is not None  # KeyRing checked it
        self._sealer = sealer
        from cryptography.exceptions import InvalidTag

        self._invalid_tag = InvalidTag

    @property
    def ring(self) -> KeyRing:
        """The key ring."""
        return self._ring

    def seal(self, plaintext: bytes, where: bytes) -> bytes:
        """Encrypt ``plaintext`` under the current key, bound to the context ``where``."""
        header = self._header + os.urandom(NONCE_SIZE)
        return header + self._sealer.encrypt(header[-NONCE_SIZE:], plaintext, header + where)

    def open(self, blob: bytes, where: bytes, describe: Callable[[], str]) -> bytes | None:
        """Decrypt a ciphertext read at the context ``where``.

        Args:
            blob: What was stored.
            where: The context of the place it was read from.
            describe: Names that place for an error ("slot 's' of namespace 'n'").

        Returns:
            The plaintext, or ``None`` when ``blob`` has no header (a plain value).

        Raises:
            CorruptionError: Damaged, tampered with, or written at another place.
            ConfigurationError: Made with a key id the ring does not hold.
        """
        split = _split(blob)
        if split is None:
            return None
        key_id, end = split
        cipher = self._ring.cipher(key_id)
        if cipher is None:
            raise ConfigurationError(
                f"cannot decrypt {describe()}: it was encrypted with key id {key_id!r}, "
                f"which is not among the keys ({', '.join(self._ring.key_ids)})"
            )
        try:
            return cipher.decrypt(blob[end - NONCE_SIZE : end], blob[end:], blob[:end] + where)
        except self._invalid_tag:
            raise CorruptionError(
                f"cannot decrypt {describe()} (key id {key_id!r}): it fails authentication, "
                "so it was damaged, tampered with, or moved from another place"
            ) from None
