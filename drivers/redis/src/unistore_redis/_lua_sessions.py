"""Lua scripts for session documents: one single-slot script per step.

Every key a script touches carries the hash tag of one bucket (see
:mod:`unistore_redis._buckets`), so each script runs on one cluster slot.
Writes and listings receive ``KEYS = listing of the scope in the bucket, the
bucket's clock, the bucket's expiry index`` and start with the helpers of
:mod:`unistore_redis._lua_session_helpers`.

A session with key stem ``S`` has a record hash ``S:r`` (``id``, ``label``,
``parent``, ``fp``, ``meta``, ``c``, ``u``, ``n``, ``g``; for a fork that
still shares messages ``base``/``bg``/``bp`` and its incarnation nonce ``i``;
for a session with a TTL ``ttl``, ``tu`` and ``x``), the messages of its
generations (``S:m:<g>``; ``S:m`` for generation 0), the pins of its forks in
``S:p`` and, once a write carried a token, its latest tokens in ``S:t``
(token -> length) and ``S:q`` (oldest first).

A listing is a sorted set whose members all have score 0 and sort lexically
as ``<updated_at in microseconds, 20 digits><stem>``: a page of one bucket is
one ``ZREVRANGEBYLEX`` from the cursor (the last member seen). The client
merges the buckets' pages.

Replies of writes: ``{status, value, unpins, checks[, pending read]}``.
Status codes: 1 done, 2 pin further down (fork), 0 the id is taken, -1 no
such session, -2 length conflict, -3 position out of range, -4 the fork's pin
was revoked (pin again).
"""

from __future__ import annotations

from unistore_redis._lua_session_helpers import PRELUDE, READ_PRELUDE
from unistore_redis._script import Script

__all__ = [
    "CREATE",
    "DELETE",
    "FORK_CREATE",
    "FORK_PIN",
    "GET",
    "LIST",
    "LIST_MERGED",
    "MARK",
    "META",
    "PIN_GEN",
    "POP",
    "READ",
    "READ_GEN",
    "UNPIN",
    "UPDATE",
    "VERIFY",
    "WRITE",
]

_PIN_OR_REDIRECT = r"""
-- Pin generation g of s, or the generation of its base when the fork point
-- lies wholly in the base (a read never walks a session it gets nothing from).
local function pin_or_redirect(s, g, at, nonce, child)
  local here = tag(s)
  while true do
    local base, bg, bp = gen_of(s, g)
    if not (base and at <= bp) then
      pin(s, g, at, nonce, child)
      return {1, {s, int(g), int(at)}}
    end
    if tag(base) ~= here then
      return {2, {base, int(bg), int(at)}}
    end
    s, g = base, bg
  end
end
"""

CREATE = Script(
    "create",
    PRELUDE
    + r"""
-- ARGV = stem, id, has_label, label, meta, ttl ('' = none), ttl_us, messages...
local now = now_us()
sweep(now)
local stem = ARGV[1]
if find(stem, now) then
  return {0, 0, UNPINS, CHECKS}
end
local rec = stem .. ':r'
local g = new_gen(stem)
redis.call('HSET', rec, 'id', ARGV[2], 'meta', ARGV[5], 'n', #ARGV - 7, 'g', g)
if ARGV[3] == '1' then
  redis.call('HSET', rec, 'label', ARGV[4])
end
if ARGV[6] ~= '' then
  redis.call('HSET', rec, 'ttl', ARGV[6], 'tu', ARGV[7])
end
push(lkey(stem, g), 8)
redis.call('HSET', rec, 'c', int(touch(stem, now)))
return {1, redis.call('HGETALL', rec), UNPINS, CHECKS}
""",
)

FORK_PIN = Script(
    "fork_pin",
    PRELUDE
    + _PIN_OR_REDIRECT
    + r"""
-- ARGV = parent stem, at ('' = all), nonce, child stem. Pins what the fork
-- will read: {1, {stem, g, at}}, or {2, {base, bg, at}} to pin there instead.
local now = now_us()
sweep(now)
local pstem = ARGV[1]
local pn = find(pstem, now)
if not pn then
  return {-1, 0, UNPINS, CHECKS}
end
local at = pn
if ARGV[2] ~= '' then
  at = tonumber(ARGV[2])
end
if at > pn then
  return {-3, pn, UNPINS, CHECKS}
end
if at == 0 then
  return {1, {'', '0', '0'}, UNPINS, CHECKS}
end
local g = tonumber(redis.call('HGET', pstem .. ':r', 'g') or '0')
local reply = pin_or_redirect(pstem, g, at, ARGV[3], ARGV[4])
reply[3], reply[4] = UNPINS, CHECKS
return reply
""",
)

PIN_GEN = Script(
    "pin_gen",
    PRELUDE
    + _PIN_OR_REDIRECT
    + r"""
-- ARGV = stem, g, at, nonce, child stem. Like FORK_PIN, for a generation a
-- fork found in its parent's base; {0} when that generation is gone since.
local stem, g = ARGV[1], tonumber(ARGV[2])
local f = redis.call('HMGET', stem .. ':r', 'id', 'g')
local current = f[1] and tonumber(f[2] or '0') == g
if not current and not redis.call('HGET', stem .. ':p', 'n' .. int(g)) then
  return {0, 0, UNPINS, CHECKS}
end
local reply = pin_or_redirect(stem, g, tonumber(ARGV[3]), ARGV[4], ARGV[5])
reply[3], reply[4] = UNPINS, CHECKS
return reply
""",
)

FORK_CREATE = Script(
    "fork_create",
    PRELUDE
    + r"""
-- ARGV = stem, id, parent id, fork point, has_label, label, meta, ttl ('' = none),
--        ttl_us, base stem ('' = none), base generation, nonce.
local now = now_us()
sweep(now)
local stem = ARGV[1]
local revoked = stem .. ':z:' .. ARGV[12]
if ARGV[10] ~= '' and redis.call('EXISTS', revoked) == 1 then
  -- A check found the pin without a child and dropped it: the base may be gone.
  redis.call('DEL', revoked)
  return {-4, 0, UNPINS, CHECKS}
end
local rec = stem .. ':r'
if redis.call('HGET', rec, 'i') == ARGV[12] then
  -- This very fork, created by an attempt whose reply was lost.
  return {1, redis.call('HGETALL', rec), UNPINS, CHECKS}
end
if find(stem, now) then
  return {0, 0, UNPINS, CHECKS}
end
local fp = tonumber(ARGV[4])
local g = new_gen(stem)
redis.call('HSET', rec, 'id', ARGV[2], 'parent', ARGV[3], 'fp', fp, 'n', fp, 'meta', ARGV[7])
redis.call('HSET', rec, 'g', g)
if ARGV[5] == '1' then
  redis.call('HSET', rec, 'label', ARGV[6])
end
if ARGV[8] ~= '' then
  redis.call('HSET', rec, 'ttl', ARGV[8], 'tu', ARGV[9])
end
redis.call('HSET', rec, 'i', ARGV[12])
if ARGV[10] ~= '' then
  redis.call('HSET', rec, 'base', ARGV[10], 'bg', ARGV[11], 'bp', fp)
end
redis.call('HSET', rec, 'c', int(touch(stem, now)))
return {1, redis.call('HGETALL', rec), UNPINS, CHECKS}
""",
)

WRITE = Script(
    "write",
    PRELUDE
    + r"""
-- ARGV = stem, start ('' = append), expected ('' = any), token ('' = none), has_label,
--        label, has_meta, meta, messages...  Value: the new length.
local now = now_us()
sweep(now)
local stem = ARGV[1]
local n, g = find(stem, now)
if not n then
  return {-1, 0, UNPINS, CHECKS}
end
-- A token already applied answers before any length check: a retry of a
-- write that landed must not turn into a conflict.
local done = recall(stem, ARGV[4])
if done then
  return {1, done, UNPINS, CHECKS}
end
if ARGV[3] ~= '' and n ~= tonumber(ARGV[3]) then
  return {-2, n, UNPINS, CHECKS}
end
local start = n
if ARGV[2] ~= '' then
  start = tonumber(ARGV[2])
end
local rec = stem .. ':r'
local key
if start ~= n then
  if start > n then
    return {-3, n, UNPINS, CHECKS}
  end
  key = cut(stem, start)
else
  key = lkey(stem, g)
end
push(key, 9)
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
return {1, total, UNPINS, CHECKS}
""",
)

POP = Script(
    "pop",
    PRELUDE
    + r"""
-- ARGV = stem, n, expected ('' = any). Value: the popped messages held in this
-- slot; the fifth element says where the lower ones are (see READ).
local now = now_us()
sweep(now)
local stem = ARGV[1]
local n, g = find(stem, now)
if not n then
  return {-1, 0, UNPINS, CHECKS}
end
if ARGV[3] ~= '' and n ~= tonumber(ARGV[3]) then
  return {-2, n, UNPINS, CHECKS}
end
local start = math.max(0, n - tonumber(ARGV[2]))
local popped, pending = {}, {}
if start < n then
  popped, pending = read_range(stem, g, start, n)
  cut(stem, start)
  redis.call('HSET', stem .. ':r', 'n', start)
end
touch(stem, now)
return {1, popped, UNPINS, CHECKS, pending}
""",
)

READ = Script(
    "read",
    READ_PRELUDE
    + r"""
-- ARGV = stem, last ('' = all). Reads change nothing, not even the expiry.
-- Returns {1, messages, pending}: pending ({stem, g, lo, hi} or empty) names
-- the lower positions that live in another slot (READ_GEN reads them).
local stem = ARGV[1]
local n, _, g = length(stem, now_us())
if not n then
  return {-1}
end
local lo = 0
if ARGV[2] ~= '' then
  lo = math.max(0, n - tonumber(ARGV[2]))
end
local out, pending = read_range(stem, g, lo, n)
return {1, out, pending}
""",
)

READ_GEN = Script(
    "read_gen",
    READ_PRELUDE
    + r"""
-- ARGV = stem, g, lo, hi: positions [lo, hi) of a generation a fork pins
-- (whether or not its session is still live). Returns {messages, pending}.
local out, pending = read_range(ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
return {out, pending}
""",
)

GET = Script(
    "get",
    READ_PRELUDE
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
    READ_PRELUDE
    + r"""
-- KEYS = the listing of one scope in one bucket. ARGV = cursor member
-- ('' = from the newest), limit. Returns {more, {member, ...}}: members only,
-- the client merges the buckets and then reads the records of the page.
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
  return {-1, 0, UNPINS, CHECKS}
end
local rec = stem .. ':r'
if ARGV[2] == '1' then
  redis.call('HSET', rec, 'label', ARGV[3])
end
if ARGV[4] == '1' then
  redis.call('HSET', rec, 'meta', ARGV[5])
end
touch(stem, now)
return {1, redis.call('HGETALL', rec), UNPINS, CHECKS}
""",
)

DELETE = Script(
    "delete",
    PRELUDE
    + r"""
-- ARGV = stem. Generations that forks pin stay until their last pin goes.
local now = now_us()
sweep(now)
if not find(ARGV[1], now) then
  return {0, 0, UNPINS, CHECKS}
end
remove(ARGV[1])
return {1, 1, UNPINS, CHECKS}
""",
)

UNPIN = Script(
    "unpin",
    PRELUDE
    + r"""
-- ARGV = stem, nonce, child stem. Returns the unpins it leads to.
unpin(ARGV[1], ARGV[2], ARGV[3])
return UNPINS
""",
)

VERIFY = Script(
    "verify",
    READ_PRELUDE
    + r"""
-- ARGV = child stem, nonce, base stem, base generation. 1 when the fork
-- incarnation still reads that generation; else 0, and a fork creation still
-- on its way is refused (it pins again).
local stem, nonce = ARGV[1], ARGV[2]
local f = redis.call('HMGET', stem .. ':r', 'i', 'base', 'bg')
if f[1] == nonce and f[2] == ARGV[3] and tonumber(f[3] or '0') == tonumber(ARGV[4]) then
  return 1
end
if tonumber(redis.call('HGET', stem .. ':p', 'k' .. nonce) or '0') > 0 then
  return 1
end
if f[1] ~= nonce then
  redis.call('SET', stem .. ':z:' .. nonce, '1', 'PX', 86400000)
end
return 0
""",
)

MARK = Script(
    "mark",
    READ_PRELUDE
    + r"""
-- ARGV = stem, nonce, child stem: the pin's child exists; never report it again.
local field = 'c' .. ARGV[2] .. ' ' .. ARGV[3]
local v = redis.call('HGET', ARGV[1] .. ':p', field)
if v then
  redis.call('HSET', ARGV[1] .. ':p', field, string.sub(v, 1, -2) .. '1')
end
return 0
""",
)

META = Script(
    "meta",
    r"""
-- KEYS = the store's session layout record. ARGV = bucket count, record ('1':
-- a write, which records the count if none is; '0': a read, which records
-- nothing). Returns the recorded count, or 0 when none is.
if ARGV[2] == '1' then
  redis.call('HSETNX', KEYS[1], 'buckets', ARGV[1])
end
return tonumber(redis.call('HGET', KEYS[1], 'buckets') or '0')
""",
)

LIST_MERGED = Script(
    "list_merged",
    READ_PRELUDE
    + r"""
-- Single server only (the keys span every bucket's slot). KEYS = the listings
-- of one scope in every bucket. ARGV = cursor member ('' = from the newest),
-- limit. Returns {more, {member, record, ...}}: the merge of the buckets'
-- listings, newest first, read in chunks so that a page costs O(limit + buckets).
local limit = tonumber(ARGV[2])
local now = now_us()
local chunk = math.max(2, math.ceil(2 * (limit + 1) / #KEYS))
local heads, bufs, pos, done = {}, {}, {}, {}
local function refill(i, after)
  local max = '+'
  if after ~= '' then
    max = '(' .. after
  end
  bufs[i] = redis.call('ZREVRANGEBYLEX', KEYS[i], max, '-', 'LIMIT', 0, chunk)
  pos[i] = 1
  done[i] = #bufs[i] < chunk
end
for i = 1, #KEYS do
  refill(i, ARGV[1])
end
local out, found = {}, 0
while true do
  local best = nil
  for i = 1, #KEYS do
    if pos[i] > #bufs[i] and not done[i] then
      refill(i, bufs[i][#bufs[i]])
    end
    local m = bufs[i][pos[i]]
    if m and (best == nil or m > bufs[best][pos[best]]) then
      best = i
    end
  end
  if best == nil then
    return {0, out}
  end
  local m = bufs[best][pos[best]]
  pos[best] = pos[best] + 1
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
""",
)
