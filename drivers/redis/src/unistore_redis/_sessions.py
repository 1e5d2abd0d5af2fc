"""SessionDocuments on Redis: records, message lists, O(1) forks, lexical listing.

The primitives of :class:`~unistore.sdk.SessionDocumentsBase`, each one script
call (see :mod:`unistore_redis._lua_sessions`); arguments arrive checked.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import redis.asyncio as aioredis

from unistore.errors import (
    CorruptionError,
    SessionConflictError,
    SessionExistsError,
    SessionNotFoundError,
    ValidationError,
)
from unistore.protocols import SessionPage, SessionRecord
from unistore.sdk import SessionDocumentsBase, decode_cursor, encode_cursor, short
from unistore_redis import _lua_sessions as lua
from unistore_redis._keys import KeyLayout

__all__ = ["RedisSessions"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _text(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogatepass")


def _label(label: str | None) -> tuple[bytes, bytes]:
    return (b"0", b"") if label is None else (b"1", _text(label))


def _meta(metadata: dict[str, Any] | None) -> tuple[bytes, bytes]:
    # The SDK checked that it is JSON-compatible.
    return (b"0", b"") if metadata is None else (b"1", json.dumps(metadata).encode("ascii"))


def _micros(raw: bytes) -> datetime:
    return _EPOCH + timedelta(microseconds=int(raw))


def _missing(session_id: str) -> SessionNotFoundError:
    return SessionNotFoundError(f"no session {short(session_id)}", session_id=session_id)


def _exists(session_id: str) -> SessionExistsError:
    return SessionExistsError(f"session {short(session_id)} already exists", session_id=session_id)


class RedisSessions(SessionDocumentsBase):
    """The SessionDocuments primitives of :class:`~unistore_redis.RedisStore`."""

    _keys: KeyLayout

    @property
    @abstractmethod
    def _redis(self) -> aioredis.Redis:
        """The client, for one operation (provided by the store)."""

    def _record(self, flat: Sequence[bytes] | Mapping[bytes, bytes]) -> SessionRecord:
        fields = (
            flat if isinstance(flat, Mapping) else dict(zip(flat[::2], flat[1::2], strict=True))
        )
        try:
            label, parent, fork_point = (
                fields.get(b"label"),
                fields.get(b"parent"),
                fields.get(b"fp"),
            )
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
            raise CorruptionError(
                f"{self.NAME} store {self.url}: unreadable session record"
            ) from exc

    async def _create_session(
        self, session_id: str, label: str | None, metadata: dict[str, Any] | None
    ) -> SessionRecord:
        keys = self._keys
        args = [keys.session_stem(session_id), _text(session_id), *_label(label)]
        args.append(json.dumps(metadata or {}).encode("ascii"))
        reply = await lua.CREATE.run(self._redis, [keys.listing, keys.clock], args)
        if reply[0] == 0:
            raise _exists(session_id)
        return self._record(reply[1])

    async def _fork_session(
        self,
        parent_id: str,
        session_id: str,
        at: int | None,
        label: str | None,
        metadata: dict[str, Any] | None,
    ) -> SessionRecord:
        keys = self._keys
        args = [
            keys.session_stem(parent_id),
            keys.session_stem(session_id),
            _text(session_id),
            _text(parent_id),
            b"" if at is None else at,
            *_label(label),
            json.dumps(metadata or {}).encode("ascii"),
        ]
        reply = await lua.FORK.run(self._redis, [keys.listing, keys.clock], args)
        status = reply[0]
        if status == -1:
            raise _missing(parent_id)
        if status == -3:
            raise ValidationError(f"fork point must be between 0 and {reply[1]}, got {at!r}")
        if status == 0:
            raise _exists(session_id)
        return self._record(reply[1])

    async def _replace_messages(
        self,
        session_id: str,
        start: int | None,
        messages: list[str],
        expected_length: int,
        label: str | None,
        metadata: dict[str, Any] | None,
    ) -> SessionRecord:
        keys = self._keys
        args: list[bytes | int] = [
            keys.session_stem(session_id),
            b"" if start is None else start,
            expected_length,
            *_label(label),
            *_meta(metadata),
            *map(_text, messages),
        ]
        reply = await lua.APPEND.run(self._redis, [keys.listing, keys.clock], args)
        status = reply[0]
        if status == -1:
            raise _missing(session_id)
        if status == -2:
            raise SessionConflictError(
                f"session {short(session_id)} has {reply[1]} messages, expected {expected_length}",
                session_id=session_id,
                expected=expected_length,
                actual=reply[1],
            )
        if status == -3:
            raise ValidationError(f"replace start must be between 0 and {reply[1]}, got {start!r}")
        return self._record(reply[1])

    async def _read_messages(self, session_id: str, last: int | None) -> list[str]:
        args = [self._keys.session_stem(session_id), b"" if last is None else last]
        reply = await lua.READ.run(self._redis, [self._keys.listing], args)
        if reply[0] == -1:
            raise _missing(session_id)
        return [_decode(message) for message in reply[1]]

    async def _get_session(self, session_id: str) -> SessionRecord | None:
        key = self._keys.session_stem(session_id) + b":r"
        fields = cast("dict[bytes, bytes]", await self._redis.hgetall(key))
        return self._record(fields) if fields else None

    async def _list_sessions(self, limit: int, cursor: str | None) -> SessionPage:
        after = b""
        if cursor is not None:
            # The listing member after which the page starts: update time and session.
            stamp, session_id = decode_cursor(cursor, int, str)
            after = b"%020d" % stamp + self._keys.session_stem(session_id)
        more, flat = await lua.LIST.run(self._redis, [self._keys.listing], [after, limit])
        items = [self._record(flat[i + 1]) for i in range(0, len(flat), 2)]
        next_cursor = None
        if more and items:
            next_cursor = encode_cursor(int(flat[-2][:20]), items[-1].id)
        return SessionPage(items=items, next_cursor=next_cursor)

    async def _update_session(
        self, session_id: str, label: str | None, metadata: dict[str, Any] | None
    ) -> SessionRecord:
        keys = self._keys
        args = [keys.session_stem(session_id), *_label(label), *_meta(metadata)]
        reply = await lua.UPDATE.run(self._redis, [keys.listing, keys.clock], args)
        if reply[0] == -1:
            raise _missing(session_id)
        return self._record(reply[1])

    async def _delete_session(self, session_id: str) -> bool:
        args = [self._keys.session_stem(session_id)]
        return bool(await lua.DELETE.run(self._redis, [self._keys.listing], args))
