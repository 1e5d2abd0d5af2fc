"""SessionDocuments on Redis: records, message lists, O(1) forks, lexical listing."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from redis.exceptions import RedisError

from unistore.errors import (
    CorruptionError,
    SessionConflictError,
    SessionExistsError,
    SessionNotFoundError,
    ValidationError,
)
from unistore.protocols import SessionPage, SessionRecord
from unistore_redis import _lua_sessions as lua
from unistore_redis._common import RedisBase

__all__ = ["RedisSessions"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(rb"\d{20}.+", re.DOTALL)


def _text(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogatepass")


def _metadata_json(metadata: Mapping[str, Any] | None) -> bytes:
    if metadata is None:
        return b"{}"
    try:
        return json.dumps(dict(metadata), allow_nan=False).encode("ascii")
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"session metadata must be JSON-compatible: {exc}") from None


def _label(label: str | None) -> tuple[bytes, bytes]:
    if label is None:
        return b"0", b""
    if not isinstance(label, str):
        raise ValidationError(f"a session label must be a str, got {type(label).__name__}")
    return b"1", _text(label)


def _check_int(name: str, value: object, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _micros(raw: bytes) -> datetime:
    return _EPOCH + timedelta(microseconds=int(raw))


def _missing(session_id: str) -> SessionNotFoundError:
    return SessionNotFoundError(f"no session {session_id[:80]!r}", session_id=session_id)


class RedisSessions(RedisBase):
    """The SessionDocuments capability of :class:`~unistore_redis.RedisStore`."""

    def _record(self, flat: Sequence[bytes] | Mapping[bytes, bytes]) -> SessionRecord:
        if isinstance(flat, Mapping):
            fields = flat
        else:
            fields = dict(zip(flat[::2], flat[1::2], strict=True))
        try:
            label = fields.get(b"label")
            parent = fields.get(b"parent")
            fork_point = fields.get(b"fp")
            return SessionRecord(
                id=_decode(fields[b"id"]),
                label=None if label is None else _decode(label),
                parent_id=None if parent is None else _decode(parent),
                fork_point=None if fork_point is None else int(fork_point),
                metadata=json.loads(fields[b"meta"]),
                created_at=_micros(fields[b"c"]),
                updated_at=_micros(fields[b"u"]),
                message_count=int(fields[b"n"]),
            )
        except (KeyError, ValueError) as exc:
            raise CorruptionError(f"unreadable session record in redis store {self.url}") from exc

    async def create_session(
        self,
        session_id: str,
        *,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Create an empty session (one round trip).

        Raises:
            SessionExistsError: The id is taken.
        """
        has_label, label_text = _label(label)
        keys = self._keys
        args = [keys.session_stem(session_id), _text(session_id), has_label, label_text]
        args.append(_metadata_json(metadata))
        reply = await self._eval(lua.CREATE, [keys.listing, keys.clock], args)
        if reply[0] == 0:
            raise SessionExistsError(
                f"session {session_id[:80]!r} already exists", session_id=session_id
            )
        return self._record(reply[1])

    async def fork_session(
        self,
        parent_id: str,
        session_id: str,
        *,
        at: int | None = None,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Create a fork pointing at the parent's first ``at`` messages (O(1)).

        Raises:
            SessionNotFoundError: The parent does not exist.
            SessionExistsError: ``session_id`` is taken.
            ValidationError: ``at`` is negative or beyond the parent's length.
        """
        if at is not None and (isinstance(at, bool) or not isinstance(at, int)):
            raise ValidationError(f"fork point must be an int, got {at!r}")
        has_label, label_text = _label(label)
        keys = self._keys
        args = [
            keys.session_stem(parent_id),
            keys.session_stem(session_id),
            _text(session_id),
            _text(parent_id),
            b"" if at is None else at,
            has_label,
            label_text,
            _metadata_json(metadata),
        ]
        reply = await self._eval(lua.FORK, [keys.listing, keys.clock], args)
        status = reply[0]
        if status == -1:
            raise _missing(parent_id)
        if status == -3:
            raise ValidationError(f"fork point must be between 0 and {reply[1]}, got {at!r}")
        if status == 0:
            raise SessionExistsError(
                f"session {session_id[:80]!r} already exists", session_id=session_id
            )
        return self._record(reply[1])

    async def _write_messages(
        self,
        session_id: str,
        start: int | None,
        messages: Sequence[str],
        expected_length: int,
        label: str | None,
        metadata: Mapping[str, Any] | None,
    ) -> SessionRecord:
        _check_int("expected_length", expected_length)
        if start is not None and (isinstance(start, bool) or not isinstance(start, int)):
            raise ValidationError(f"replace start must be an int, got {start!r}")
        if isinstance(messages, str):
            raise ValidationError("messages must be a sequence of JSON strings, not one str")
        has_label, label_text = _label(label)
        has_meta, meta = (b"0", b"") if metadata is None else (b"1", _metadata_json(metadata))
        keys = self._keys
        args: list[Any] = [
            keys.session_stem(session_id),
            b"" if start is None else start,
            expected_length,
            has_label,
            label_text,
            has_meta,
            meta,
        ]
        for message in messages:
            if not isinstance(message, str):
                raise ValidationError("each message must be a str (a JSON text)")
            args.append(_text(message))
        reply = await self._eval(lua.APPEND, [keys.listing, keys.clock], args)
        status = reply[0]
        if status == -1:
            raise _missing(session_id)
        if status == -2:
            raise SessionConflictError(
                f"session {session_id[:80]!r} has {reply[1]} messages, expected {expected_length}",
                session_id=session_id,
                expected=expected_length,
                actual=reply[1],
            )
        if status == -3:
            raise ValidationError(f"replace start must be between 0 and {reply[1]}, got {start!r}")
        return self._record(reply[1])

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[str],
        *,
        expected_length: int,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Append messages if the session has ``expected_length`` (one round trip).

        Raises:
            SessionNotFoundError: No such session.
            SessionConflictError: The stored length differs; nothing written.
        """
        return await self._write_messages(
            session_id, None, messages, expected_length, label, metadata
        )

    async def replace_messages(
        self,
        session_id: str,
        start: int,
        messages: Sequence[str],
        *,
        expected_length: int,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Drop messages from ``start`` on and append ``messages`` (one round trip).

        Forks that still share a dropped message are materialised first, in the
        same script.

        Raises:
            SessionNotFoundError: No such session.
            SessionConflictError: The stored length differs; nothing written.
            ValidationError: ``start`` is negative or beyond the length.
        """
        return await self._write_messages(
            session_id, start, messages, expected_length, label, metadata
        )

    async def read_messages(self, session_id: str, *, last: int | None = None) -> list[str]:
        """Return all messages, or the last ``last`` (one round trip).

        Raises:
            SessionNotFoundError: No such session.
        """
        if last is not None:
            _check_int("last", last)
        args = [self._keys.session_stem(session_id), b"" if last is None else last]
        reply = await self._eval(lua.READ, [self._keys.listing], args)
        if reply[0] == -1:
            raise _missing(session_id)
        return [_decode(message) for message in reply[1]]

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """Return a session's record, or ``None`` (one ``HGETALL``)."""
        self._check_open()
        try:
            fields = cast(
                "dict[bytes, bytes]",
                await self._client.hgetall(self._keys.session_stem(session_id) + b":r"),
            )
        except RedisError as exc:
            self._fail(exc)
        return self._record(fields) if fields else None

    async def list_sessions(self, *, limit: int = 50, cursor: str | None = None) -> SessionPage:
        """Return records newest first, paged by an opaque cursor (one round trip).

        Reads records only, never messages.
        """
        _check_int("limit", limit, minimum=1)
        after = b"" if cursor is None else self._decode_cursor(cursor)
        reply = await self._eval(lua.LIST, [self._keys.listing], [after, limit])
        more, flat = reply
        items = [self._record(flat[i + 1]) for i in range(0, len(flat), 2)]
        next_cursor = None
        if more and flat:
            next_cursor = base64.urlsafe_b64encode(flat[-2]).decode("ascii")
        return SessionPage(items=items, next_cursor=next_cursor)

    def _decode_cursor(self, cursor: str) -> bytes:
        try:
            raw = base64.urlsafe_b64decode(cursor.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeError, AttributeError) as exc:
            raise ValidationError("invalid session listing cursor") from exc
        if not _CURSOR.fullmatch(raw):
            raise ValidationError("invalid session listing cursor")
        return raw

    async def update_session(
        self,
        session_id: str,
        *,
        label: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Replace label and/or metadata (``None`` keeps); one round trip.

        Raises:
            SessionNotFoundError: No such session.
        """
        has_label, label_text = _label(label)
        has_meta, meta = (b"0", b"") if metadata is None else (b"1", _metadata_json(metadata))
        keys = self._keys
        args = [keys.session_stem(session_id), has_label, label_text, has_meta, meta]
        reply = await self._eval(lua.UPDATE, [keys.listing, keys.clock], args)
        if reply[0] == -1:
            raise _missing(session_id)
        return self._record(reply[1])

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session; its forks first get their own copy of what they shared.

        Returns:
            Whether the session existed.
        """
        args = [self._keys.session_stem(session_id)]
        return bool(await self._eval(lua.DELETE, [self._keys.listing], args))
