"""SessionDocuments on Redis: records, message lists, O(1) forks, scopes, retention, tokens.

The primitives of :class:`~unistore.sdk.SessionDocumentsBase`, each one script
call (see :mod:`unistore_redis._lua_sessions`); arguments arrive checked.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Final

import redis.asyncio as aioredis

from unistore.errors import CorruptionError
from unistore.protocols import SessionPage, SessionRecord
from unistore.sdk import (
    ForkRequest,
    MessageWrite,
    NewSession,
    PopRequest,
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
from unistore_redis._script import Script

__all__ = ["RedisSessions"]

#: Longest retention the scripts count in microseconds: 100 years. Stamps stay
#: below 2**53, where Lua's doubles are still exact.
_MAX_TTL_US: Final = 3_155_760_000 * 1_000_000


def _text(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogatepass")


def _label(label: str | None) -> tuple[bytes, bytes]:
    return (b"0", b"") if label is None else (b"1", _text(label))


def _meta(metadata: dict[str, Any] | None) -> tuple[bytes, bytes]:
    # The SDK checked that it is JSON-compatible.
    return (b"0", b"") if metadata is None else (b"1", json.dumps(metadata).encode("ascii"))


def _ttl(ttl: float | None) -> tuple[bytes, int]:
    """Return the record's TTL text and the TTL in microseconds the scripts add."""
    if ttl is None:
        return b"", 0
    # The rounding of unistore.sdk.expiry_micros, so expiries agree across drivers.
    return repr(ttl).encode("ascii"), min(_MAX_TTL_US, max(1, round(ttl * 1_000_000)))


def _optional(value: int | None) -> bytes | int:
    return b"" if value is None else value


class RedisSessions(SessionDocumentsBase):
    """The SessionDocuments primitives of :class:`~unistore_redis.RedisStore`."""

    _keys: KeyLayout

    @property
    @abstractmethod
    def _redis(self) -> aioredis.Redis:
        """The client, for one operation (provided by the store)."""

    async def _run(
        self, script: Script, scope: str, args: Sequence[bytes | int], *, once: bool = False
    ) -> Any:
        keys = self._keys
        script_keys = [keys.scope_listing(scope), keys.clock, keys.expiry]
        return await script.run(self._redis, script_keys, args, once=once)

    def _record(self, flat: Sequence[bytes] | Mapping[bytes, bytes], scope: str) -> SessionRecord:
        fields = (
            flat if isinstance(flat, Mapping) else dict(zip(flat[::2], flat[1::2], strict=True))
        )
        try:
            label, parent, fork_point = (
                fields.get(b"label"),
                fields.get(b"parent"),
                fields.get(b"fp"),
            )
            ttl, expires = fields.get(b"ttl"), fields.get(b"x")
            return session_record(
                _decode(fields[b"id"]),
                label=None if label is None else _decode(label),
                parent_id=None if parent is None else _decode(parent),
                fork_point=None if fork_point is None else int(fork_point),
                metadata=json.loads(fields[b"meta"]),
                created_us=int(fields[b"c"]),
                updated_us=int(fields[b"u"]),
                message_count=int(fields[b"n"]),
                scope=scope,
                ttl=None if ttl is None else float(ttl),
                expires_us=None if expires is None else int(expires),
            )
        except (KeyError, ValueError) as exc:
            raise CorruptionError(
                f"{self.NAME} store {self.url}: unreadable session record"
            ) from exc

    async def _create_session(self, new: NewSession) -> SessionRecord:
        args: list[bytes | int] = [
            self._keys.session_stem(new.session_id, new.scope),
            _text(new.session_id),
            *_label(new.label),
            json.dumps(new.metadata or {}).encode("ascii"),
            *_ttl(new.ttl),
        ]
        reply = await self._run(lua.CREATE, new.scope, args)
        if reply[0] == 0:
            raise session_exists(new.session_id)
        return self._record(reply[1], new.scope)

    async def _fork_session(self, fork: ForkRequest) -> SessionRecord:
        keys = self._keys
        args: list[bytes | int] = [
            keys.session_stem(fork.parent_id, fork.scope),
            keys.session_stem(fork.session_id, fork.scope),
            _text(fork.session_id),
            _text(fork.parent_id),
            _optional(fork.at),
            *_label(fork.label),
            json.dumps(fork.metadata or {}).encode("ascii"),
            *_ttl(fork.ttl),
        ]
        reply = await self._run(lua.FORK, fork.scope, args)
        status = reply[0]
        if status == -1:
            raise session_not_found(fork.parent_id)
        if status == 0:
            raise session_exists(fork.session_id)
        if status == -3:
            raise position_error("fork point", reply[1], fork.at)
        return self._record(reply[1], fork.scope)

    async def _write_messages(self, write: MessageWrite) -> int:
        args: list[bytes | int] = [
            self._keys.session_stem(write.session_id, write.scope),
            _optional(write.start),
            _optional(write.expected_length),
            b"" if write.token is None else write.token.encode("ascii"),
            *_label(write.label),
            *_meta(write.metadata),
            *map(_text, write.messages),
        ]
        # Sent twice, an append without token or expected length would land
        # twice; with either, a second attempt sees the token or conflicts.
        once = write.token is None and write.expected_length is None
        reply = await self._run(lua.WRITE, write.scope, args, once=once)
        status = reply[0]
        if status == -1:
            raise session_not_found(write.session_id)
        if status == -2:
            assert write.expected_length is not None  # the script compares only then
            raise length_conflict(write.session_id, write.expected_length, reply[1])
        if status == -3:
            raise position_error("replace start", reply[1], write.start)
        return int(reply[1])

    async def _pop_messages(self, pop: PopRequest) -> list[str]:
        stem = self._keys.session_stem(pop.session_id, pop.scope)
        args: list[bytes | int] = [stem, pop.n, _optional(pop.expected_length)]
        # Without an expected length a second attempt would pop again.
        once = pop.expected_length is None
        reply = await self._run(lua.POP, pop.scope, args, once=once)
        status = reply[0]
        if status == -1:
            raise session_not_found(pop.session_id)
        if status == -2:
            assert pop.expected_length is not None  # the script compares only then
            raise length_conflict(pop.session_id, pop.expected_length, reply[1])
        return [_decode(message) for message in reply[1]]

    async def _read_messages(self, session_id: str, last: int | None, scope: str) -> list[str]:
        args = [self._keys.session_stem(session_id, scope), _optional(last)]
        reply = await self._run(lua.READ, scope, args)
        if reply[0] == -1:
            raise session_not_found(session_id)
        return [_decode(message) for message in reply[1]]

    async def _get_session(self, session_id: str, scope: str) -> SessionRecord | None:
        reply = await self._run(lua.GET, scope, [self._keys.session_stem(session_id, scope)])
        return None if reply[0] == -1 else self._record(reply[1], scope)

    async def _list_sessions(self, limit: int, cursor: str | None, scope: str) -> SessionPage:
        after = b""
        if cursor is not None:
            # The listing member after which the page starts: update time and session.
            stamp, session_id = decode_cursor(cursor, int, str)
            after = b"%020d" % stamp + self._keys.session_stem(session_id, scope)
        more, flat = await self._run(lua.LIST, scope, [after, limit])
        items = [self._record(flat[i + 1], scope) for i in range(0, len(flat), 2)]
        next_cursor = None
        if more and items:
            next_cursor = encode_cursor(int(flat[-2][:20]), items[-1].id)
        return SessionPage(items=items, next_cursor=next_cursor)

    async def _update_session(
        self, session_id: str, label: str | None, metadata: dict[str, Any] | None, scope: str
    ) -> SessionRecord:
        args: list[bytes | int] = [self._keys.session_stem(session_id, scope)]
        args += (*_label(label), *_meta(metadata))
        reply = await self._run(lua.UPDATE, scope, args)
        if reply[0] == -1:
            raise session_not_found(session_id)
        return self._record(reply[1], scope)

    async def _delete_session(self, session_id: str, scope: str) -> bool:
        args = [self._keys.session_stem(session_id, scope)]
        return bool(await self._run(lua.DELETE, scope, args))

    async def _scopes(self) -> AsyncIterator[str]:
        # For tooling: a listing exists while its scope holds a session (an
        # empty sorted set is deleted), so SCAN over the listings finds every
        # scope; SCAN may return a key twice and the SDK drops repeats.
        keys = self._keys
        if await self._redis.exists(keys.listing):
            yield ""
        async for key in self._redis.scan_iter(match=keys.scope_glob(), count=1000):
            yield keys.scope_of_listing(key)
