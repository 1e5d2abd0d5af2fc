"""The session layout before buckets, to write old data in tests of the migration.

A copy of the previous session scripts and primitives (one hash tag,
``{:sessions}``, for every session key; only the class name and where the
client comes from differ), mixed into :class:`OldLayoutStore`: a store that
writes exactly what the previous version wrote.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Final

import redis.asyncio as aioredis

from unistore.errors import CorruptionError
from unistore.protocols import SessionPage, SessionRecord
from unistore.sdk import (
    TOKENS_KEPT,
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
from unistore_redis import RedisStore
from unistore_redis._keys import KeyLayout
from unistore_redis._script import Script

__all__ = ["OldLayoutStore"]

#: Expired sessions one write reclaims at most (at least 2, so that reclaiming
#: keeps pace with sessions being created).
SWEEP_BATCH: Final = 16

PRELUDE: Final = (
    f"local KEPT, SWEEP = {TOKENS_KEPT}, {SWEEP_BATCH}\n"
    + r"""
local function int(x)
  return string.format('%.0f', x)
end
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
-- An updated_at later than every one handed out before: listing positions are unique.
local function stamp(now)
  local last = tonumber(redis.call('GET', KEYS[2]) or '0')
  if now <= last then
    now = last + 1
  end
  redis.call('SET', KEYS[2], int(now))
  return now
end
local function member(ts, stem)
  return string.format('%020.0f', ts) .. stem
end
-- The listing of the scope a stem belongs to (an escaped id never holds ':').
local function listing_of(stem)
  return string.match(stem, '^(.*):s:[^:]*$') .. ':list'
end
-- The length of a live session, or nil; the second result says it exists but expired.
local function length(stem, now)
  local f = redis.call('HMGET', stem .. ':r', 'n', 'x')
  if not f[1] then
    return nil, false
  end
  if f[2] and tonumber(f[2]) <= now then
    return nil, true
  end
  return tonumber(f[1]), false
end
-- Messages at positions [lo, hi) of a session, following base pointers.
local function read_range(stem, lo, hi)
  local segs = {}
  local s = stem
  while hi > lo do
    local f = redis.call('HMGET', s .. ':r', 'base', 'bp')
    local base, bp = f[1], tonumber(f[2] or '0')
    if base and hi <= bp then
      s = base
    else
      local from = math.max(lo, bp)
      segs[#segs + 1] = {s .. ':m', from - bp, hi - bp - 1}
      hi = from
      s = base
    end
  end
  local out = {}
  for i = #segs, 1, -1 do
    local seg = segs[i]
    for _, m in ipairs(redis.call('LRANGE', seg[1], seg[2], seg[3])) do
      out[#out + 1] = m
    end
  end
  return out
end
-- Copy into a fork the messages it shares with its base; drop the pointer.
local function materialise(child)
  local rec = child .. ':r'
  local f = redis.call('HMGET', rec, 'base', 'bp')
  local base, bp = f[1], tonumber(f[2] or '0')
  if not base then
    return
  end
  local shared = read_range(base, 0, bp)
  local key = child .. ':m'
  local i = #shared
  while i >= 1 do
    local j = math.max(1, i - 999)
    local chunk = {}
    for k = i, j, -1 do
      chunk[#chunk + 1] = shared[k]
    end
    redis.call('LPUSH', key, unpack(chunk))
    i = j - 1
  end
  redis.call('HDEL', rec, 'base', 'bp')
  redis.call('SREM', base .. ':f', child)
end
-- Delete a session and every key of it; its forks get their own copy first.
local function remove(stem)
  local rec = stem .. ':r'
  for _, child in ipairs(redis.call('SMEMBERS', stem .. ':f')) do
    materialise(child)
  end
  local f = redis.call('HMGET', rec, 'base', 'u')
  if f[1] then
    redis.call('SREM', f[1] .. ':f', stem)
  end
  if f[2] then
    redis.call('ZREM', listing_of(stem), member(tonumber(f[2]), stem))
  end
  redis.call('ZREM', KEYS[3], stem)
  redis.call('DEL', rec, stem .. ':m', stem .. ':f', stem .. ':t', stem .. ':q')
end
-- What a write finds at a stem: the live length or nil, reclaiming an expired session.
local function find(stem, now)
  local n, dead = length(stem, now)
  if dead then
    remove(stem)
  end
  return n
end
-- Reclaim a bounded batch of expired sessions, soonest expired first. Runs
-- before a write's own work, never in its middle: reclaiming materialises
-- forks, which must not happen to a session the write is editing.
local function sweep(now)
  local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', int(now), 'LIMIT', 0, SWEEP)
  for _, stem in ipairs(due) do
    local x = redis.call('HGET', stem .. ':r', 'x')
    if not x then
      redis.call('ZREM', KEYS[3], stem)
    elseif tonumber(x) <= now then
      remove(stem)
    else
      redis.call('ZADD', KEYS[3], x, stem)
    end
  end
end
-- Stamp a write: a new updated_at, the top of the listing, the expiry slid to now + ttl.
local function touch(stem, now)
  local rec = stem .. ':r'
  local f = redis.call('HMGET', rec, 'u', 'tu')
  if f[1] then
    redis.call('ZREM', KEYS[1], member(tonumber(f[1]), stem))
  end
  local u = stamp(now)
  redis.call('HSET', rec, 'u', int(u))
  redis.call('ZADD', KEYS[1], 0, member(u, stem))
  if f[2] then
    -- The expiry counts from the clock, not from the (maybe bumped) stamp.
    local x = int(now + tonumber(f[2]))
    redis.call('HSET', rec, 'x', x)
    redis.call('ZADD', KEYS[3], x, stem)
  end
  return u
end
-- Drop the messages at positions start.. (start below the length).
local function cut(stem, start)
  for _, child in ipairs(redis.call('SMEMBERS', stem .. ':f')) do
    if tonumber(redis.call('HGET', child .. ':r', 'bp') or '0') > start then
      materialise(child)
    end
  end
  local rec = stem .. ':r'
  local f = redis.call('HMGET', rec, 'base', 'bp')
  local base, bp = f[1], tonumber(f[2] or '0')
  if base and start < bp then
    -- The kept prefix lies wholly in the base, which cannot change under us
    -- (editing it would have materialised this session first).
    redis.call('DEL', stem .. ':m')
    if start == 0 then
      redis.call('HDEL', rec, 'base', 'bp')
      redis.call('SREM', base .. ':f', stem)
    else
      redis.call('HSET', rec, 'bp', start)
    end
  elseif start == bp then
    redis.call('DEL', stem .. ':m')
  else
    redis.call('LTRIM', stem .. ':m', 0, start - bp - 1)
  end
end
local function push(key, first)
  for j = first, #ARGV, 1000 do
    redis.call('RPUSH', key, unpack(ARGV, j, math.min(j + 999, #ARGV)))
  end
end
-- The length an earlier write with this token produced, or nil ('' is no token).
local function recall(stem, token)
  if token == '' then
    return nil
  end
  local done = redis.call('HGET', stem .. ':t', token)
  return done and tonumber(done)
end
-- Remember a token with the length its write produced; forget the oldest past KEPT.
local function remember(stem, token, n)
  if token == '' then
    return
  end
  local tokens, order = stem .. ':t', stem .. ':q'
  if redis.call('HSET', tokens, token, n) == 1 then
    redis.call('RPUSH', order, token)
    if redis.call('LLEN', order) > KEPT then
      redis.call('HDEL', tokens, redis.call('LPOP', order))
    end
  end
end
"""
)


CREATE = Script(
    "create",
    PRELUDE
    + r"""
-- ARGV = stem, id, has_label, label, meta, ttl ('' = none), ttl_us.
local now = now_us()
sweep(now)
local stem = ARGV[1]
if find(stem, now) then
  return {0}
end
local rec = stem .. ':r'
redis.call('HSET', rec, 'id', ARGV[2], 'meta', ARGV[5], 'n', 0)
if ARGV[3] == '1' then
  redis.call('HSET', rec, 'label', ARGV[4])
end
if ARGV[6] ~= '' then
  redis.call('HSET', rec, 'ttl', ARGV[6], 'tu', ARGV[7])
end
redis.call('HSET', rec, 'c', int(touch(stem, now)))
return {1, redis.call('HGETALL', rec)}
""",
)

FORK = Script(
    "fork",
    PRELUDE
    + r"""
-- ARGV = parent stem, child stem, child id, parent id, at ('' = all), has_label, label,
--        meta, ttl ('' = none), ttl_us.
local now = now_us()
sweep(now)
local pstem, stem = ARGV[1], ARGV[2]
local pn = find(pstem, now)
if not pn then
  return {-1}
end
if find(stem, now) then
  return {0}
end
local at = pn
if ARGV[5] ~= '' then
  at = tonumber(ARGV[5])
end
if at > pn then
  return {-3, pn}
end
local rec = stem .. ':r'
redis.call('HSET', rec, 'id', ARGV[3], 'parent', ARGV[4], 'fp', at, 'n', at, 'meta', ARGV[8])
if ARGV[6] == '1' then
  redis.call('HSET', rec, 'label', ARGV[7])
end
if ARGV[9] ~= '' then
  redis.call('HSET', rec, 'ttl', ARGV[9], 'tu', ARGV[10])
end
if at > 0 then
  redis.call('HSET', rec, 'base', pstem, 'bp', at)
  redis.call('SADD', pstem .. ':f', stem)
end
redis.call('HSET', rec, 'c', int(touch(stem, now)))
return {1, redis.call('HGETALL', rec)}
""",
)

WRITE = Script(
    "write",
    PRELUDE
    + r"""
-- ARGV = stem, start ('' = append), expected ('' = any), token ('' = none), has_label,
--        label, has_meta, meta, messages...  Returns {1, new length}.
local now = now_us()
sweep(now)
local stem = ARGV[1]
local n = find(stem, now)
if not n then
  return {-1}
end
-- A token already applied answers before any length check: a retry of a
-- write that landed must not turn into a conflict.
local done = recall(stem, ARGV[4])
if done then
  return {1, done}
end
if ARGV[3] ~= '' and n ~= tonumber(ARGV[3]) then
  return {-2, n}
end
local start = n
if ARGV[2] ~= '' then
  start = tonumber(ARGV[2])
end
if start ~= n then
  if start > n then
    return {-3, n}
  end
  cut(stem, start)
end
push(stem .. ':m', 9)
local rec = stem .. ':r'
local total = start + #ARGV - 8
redis.call('HSET', rec, 'n', total)
if ARGV[5] == '1' then
  redis.call('HSET', rec, 'label', ARGV[6])
end
if ARGV[7] == '1' then
  redis.call('HSET', rec, 'meta', ARGV[8])
end
touch(stem, now)
remember(stem, ARGV[4], total)
return {1, total}
""",
)

POP = Script(
    "pop",
    PRELUDE
    + r"""
-- ARGV = stem, n, expected ('' = any). Returns {1, {popped messages in order}}.
local now = now_us()
sweep(now)
local stem = ARGV[1]
local n = find(stem, now)
if not n then
  return {-1}
end
if ARGV[3] ~= '' and n ~= tonumber(ARGV[3]) then
  return {-2, n}
end
local start = math.max(0, n - tonumber(ARGV[2]))
local popped = {}
if start < n then
  popped = read_range(stem, start, n)
  cut(stem, start)
  redis.call('HSET', stem .. ':r', 'n', start)
end
touch(stem, now)
return {1, popped}
""",
)

READ = Script(
    "read",
    PRELUDE
    + r"""
-- ARGV = stem, last ('' = all). Reads change nothing, not even the expiry.
local n = length(ARGV[1], now_us())
if not n then
  return {-1}
end
local lo = 0
if ARGV[2] ~= '' then
  lo = math.max(0, n - tonumber(ARGV[2]))
end
return {1, read_range(ARGV[1], lo, n)}
""",
)

GET = Script(
    "get",
    PRELUDE
    + r"""
-- ARGV = stem. Returns {1, record} for a live session, else {-1}.
if not length(ARGV[1], now_us()) then
  return {-1}
end
return {1, redis.call('HGETALL', ARGV[1] .. ':r')}
""",
)

LIST = Script(
    "list",
    PRELUDE
    + r"""
-- ARGV = cursor member ('' = from the newest), limit. Returns {more, {member, record, ...}}.
-- Expired sessions not yet reclaimed are skipped (a later write reclaims them).
local limit = tonumber(ARGV[2])
local now = now_us()
local max = '+'
if ARGV[1] ~= '' then
  max = '(' .. ARGV[1]
end
local out = {}
local found = 0
while true do
  local members = redis.call('ZREVRANGEBYLEX', KEYS[1], max, '-', 'LIMIT', 0, limit + 1)
  for _, m in ipairs(members) do
    local stem = string.sub(m, 21)
    if length(stem, now) then
      if found == limit then
        return {1, out}
      end
      found = found + 1
      out[#out + 1] = m
      out[#out + 1] = redis.call('HGETALL', stem .. ':r')
    end
  end
  if #members <= limit then
    return {0, out}
  end
  max = '(' .. members[#members]
end
""",
)

UPDATE = Script(
    "update",
    PRELUDE
    + r"""
-- ARGV = stem, has_label, label, has_meta, meta.
local now = now_us()
sweep(now)
local stem = ARGV[1]
if not find(stem, now) then
  return {-1}
end
local rec = stem .. ':r'
if ARGV[2] == '1' then
  redis.call('HSET', rec, 'label', ARGV[3])
end
if ARGV[4] == '1' then
  redis.call('HSET', rec, 'meta', ARGV[5])
end
touch(stem, now)
return {1, redis.call('HGETALL', rec)}
""",
)

DELETE = Script(
    "delete",
    PRELUDE
    + r"""
-- ARGV = stem. Forks get their own copy of what they shared. Returns 1 if it was live.
local now = now_us()
sweep(now)
if not find(ARGV[1], now) then
  return 0
end
remove(ARGV[1])
return 1
""",
)


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


class OldSessions(SessionDocumentsBase):
    """The session primitives of the previous layout (every key under ``{:sessions}``)."""

    _keys: KeyLayout

    # The client comes from RedisStore, the class this one is mixed into.
    _redis: aioredis.Redis

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
        reply = await self._run(CREATE, new.scope, args)
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
        reply = await self._run(FORK, fork.scope, args)
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
        reply = await self._run(WRITE, write.scope, args, once=once)
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
        reply = await self._run(POP, pop.scope, args, once=once)
        status = reply[0]
        if status == -1:
            raise session_not_found(pop.session_id)
        if status == -2:
            assert pop.expected_length is not None  # the script compares only then
            raise length_conflict(pop.session_id, pop.expected_length, reply[1])
        return [_decode(message) for message in reply[1]]

    async def _read_messages(self, session_id: str, last: int | None, scope: str) -> list[str]:
        args = [self._keys.session_stem(session_id, scope), _optional(last)]
        reply = await self._run(READ, scope, args)
        if reply[0] == -1:
            raise session_not_found(session_id)
        return [_decode(message) for message in reply[1]]

    async def _get_session(self, session_id: str, scope: str) -> SessionRecord | None:
        reply = await self._run(GET, scope, [self._keys.session_stem(session_id, scope)])
        return None if reply[0] == -1 else self._record(reply[1], scope)

    async def _list_sessions(self, limit: int, cursor: str | None, scope: str) -> SessionPage:
        after = b""
        if cursor is not None:
            # The listing member after which the page starts: update time and session.
            stamp, session_id = decode_cursor(cursor, int, str)
            after = b"%020d" % stamp + self._keys.session_stem(session_id, scope)
        more, flat = await self._run(LIST, scope, [after, limit])
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
        reply = await self._run(UPDATE, scope, args)
        if reply[0] == -1:
            raise session_not_found(session_id)
        return self._record(reply[1], scope)

    async def _delete_session(self, session_id: str, scope: str) -> bool:
        args = [self._keys.session_stem(session_id, scope)]
        return bool(await self._run(DELETE, scope, args))

    async def _scopes(self) -> AsyncIterator[str]:
        # For tooling: a listing exists while its scope holds a session (an
        # empty sorted set is deleted), so SCAN over the listings finds every
        # scope; SCAN may return a key twice and the SDK drops repeats.
        keys = self._keys
        if await self._redis.exists(keys.listing):
            yield ""
        async for key in self._redis.scan_iter(match=keys.scope_glob(), count=1000):
            yield keys.scope_of_listing(key)


class OldLayoutStore(OldSessions, RedisStore):  # type: ignore[misc]
    """A redis store whose sessions use the previous layout."""
