"""Lua scripts for session documents (one round trip per operation).

Every key these scripts touch shares the hash tag of the listings (see
:mod:`unistore_redis._keys`), so the scripts stay valid on Redis Cluster.
Each receives ``KEYS = listing of the scope, clock, expiry`` and starts with
the helpers of :mod:`unistore_redis._lua_session_helpers`.

A session with key stem ``S`` has a record hash ``S:r`` (``id``, ``label``,
``parent``, ``fp``, ``meta``, ``c``, ``u``, ``n``; for a fork that still
shares messages ``base``/``bp``; for a session with a TTL ``ttl``, ``tu`` and
``x``), its own messages in the list ``S:m``, the stems of the forks based
on it in the set ``S:f`` and, once a write carried a token, its latest tokens
in ``S:t`` (token -> length) and ``S:q`` (oldest first).

A listing is a sorted set whose members all have score 0 and sort lexically
as ``<updated_at in microseconds, 20 digits><stem>``: a page is one
``ZREVRANGEBYLEX`` from the cursor (the last member seen). ``updated_at``
comes from a per-store clock key that only moves forward, so two sessions
never share a timestamp.

Status codes in replies: 1 done, 0 the id is taken, -1 no such session,
-2 length conflict, -3 position out of range.
"""

from __future__ import annotations

from unistore_redis._lua_session_helpers import PRELUDE
from unistore_redis._script import Script

__all__ = ["CREATE", "DELETE", "FORK", "GET", "LIST", "POP", "READ", "UPDATE", "WRITE"]

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
