"""SessionDocuments on Redis: records, message lists, O(1) forks, lexical listing.

The primitives of :class:`~unistore.sdk.SessionDocumentsBase`, each one script
call (see :mod:`unistore_redis._lua_sessions`); arguments arrive checked.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, cast

import redis.asyncio as aioredis

from unistore.errors import CorruptionError
from unistore.protocols import SessionPage, SessionRecord
from unistore.sdk import (
    ForkRequest,
    MessageWrite,
    SessionDocumentsBase,
    decode_cursor,
    encode_cursor,
    length_conflict,
    position_error,
    session_exists,
    session_not_found,
    session_record,
)
from unistore_redis import _lua_sessions as lua
from unistore_redis._keys import KeyLayout

__all__ = ["RedisSessions"]


def _text(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogatepass")


def _label(label: str | None) -> tuple[bytes, bytes]:
    return (b"0", b"") if label is None else (b"1", _text(label))


def _meta(metadata: dict[str, Any] | None) -> tuple[bytes, bytes]:
    # The SDK checked that it is JSON-compatible.
    return (b"0", b"") if metadata is None else (b"1", json.dumps(metadata).encode("ascii"))


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
            return session_record(
                _decode(fields[b"id"]),
                label=None if label is None else _decode(label),
                parent_id=None if parent is None else _decode(parent),
                fork_point=None if fork_point is None else int(fork_point),
                metadata=json.loads(fields[b"meta"]),
                created_us=int(fields[b"c"]),
                updated_us=int(fields[b"u"]),
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
            raise session_exists(session_id)
        return self._record(reply[1])

    async def _fork_session(self, fork: ForkRequest) -> SessionRecord:
        keys = self._keys
        args = [
            keys.session_stem(fork.parent_id),
            keys.session_stem(fork.session_id),
            _text(fork.session_id),
            _text(fork.parent_id),
            b"" if fork.at is None else fork.at,
            *_label(fork.label),
            json.dumps(fork.metadata or {}).encode("ascii"),
        ]
        reply = await lua.FORK.run(self._redis, [keys.listing, keys.clock], args)
        status = reply[0]
        if status == -1:
            raise session_not_found(fork.parent_id)
        if status == -3:
            raise position_error("fork point", reply[1], fork.at)
        if status == 0:
            raise session_exists(fork.session_id)
        return self._record(reply[1])

    async def _write_messages(self, write: MessageWrite) -> SessionRecord:
        keys = self._keys
        args: list[bytes | int] = [
            keys.session_stem(write.session_id),
            b"" if write.start is None else write.start,
            write.expected_length,
            *_label(write.label),
            *_meta(write.metadata),
            *map(_text, write.messages),
        ]
        reply = await lua.APPEND.run(self._redis, [keys.listing, keys.clock], args)
        status = reply[0]
        if status == -1:
            raise session_not_found(write.session_id)
        if status == -2:
            raise length_conflict(write.session_id, write.expected_length, reply[1])
        if status == -3:
            raise position_error("replace start", reply[1], write.start)
        return self._record(reply[1])

    async def _read_messages(self, session_id: str, last: int | None) -> list[str]:
        args = [self._keys.session_stem(session_id), b"" if last is None else last]
        reply = await lua.READ.run(self._redis, [self._keys.listing], args)
        if reply[0] == -1:
            raise session_not_found(session_id)
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
            raise session_not_found(session_id)
        return self._record(reply[1])

    async def _delete_session(self, session_id: str) -> bool:
        args = [self._keys.session_stem(session_id)]
        return bool(await lua.DELETE.run(self._redis, [self._keys.listing], args))
