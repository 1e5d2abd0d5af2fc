r"""Compressed: a store wrapper that compresses values, messages and metadata values.

Stored format of a scalar slot value or a hash field value::

    b"\xffUC" | version (1 byte, 0x01) | method (1 byte) | payload

``method`` is ``0x00`` (stored as it is: small, or it would not shrink),
``0x01`` (zlib) or ``0x02`` (zstd). The first byte, ``0xff``, never starts a
UTF-8 text or a decimal integer, so a value without this header (written
before the wrapper was added, or a counter) reads back unchanged.

Session messages and metadata values must stay JSON, so their compressed form
is a JSON string ``"unistore.compressed/1:<method>:<base64 of the JSON text>"``
(``method`` is ``raw``, ``zlib`` or ``zstd``). Texts that do not shrink stay
as they are, unless they start with that marker, in which case they are
stored in its ``raw`` form so that they read back as written.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import zlib
from collections.abc import Mapping
from typing import Any, Final, Protocol

from unistore.errors import ConfigurationError, CorruptionError, InvalidOptionError
from unistore.protocols import FullStore
from unistore.sdk import StoreWrapper

__all__ = ["HEADER", "MAX_SIZE", "Compressed"]

#: The header every slot and field value written by :class:`Compressed` starts with.
HEADER: Final = b"\xffUC\x01"
_RAW, _ZLIB, _ZSTD = 0, 1, 2
_METHODS: Final = {"zlib": _ZLIB, "zstd": _ZSTD}
_NAMES: Final = {_RAW: "raw", _ZLIB: "zlib", _ZSTD: "zstd"}
_BY_NAME: Final = {name: method for method, name in _NAMES.items()}
#: The prefix of a compressed message or metadata value, inside its JSON string.
MARKER: Final = "unistore.compressed/1:"
_QUOTED: Final = '"' + MARKER
#: The default cap on a decompressed value (Redis's limit on one string).
MAX_SIZE: Final = 512 * 1024 * 1024
_LEVELS: Final = {"zlib": range(-1, 10), "zstd": range(1, 23)}
_INSTALL: Final = 'zstd compression needs the zstandard package: pip install "unistore[zstd]"'


class _Codec(Protocol):
    def compress(self, data: bytes) -> bytes: ...
    def decompress(self, data: bytes, cap: int) -> bytes: ...


class _Zlib:
    def __init__(self, level: int) -> None:
        self._level = level

    def compress(self, data: bytes) -> bytes:
        return zlib.compress(data, self._level)

    def decompress(self, data: bytes, cap: int) -> bytes:
        inflater = zlib.decompressobj()
        try:
            out = inflater.decompress(data, cap + 1)
        except zlib.error as exc:
            raise CorruptionError(f"a zlib-compressed value is damaged: {exc}") from None
        if len(out) > cap or inflater.unconsumed_tail:
            raise _too_large(cap)
        if not inflater.eof:
            raise CorruptionError("a zlib-compressed value is truncated")
        return out


class _Zstd:
    def __init__(self, level: int) -> None:
        zstandard = _import_zstandard()
        self._error = zstandard.ZstdError
        self._content_size = zstandard.frame_content_size
        self._compressor = zstandard.ZstdCompressor(level=level)
        self._decompressor = zstandard.ZstdDecompressor()

    def compress(self, data: bytes) -> bytes:
        return bytes(self._compressor.compress(data))

    def decompress(self, data: bytes, cap: int) -> bytes:
        try:
            declared = self._content_size(data)
            if declared > cap:
                raise _too_large(cap)
            if declared >= 0:
                # The frame declares its size (ours always do): zstd allocates
                # exactly that and fails if the data makes more or less.
                return bytes(self._decompressor.decompress(data))
            return self._read_capped(data, cap)
        except self._error as exc:
            raise CorruptionError(f"a zstd-compressed value is damaged: {exc}") from None

    def _read_capped(self, data: bytes, cap: int) -> bytes:
        # No declared size: read in chunks and stop at the cap, so a bomb
        # never allocates more than the cap (reading cap + 1 bytes at once
        # would allocate the whole cap for every value).
        chunks: list[bytes] = []
        total = 0
        with self._decompressor.stream_reader(io.BytesIO(data)) as reader:
            while chunk := reader.read(1 << 20):
                total += len(chunk)
                if total > cap:
                    raise _too_large(cap)
                chunks.append(chunk)
        return b"".join(chunks)


def _import_zstandard() -> Any:
    try:
        import zstandard
    except ImportError:
        raise ConfigurationError(_INSTALL) from None
    return zstandard


def _too_large(cap: int) -> CorruptionError:
    return CorruptionError(
        f"a compressed value decompresses to more than {cap} bytes (max_size); refusing it"
    )


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidOptionError(f"Compressed: {name} must be an int of at least {low}")
    return int(value)


class Compressed(StoreWrapper):
    """A store that compresses slot values, hash values, messages and metadata values.

    Values of at least ``min_size`` bytes are compressed; smaller ones, and
    ones that would not shrink, are stored with an "uncompressed" header.
    Values without a header (written before the wrapper was added) read back
    unchanged, and a value written with one algorithm reads back under a
    wrapper configured with another. Stack it outside
    :class:`~unistore.wrappers.Encrypted` (compress, then encrypt):
    ``connect(url, wrappers=[Compressed.using(), Encrypted.using(...)])``.

    Args:
        store: The store to wrap (closing the wrapper closes it).
        algorithm: ``"zstd"`` (needs ``unistore[zstd]``) or ``"zlib"``.
        min_size: The smallest value, in bytes, worth compressing.
        level: The compression level (zlib: -1 to 9, zstd: 1 to 22);
            ``None`` for the algorithm's default.
        max_size: The largest decompressed value accepted; a larger one is
            refused with :class:`~unistore.errors.CorruptionError`, so a
            stored decompression bomb cannot exhaust memory.

    Raises:
        InvalidOptionError: An unknown algorithm, or a bad size or level.
        ConfigurationError: ``"zstd"`` without the zstandard package.
    """

    def __init__(
        self,
        store: FullStore,
        algorithm: str = "zstd",
        min_size: int = 1024,
        *,
        level: int | None = None,
        max_size: int = MAX_SIZE,
    ) -> None:
        if algorithm not in _METHODS:
            raise InvalidOptionError(
                f"Compressed: unknown algorithm {algorithm!r}; choose from zlib, zstd"[:200]
            )
        self.min_size = _check_int("min_size", min_size, 0)
        self.max_size = _check_int("max_size", max_size, 1)
        if level is not None and (
            isinstance(level, bool) or not isinstance(level, int) or level not in _LEVELS[algorithm]
        ):
            levels = _LEVELS[algorithm]
            raise InvalidOptionError(
                f"Compressed: level must be an int from {levels[0]} to {levels[-1]} for {algorithm}"
            )
        super().__init__(store)
        self.algorithm = algorithm
        self._method = _METHODS[algorithm]
        self._codec: _Codec = (
            _Zstd(3 if level is None else level)
            if algorithm == "zstd"
            else _Zlib(-1 if level is None else level)
        )
        self._codecs: dict[int, _Codec] = {self._method: self._codec}

    def __repr__(self) -> str:
        return f"<Compressed {self.algorithm} of {self.inner!r}>"

    # -- bytes ----------------------------------------------------------------

    def _pack(self, value: bytes) -> bytes:
        if len(value) >= self.min_size:
            packed = self._codec.compress(value)
            if len(packed) < len(value):
                return HEADER + bytes((self._method,)) + packed
        return HEADER + b"\x00" + value

    def _codec_for(self, method: int) -> _Codec:
        codec = self._codecs.get(method)
        if codec is None:
            if method == _ZLIB:
                codec = _Zlib(-1)
            elif method == _ZSTD:
                codec = _Zstd(3)
            else:
                raise CorruptionError(
                    f"a compressed value names an unknown method {method}; "
                    "it was written by a newer unistore, or is damaged"
                )
            self._codecs[method] = codec
        return codec

    def _unpack(self, stored: bytes) -> bytes:
        if not stored.startswith(HEADER):
            # No header: written before the wrapper, read as it is.
            return stored
        if len(stored) < len(HEADER) + 1:
            raise CorruptionError("a compressed value is truncated (no method byte)")
        method = stored[len(HEADER)]
        payload = stored[len(HEADER) + 1 :]
        if method == _RAW:
            return payload
        return self._codec_for(method).decompress(payload, self.max_size)

    def _encode_value(self, ns: str, slot: str, value: bytes) -> bytes:
        return self._pack(value)

    def _decode_value(self, ns: str, slot: str, stored: bytes) -> bytes:
        return self._unpack(stored)

    def _encode_field(self, ns: str, slot: str, field: str, value: bytes) -> bytes:
        return self._pack(value)

    def _decode_field(self, ns: str, slot: str, field: str, stored: bytes) -> bytes:
        return self._unpack(stored)

    # -- JSON texts -----------------------------------------------------------

    def _pack_text(self, text: str) -> str:
        """Return a JSON text's stored form: itself, or a marker string literal."""
        data = text.encode("utf-8")
        if len(data) >= self.min_size:
            packed = self._codec.compress(data)
            # The base64 form is a third larger: it must still beat the text.
            if (len(packed) + 2) // 3 * 4 + len(_QUOTED) + 6 < len(data):
                return self._literal(_NAMES[self._method], packed)
        if text.startswith(_QUOTED):
            # A text that looks encoded is kept apart from the encoded ones.
            return self._literal("raw", data)
        return text

    @staticmethod
    def _literal(method: str, payload: bytes) -> str:
        return f'"{MARKER}{method}:{base64.b64encode(payload).decode("ascii")}"'

    def _unpack_text(self, text: str) -> str:
        if not text.startswith(_QUOTED):
            return text
        try:
            inner = json.loads(text)
            method, _, encoded = inner[len(MARKER) :].partition(":")
            payload = base64.b64decode(encoded, validate=True)
        except (ValueError, TypeError, binascii.Error):
            raise CorruptionError("a compressed message or metadata value is damaged") from None
        if method not in _BY_NAME:
            raise CorruptionError(f"a compressed text names an unknown method {method[:20]!r}")
        number = _BY_NAME[method]
        data = (
            payload
            if number == _RAW
            else self._codec_for(number).decompress(payload, self.max_size)
        )
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptionError("a compressed message or metadata value is not UTF-8") from None

    def _encode_message(self, scope: str | None, text: str) -> str:
        return self._pack_text(text)

    def _decode_message(self, scope: str | None, text: str) -> str:
        return self._unpack_text(text)

    def _encode_metadata(self, scope: str | None, metadata: Mapping[str, Any]) -> dict[str, Any]:
        encoded: dict[str, Any] = {}
        for key, value in metadata.items():
            text = json.dumps(value, separators=(",", ":"))
            packed = self._pack_text(text)
            encoded[key] = value if packed is text else json.loads(packed)
        return encoded

    def _decode_metadata(self, scope: str | None, metadata: Mapping[str, Any]) -> dict[str, Any]:
        decoded: dict[str, Any] = {}
        for key, value in metadata.items():
            if isinstance(value, str) and value.startswith(MARKER):
                try:
                    decoded[key] = json.loads(self._unpack_text(json.dumps(value)))
                except ValueError:
                    raise CorruptionError(
                        "a compressed metadata value is not JSON once decompressed"
                    ) from None
            else:
                decoded[key] = value
        return decoded
