"""``Encrypted``: a store wrapper that encrypts values with AES-GCM, with key rotation."""

from __future__ import annotations

import fnmatch
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Final

from unistore.errors import (
    ConflictError,
    ContentionError,
    CorruptionError,
    InvalidOptionError,
    SlotKindError,
    ValidationError,
)
from unistore.protocols import FullStore
from unistore.sdk import StoreWrapper, add_counter, parse_counter, short
from unistore.wrappers._enc_codec import (
    FIELD,
    MESSAGE,
    METADATA,
    TEXT_MARK,
    VALUE,
    Codec,
    context,
    from_text,
    to_text,
)
from unistore.wrappers._enc_keys import KeyRing

__all__ = ["Encrypted"]

#: How often ``incr`` of an encrypted scalar re-reads a slot that keeps changing.
_INCR_ATTEMPTS: Final = 8
_MESSAGE_MARK: Final = '"' + TEXT_MARK


def _where_scope(scope: str | None) -> str:
    return "the default scope" if scope is None else f"scope {short(scope)}"


class Encrypted(StoreWrapper):
    """A store whose values reach the backend encrypted (AES-GCM), with key rotation.

    Slot values, hash field values, session messages and session metadata
    values are encrypted; names, ids, scopes, labels, TTLs and counters stay
    plain (see the encryption guide for what that means). Each ciphertext
    names its key in its header: the ``current`` key encrypts, every key in
    ``keys`` decrypts, so keys rotate without downtime (``unistore rekey``
    then moves old values to the current key).

    Each ciphertext is bound to where it belongs: a slot value to its
    namespace and slot, a field value also to its field, a message to its
    scope, a metadata value to its scope and key. Read anywhere else, it fails
    with :class:`~unistore.errors.CorruptionError`, as a tampered one does.

    Args:
        store: The store to wrap.
        keys: Key id -> key: 16, 24 or 32 bytes (AES-128/192/256), or their
            base64 text. Ids are 1 to 32 characters among letters, digits,
            ``.``, ``_`` and ``-``.
        current: The id of the key that encrypts new values.
        slots: Slot-name patterns (:func:`fnmatch.fnmatchcase`, so
            case-sensitive, ``*``/``?``/``[...]``) limiting encryption to
            matching slots; other slots are stored plain. ``None``: every slot.
            A ciphertext is decrypted wherever it is read, whatever the patterns.
        sessions: Whether session messages and metadata are encrypted
            (``slots`` does not apply to sessions).
        require_encrypted: Refuse (``CorruptionError``) a value without header
            where this wrapper would encrypt, instead of reading it as written
            before encryption was enabled. Counters must then live in slots
            that ``slots`` leaves out.

    Raises:
        InvalidOptionError: A bad key, key id, ``current`` or pattern.
        ConfigurationError: The ``cryptography`` package is missing
            (``pip install "unistore[encryption]"``).

    Example:
        >>> keys = {"k1": key}
        >>> store = Encrypted(connect(url), keys=keys, current="k1")  # doctest: +SKIP
        >>> wrap = Encrypted.using(keys=keys, current="k1")
        >>> store = connect(url, wrappers=[wrap])  # doctest: +SKIP
    """

    # Encrypt digits too: a PIN or a balance is no counter. ``incr`` of an
    # encrypted scalar holding digits is handled by :meth:`incr` instead.
    PLAIN_COUNTERS: ClassVar[bool] = False

    def __init__(
        self,
        store: FullStore,
        keys: Mapping[str, bytes | str],
        current: str,
        *,
        slots: Iterable[str] | None = None,
        sessions: bool = True,
        require_encrypted: bool = False,
    ) -> None:
        codec = Codec(KeyRing(keys, current))
        super().__init__(store)
        self._codec = codec
        self._patterns = _patterns(slots)
        self._match = _matcher(self._patterns)
        self._sessions = bool(sessions)
        self._require = bool(require_encrypted)

    # -- what it shows ------------------------------------------------------------

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of the keys it decrypts with, sorted."""
        return self._codec.ring.key_ids

    @property
    def current_key(self) -> str:
        """The id of the key it encrypts with."""
        return self._codec.ring.current

    @property
    def codec(self) -> Codec:
        """The sealing and opening of values (for ``rekey``)."""
        return self._codec

    def encrypts_slot(self, slot: str) -> bool:
        """Whether values written to ``slot`` are encrypted (``slots=`` patterns)."""
        return self._match is None or self._match(slot) is not None

    @property
    def encrypts_sessions(self) -> bool:
        """Whether session messages and metadata are encrypted."""
        return self._sessions

    def __repr__(self) -> str:
        slots = "" if self._patterns is None else f", slots={list(self._patterns)!r}"
        return (
            f"<Encrypted key_ids={list(self.key_ids)!r} current={self.current_key!r}{slots} "
            f"of {self.inner!r}>"
        )

    # -- slot values and hash fields ---------------------------------------------------

    def _encode_value(self, ns: str, slot: str, value: bytes) -> bytes:
        if not self.encrypts_slot(slot):
            return value
        return self._codec.seal(value, context(VALUE, ns, slot))

    def _decode_value(self, ns: str, slot: str, stored: bytes) -> bytes:
        plain = self._codec.open(
            stored,
            context(VALUE, ns, slot),
            lambda: f"the value of slot {short(slot)} in namespace {short(ns)}",
        )
        if plain is not None:
            return plain
        if self._require and self.encrypts_slot(slot):
            raise CorruptionError(
                f"slot {short(slot)} in namespace {short(ns)} holds an unencrypted value "
                "(require_encrypted=True)"
            )
        return stored

    def _encode_field(self, ns: str, slot: str, field: str, value: bytes) -> bytes:
        if not self.encrypts_slot(slot):
            return value
        return self._codec.seal(value, context(FIELD, ns, slot, field))

    def _decode_field(self, ns: str, slot: str, field: str, stored: bytes) -> bytes:
        plain = self._codec.open(
            stored,
            context(FIELD, ns, slot, field),
            lambda: f"field {short(field)} of hash slot {short(slot)} in namespace {short(ns)}",
        )
        if plain is not None:
            return plain
        if self._require and self.encrypts_slot(slot):
            raise CorruptionError(
                f"field {short(field)} of hash slot {short(slot)} in namespace {short(ns)} "
                "holds an unencrypted value (require_encrypted=True)"
            )
        return stored

    # -- sessions --------------------------------------------------------------------------

    def _encode_message(self, scope: str | None, text: str) -> str:
        if not self._sessions:
            return text
        blob = self._codec.seal(text.encode("utf-8"), context(MESSAGE, scope))
        # A JSON string literal: the contract wants every message to be JSON.
        return f'"{to_text(blob)}"'

    def _decode_message(self, scope: str | None, text: str) -> str:
        if text.startswith(_MESSAGE_MARK) and text.endswith('"') and len(text) > 2:
            blob = from_text(text[1:-1])
            assert blob is not None  # the mark was checked
            plain = self._codec.open(
                blob,
                context(MESSAGE, scope),
                lambda: f"a session message in {_where_scope(scope)}",
            )
            assert plain is not None
            try:
                return plain.decode("utf-8")
            except UnicodeDecodeError:
                raise CorruptionError("a decrypted session message is not UTF-8") from None
        if self._require and self._sessions:
            raise CorruptionError(
                f"a session message in {_where_scope(scope)} is unencrypted "
                "(require_encrypted=True)"
            )
        return text

    def _encode_metadata(self, scope: str | None, metadata: Mapping[str, Any]) -> dict[str, Any]:
        if not self._sessions:
            return dict(metadata)
        sealed: dict[str, Any] = {}
        for key, value in metadata.items():
            try:
                plain = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            except (TypeError, ValueError):
                raise ValidationError(
                    f"session metadata {short(key)} is not JSON-compatible"
                ) from None
            sealed[key] = to_text(self._codec.seal(plain.encode(), context(METADATA, scope, key)))
        return sealed

    def _decode_metadata(self, scope: str | None, metadata: Mapping[str, Any]) -> dict[str, Any]:
        opened: dict[str, Any] = {}
        for key, value in metadata.items():
            blob = from_text(value) if isinstance(value, str) else None
            if blob is None:
                if self._require and self._sessions:
                    raise CorruptionError(
                        f"session metadata {short(key)} in {_where_scope(scope)} is "
                        "unencrypted (require_encrypted=True)"
                    )
                opened[key] = value
                continue
            plain = self._codec.open(
                blob, context(METADATA, scope, key), _describe_metadata(scope, key)
            )
            assert plain is not None
            try:
                opened[key] = json.loads(plain)
            except ValueError:
                raise CorruptionError(
                    f"decrypted session metadata {short(key)} is not JSON"
                ) from None
        return opened

    # -- counters -------------------------------------------------------------------------

    async def incr(self, ns: str, slot: str, amount: int = 1, *, ttl: float | None) -> int:
        """Add ``amount`` to a counter and return the new value.

        Counters are stored plain: the backend adds to them. A scalar that
        was ``set`` to digits is encrypted like any value; ``incr`` of it
        decrypts it and, in one transaction that keeps its expiry, turns it
        into a plain counter holding the sum.

        Raises:
            SlotKindError: The slot holds a hash or a value that is no integer.
            ContentionError: The encrypted scalar kept changing under it.
        """
        try:
            return await super().incr(ns, slot, amount, ttl=ttl)
        except SlotKindError:
            refused: SlotKindError = sys.exc_info()[1]  # type: ignore[assignment]
        for _ in range(_INCR_ATTEMPTS):
            try:
                result = await self._incr_encrypted(ns, slot, amount)
            except ConflictError:
                continue  # changed under us: read it again
            if result is None:
                raise refused
            if result is _GONE:
                # Deleted or expired meanwhile: the backend starts it again.
                try:
                    return await super().incr(ns, slot, amount, ttl=ttl)
                except SlotKindError as exc:
                    refused = exc
                    continue
            assert isinstance(result, int)
            return result
        raise ContentionError(
            f"incr of encrypted slot {short(slot)} gave up: it kept changing",
            slots=[slot],
            attempts=_INCR_ATTEMPTS,
        )

    async def _incr_encrypted(self, ns: str, slot: str, amount: int) -> int | object | None:
        """Add to an encrypted integer in one transaction.

        Returns:
            The new value; ``None`` when the slot holds no encrypted integer;
            :data:`_GONE` when it vanished since the backend refused it.
        """
        inner = self.inner
        async with inner.transaction(ns, [slot]) as tx:
            try:
                stored = await tx.get(slot)
            except SlotKindError:
                return None
            if stored is None:
                return _GONE
            plain = self._codec.open(
                stored,
                context(VALUE, ns, slot),
                lambda: f"the value of slot {short(slot)} in namespace {short(ns)}",
            )
            if plain is None:
                return None
            try:
                number = parse_counter(plain, slot)
            except SlotKindError:
                return None
            total = add_counter(number, amount, slot)
            # Read after the watch: an expiry before the commit is a conflict.
            left = await inner.get_ttl(ns, slot)
            if left is None:
                return _GONE
            tx.set(slot, str(total).encode(), ttl=None if math.isinf(left) else left)
            await tx.commit()
            return total


_GONE: Final = object()


def _describe_metadata(scope: str | None, key: str) -> Callable[[], str]:
    return lambda: f"session metadata {short(key)} in {_where_scope(scope)}"


def _patterns(slots: Iterable[str] | None) -> tuple[str, ...] | None:
    if slots is None:
        return None
    if isinstance(slots, str):
        # "a*" would be read as the patterns "a" and "*".
        raise InvalidOptionError("slots must be a list of patterns, not one str")
    patterns = tuple(slots)
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise InvalidOptionError(f"slots patterns must be str, got {type(pattern).__name__}")
    return patterns


def _matcher(patterns: tuple[str, ...] | None) -> Callable[[str], re.Match[str] | None] | None:
    if patterns is None:
        return None
    if not patterns:
        # No pattern matches nothing: slots stay plain, sessions still follow ``sessions``.
        return re.compile(r"(?!)").match
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns), re.S).match
