"""The Lua helpers every session script starts with: clock, lookup, forks, retention, tokens.

Every session script receives ``KEYS = listing of the session's scope,
clock, expiry``. The helpers use them as ``KEYS[1]``, ``KEYS[2]`` and
``KEYS[3]``; the scripts that follow may use ``ARGV`` as they like.

Storage of a fork: its first ``bp`` messages are the first ``bp`` messages of
the session whose stem is ``base`` (recursively); ``S:m`` holds the messages
at positions ``bp`` and after. Before a session drops messages that a fork
still shares (an edit, a pop, a delete, or reclaiming it once expired), the
fork is *materialised*: it gets its own copy and loses its ``base`` pointer.

Retention is logical: a session with a TTL has ``tu`` (the TTL in
microseconds) and ``x`` (its expiry stamp) in its record, and is a member of
the expiry sorted set with score ``x``. A session past ``x`` is absent for
every script; writes reclaim it when they meet it and, before doing their own
work, reclaim up to :data:`SWEEP_BATCH` sessions whose expiry has passed.
Keys never get a native expiry: a fork may still read an expired parent's
messages until the reclaim gives the fork its own copy.
"""

from __future__ import annotations

from typing import Final

from unistore.sdk import TOKENS_KEPT

__all__ = ["PRELUDE", "SWEEP_BATCH"]

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
