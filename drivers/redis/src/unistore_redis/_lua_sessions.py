"""Lua scripts for session documents (one round trip per operation).

Every key these scripts touch shares the hash tag of the listing, which each
script receives in ``KEYS`` (see :mod:`unistore_redis._keys`), so the scripts
stay valid on Redis Cluster.

A session with key stem ``S`` has a record hash ``S:r`` (``id``, ``label``,
``parent``, ``fp``, ``meta``, ``c``, ``u``, ``n`` and, for a fork that still
shares messages, ``base``/``bp``), its own messages in the list ``S:m`` and the
stems of the forks based on it in the set ``S:f``.

Storage of a fork: its first ``bp`` messages are the first ``bp`` messages of
the session whose stem is ``base`` (recursively); ``S:m`` holds the messages at
positions ``bp`` and after. Before a session drops messages that a fork still
shares (an edit or a delete), the fork is *materialised*: it gets its own copy
and loses its ``base`` pointer. ``parent``/``fp`` keep the recorded lineage.

The listing index is a ZSET whose members all have score 0 and sort
lexically as ``<updated_at in microseconds, 20 digits><stem>``: a page is one
``ZREVRANGEBYLEX`` from the cursor (the last member seen). ``updated_at``
comes from a per-store clock key that only moves forward, so two sessions never
share a timestamp.
"""

from __future__ import annotations

from unistore_redis._script import Script

__all__ = ["APPEND", "CREATE", "DELETE", "FORK", "LIST", "READ", "UPDATE"]

_PRELUDE = r"""
local function int(x)
  return string.format('%.0f', x)
end
local function stamp(clock)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local last = tonumber(redis.call('GET', clock) or '0')
  if now <= last then
    now = last + 1
  end
  redis.call('SET', clock, int(now))
  return now
end
local function member(ts, stem)
  return string.format('%020.0f', ts) .. stem
end
-- Give the session a new updated_at and move it to the top of the listing.
local function relist(listing, clock, stem)
  local rec = stem .. ':r'
  local old = redis.call('HGET', rec, 'u')
  if old then
    redis.call('ZREM', listing, member(tonumber(old), stem))
  end
  local now = stamp(clock)
  redis.call('HSET', rec, 'u', int(now))
  redis.call('ZADD', listing, 0, member(now, stem))
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
local function push(key, first)
  for j = first, #ARGV, 1000 do
    redis.call('RPUSH', key, unpack(ARGV, j, math.min(j + 999, #ARGV)))
  end
end
"""

CREATE = Script(
    "create",
    _PRELUDE
    + r"""
-- KEYS = listing, clock; ARGV = stem, id, has_label, label, meta.
local stem = ARGV[1]
local rec = stem .. ':r'
if redis.call('EXISTS', rec) == 1 then
  return {0}
end
local now = int(stamp(KEYS[2]))
redis.call('HSET', rec, 'id', ARGV[2], 'meta', ARGV[5], 'c', now, 'u', now, 'n', 0)
if ARGV[3] == '1' then
  redis.call('HSET', rec, 'label', ARGV[4])
end
redis.call('ZADD', KEYS[1], 0, member(tonumber(now), stem))
return {1, redis.call('HGETALL', rec)}
""",
)

FORK = Script(
    "fork",
    _PRELUDE
    + r"""
-- KEYS = listing, clock
-- ARGV = parent stem, child stem, child id, parent id, at ('' = all), has_label, label, meta.
local pstem, stem = ARGV[1], ARGV[2]
local rec = stem .. ':r'
local pn = redis.call('HGET', pstem .. ':r', 'n')
if not pn then
  return {-1}
end
pn = tonumber(pn)
local at = pn
if ARGV[5] ~= '' then
  at = tonumber(ARGV[5])
end
if at < 0 or at > pn then
  return {-3, pn}
end
if redis.call('EXISTS', rec) == 1 then
  return {0}
end
local now = int(stamp(KEYS[2]))
redis.call('HSET', rec, 'id', ARGV[3], 'parent', ARGV[4], 'fp', at, 'n', at,
  'meta', ARGV[8], 'c', now, 'u', now)
if ARGV[6] == '1' then
  redis.call('HSET', rec, 'label', ARGV[7])
end
if at > 0 then
  redis.call('HSET', rec, 'base', pstem, 'bp', at)
  redis.call('SADD', pstem .. ':f', stem)
end
redis.call('ZADD', KEYS[1], 0, member(tonumber(now), stem))
return {1, redis.call('HGETALL', rec)}
""",
)

APPEND = Script(
    "append",
    _PRELUDE
    + r"""
-- KEYS = listing, clock
-- ARGV = stem, start ('' = append), expected, has_label, label, has_meta, meta, messages...
local stem = ARGV[1]
local rec = stem .. ':r'
local n = redis.call('HGET', rec, 'n')
if not n then
  return {-1}
end
n = tonumber(n)
if n ~= tonumber(ARGV[3]) then
  return {-2, n}
end
local start = n
if ARGV[2] ~= '' then
  start = tonumber(ARGV[2])
end
if start ~= n then
  if start < 0 or start > n then
    return {-3, n}
  end
  for _, child in ipairs(redis.call('SMEMBERS', stem .. ':f')) do
    if tonumber(redis.call('HGET', child .. ':r', 'bp') or '0') > start then
      materialise(child)
    end
  end
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
push(stem .. ':m', 8)
redis.call('HSET', rec, 'n', start + #ARGV - 7)
if ARGV[4] == '1' then
  redis.call('HSET', rec, 'label', ARGV[5])
end
if ARGV[6] == '1' then
  redis.call('HSET', rec, 'meta', ARGV[7])
end
relist(KEYS[1], KEYS[2], stem)
return {1, redis.call('HGETALL', rec)}
""",
)

READ = Script(
    "read",
    _PRELUDE
    + r"""
-- KEYS = listing (never read: it names the hash tag every session key shares)
-- ARGV = stem, last ('' = all).
local n = redis.call('HGET', ARGV[1] .. ':r', 'n')
if not n then
  return {-1}
end
n = tonumber(n)
local lo = 0
if ARGV[2] ~= '' then
  lo = math.max(0, n - tonumber(ARGV[2]))
end
return {1, read_range(ARGV[1], lo, n)}
""",
)

LIST = Script(
    "list",
    r"""
-- KEYS = listing; ARGV = cursor member ('' = from the newest), limit.
local limit = tonumber(ARGV[2])
local max = '+'
if ARGV[1] ~= '' then
  max = '(' .. ARGV[1]
end
local members = redis.call('ZREVRANGEBYLEX', KEYS[1], max, '-', 'LIMIT', 0, limit + 1)
local out = {}
for i, m in ipairs(members) do
  if i > limit then
    break
  end
  out[#out + 1] = m
  out[#out + 1] = redis.call('HGETALL', string.sub(m, 21) .. ':r')
end
local more = 0
if #members > limit then
  more = 1
end
return {more, out}
""",
)

UPDATE = Script(
    "update",
    _PRELUDE
    + r"""
-- KEYS = listing, clock; ARGV = stem, has_label, label, has_meta, meta.
local rec = ARGV[1] .. ':r'
if redis.call('EXISTS', rec) == 0 then
  return {-1}
end
if ARGV[2] == '1' then
  redis.call('HSET', rec, 'label', ARGV[3])
end
if ARGV[4] == '1' then
  redis.call('HSET', rec, 'meta', ARGV[5])
end
relist(KEYS[1], KEYS[2], ARGV[1])
return {1, redis.call('HGETALL', rec)}
""",
)

DELETE = Script(
    "delete",
    _PRELUDE
    + r"""
-- KEYS = listing; ARGV = stem. Forks get their own copy of what they shared.
local stem = ARGV[1]
local rec = stem .. ':r'
local u = redis.call('HGET', rec, 'u')
if not u then
  return 0
end
for _, child in ipairs(redis.call('SMEMBERS', stem .. ':f')) do
  materialise(child)
end
local base = redis.call('HGET', rec, 'base')
if base then
  redis.call('SREM', base .. ':f', stem)
end
redis.call('ZREM', KEYS[1], member(tonumber(u), stem))
redis.call('DEL', rec, stem .. ':m', stem .. ':f')
return 1
""",
)
