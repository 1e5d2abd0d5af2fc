"""The Lua helpers every session script starts with: clock, generations, pins, retention, tokens.

Every script runs inside one bucket (one cluster slot). Scripts that write or
list receive ``KEYS = listing of the session's scope in the bucket, the
bucket's clock, the bucket's expiry index``; the helpers use them as
``KEYS[1]``, ``KEYS[2]`` and ``KEYS[3]``.

Generations: a session's messages live in the list of its current
generation ``g`` (record field, 0 when absent): ``S:m`` for generation 0,
``S:m:<g>`` after. The list holds the positions ``bp`` and after; the first
``bp`` come from generation ``bg`` of the session whose stem is ``base``
(a fork). A fork pins the generation it reads, in the parent's pin hash
``S:p``, before it is created. A write that cuts below the length of a
generation that a fork pins beyond the cut starts a new generation with a copy
of the kept own messages, and the pinned one stays untouched: nothing a fork
may read ever changes, so no script has to reach into another session's slot.
A generation that is no longer current is deleted when its last pin goes.

The pin hash ``S:p`` holds, per pin, ``c<nonce> <child stem>`` ->
``<generation> <fork point> <pinned at, us> <verified>``; per pinned generation ``n<g>`` (its
pins) and ``x<g>`` (the highest fork point that pinned it); ``t`` (all pins);
for a kept generation that is no longer current and reads from a base,
``b<g>`` -> ``<bp> <bg> <nonce> <base>`` and, per fork nonce, ``k<nonce>``
(how many such generations). Generation numbers come from a counter per
bucket (``<tag>:gen``), so a number is never used twice at one stem. The nonce
names one incarnation of a fork (the record's ``i``), so that a session created
again under the same id never takes over the pins of the one before.

Cross-slot follow-ups: a script cannot unpin a base in another slot, so it
lists what to unpin in ``UNPINS`` (base stem, nonce, own stem) and the pins it
found unverified in ``CHECKS`` (child stem, nonce, generation); the client
carries both out after the reply. A crash in between leaves a pin without a
child: the next write that a pin keeps from collecting a generation reports it
in ``CHECKS``, the client finds the child does not exist, and unpins. A pin
found alive is marked verified and never reported again.

Retention is logical: a session with a TTL has ``tu`` (the TTL in
microseconds) and ``x`` (its expiry stamp) in its record, and is a member of
the bucket's expiry sorted set with score ``x``. A session past ``x`` is
absent for every script; writes reclaim it when they meet it and, before their
own work, reclaim up to :data:`SWEEP_BATCH` expired sessions of the bucket.
"""

from __future__ import annotations

from typing import Final

from unistore.sdk import TOKENS_KEPT

__all__ = ["CHECKS_KEPT", "CHECK_AFTER_US", "PRELUDE", "READ_PRELUDE", "SWEEP_BATCH"]

#: Expired sessions one write reclaims at most (at least 2, so that reclaiming
#: keeps pace with sessions being created).
SWEEP_BATCH: Final = 16

#: Unverified pins one write reports at most (each costs the client two calls).
CHECKS_KEPT: Final = 16

#: Age (microseconds) a pin must have before a write reports it. 0: every
#: unverified pin of a generation that stops being current is checked at once
#: (a fork creation still on its way is then refused and pins again). A grace
#: period would spare that check, but a pin left younger than it would never
#: be checked again once its generation is kept.
CHECK_AFTER_US: Final = 0

#: Helpers of the scripts that only read (no clock, no bucket keys).
READ_PRELUDE: Final = r"""
local function int(x)
  return string.format('%.0f', x)
end
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function lkey(stem, g)
  if g == 0 then
    return stem .. ':m'
  end
  return stem .. ':m:' .. int(g)
end
-- The hash tag part of a key: keys with the same one share a cluster slot.
local function tag(stem)
  return string.match(stem, '^[^{]*{[^}]*}')
end
-- The length of a live session, or nil; the second result says it exists but
-- expired; the third is its current generation.
local function length(stem, now)
  local f = redis.call('HMGET', stem .. ':r', 'n', 'x', 'g')
  if not f[1] then
    return nil, false
  end
  if f[2] and tonumber(f[2]) <= now then
    return nil, true
  end
  return tonumber(f[1]), false, tonumber(f[3] or '0')
end
-- Where generation g of a session reads its first positions: base stem (or
-- nil), base generation, bp.
local function gen_of(stem, g)
  local f = redis.call('HMGET', stem .. ':r', 'id', 'g', 'base', 'bg', 'bp')
  if f[1] and tonumber(f[2] or '0') == g then
    return f[3] or nil, tonumber(f[4] or '0'), tonumber(f[5] or '0')
  end
  local d = redis.call('HGET', stem .. ':p', 'b' .. int(g))
  if not d then
    return nil, 0, 0
  end
  local bp, bg, _, base = string.match(d, '^(%d+) (%d+) (%S+) (.*)$')
  return base, tonumber(bg), tonumber(bp)
end
-- Messages at positions [lo, hi) of generation g of a session, following
-- bases while they share this slot. Returns the messages and, when lower
-- positions live in another slot, where to read them: {stem, g, lo, hi}.
local function read_range(stem, g, lo, hi)
  local segs = {}
  local here = tag(stem)
  local s = stem
  while hi > lo and tag(s) == here do
    local base, bg, bp = gen_of(s, g)
    if hi > bp then
      local from = math.max(lo, bp)
      segs[#segs + 1] = {lkey(s, g), from - bp, hi - bp - 1}
      hi = from
    end
    if hi > lo then
      if not base then
        error('unistore: session messages missing below position ' .. hi)
      end
      s, g = base, bg
    end
  end
  local out = {}
  for i = #segs, 1, -1 do
    local seg = segs[i]
    for _, m in ipairs(redis.call('LRANGE', seg[1], seg[2], seg[3])) do
      out[#out + 1] = m
    end
  end
  if hi > lo then
    return out, {s, int(g), int(lo), int(hi)}
  end
  return out, {}
end
"""

PRELUDE: Final = (
    f"local KEPT, SWEEP, CHECKS_KEPT = {TOKENS_KEPT}, {SWEEP_BATCH}, {CHECKS_KEPT}\n"
    f"local CHECK_AFTER = {CHECK_AFTER_US}\n"
    + READ_PRELUDE
    + r"""
local UNPINS, CHECKS = {}, {}
-- An updated_at later than every one the bucket handed out before: listing
-- positions are unique within a bucket (and ties across buckets are broken
-- by the stem).
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
local function copy(from, to, lo, hi)
  -- In chunks: Lua's unpack has a limit on arguments.
  for i = lo, hi - 1, 1000 do
    local chunk = redis.call('LRANGE', from, i, math.min(i + 999, hi - 1))
    redis.call('RPUSH', to, unpack(chunk))
  end
end
-- Report up to CHECKS_KEPT unverified pins of generation g (leak candidates)
-- pinned more than CHECK_AFTER ago.
local function check_pins(stem, g)
  local flat = redis.call('HGETALL', stem .. ':p')
  local want = int(g)
  local before = now_us() - CHECK_AFTER + 1
  for i = 1, #flat, 2 do
    if #CHECKS >= CHECKS_KEPT then
      return
    end
    local field = flat[i]
    if string.sub(field, 1, 1) == 'c' then
      local pg, _, t, v = string.match(flat[i + 1], '^(%d+) (%d+) (%d+) (%d)$')
      if pg == want and v == '0' and tonumber(t) < before then
        local nonce, child = string.match(field, '^c(%S+) (.*)$')
        CHECKS[#CHECKS + 1] = {child, nonce, pg}
      end
    end
  end
end
-- Keep a generation that stops being current (its pins still read it).
local function retain(stem, g, base, bg, bp, nonce)
  if base then
    local pins = stem .. ':p'
    local d = int(bp) .. ' ' .. int(bg) .. ' ' .. nonce .. ' ' .. base
    redis.call('HSET', pins, 'b' .. int(g), d)
    redis.call('HINCRBY', pins, 'k' .. nonce, 1)
  end
  check_pins(stem, g)
end
-- The fork incarnation `nonce` of a session no longer reads from `base`
-- unless the record or a kept generation still does: unpin it there.
local function release(stem, base, nonce)
  local f = redis.call('HMGET', stem .. ':r', 'i', 'base')
  if f[1] == nonce and f[2] then
    return
  end
  if tonumber(redis.call('HGET', stem .. ':p', 'k' .. nonce) or '0') > 0 then
    return
  end
  UNPINS[#UNPINS + 1] = {base, nonce, stem}
end
-- Drop the pin hash once no pin is left (kept generations exist only while pinned).
local function tidy(stem)
  local pins = stem .. ':p'
  if tonumber(redis.call('HGET', pins, 't') or '0') <= 0 then
    redis.call('DEL', pins)
  end
end
-- Delete generation g (not current, no pins left).
local function collect(stem, g)
  local pins = stem .. ':p'
  redis.call('DEL', lkey(stem, g))
  redis.call('HDEL', pins, 'n' .. int(g), 'x' .. int(g))
  local d = redis.call('HGET', pins, 'b' .. int(g))
  if d then
    redis.call('HDEL', pins, 'b' .. int(g))
    local _, _, nonce, base = string.match(d, '^(%d+) (%d+) (%S+) (.*)$')
    if redis.call('HINCRBY', pins, 'k' .. nonce, -1) <= 0 then
      redis.call('HDEL', pins, 'k' .. nonce)
    end
    release(stem, base, nonce)
  end
end
-- Remove the pin of a fork incarnation; collect the generation if it was its last.
local function unpin(stem, nonce, child)
  local pins = stem .. ':p'
  local field = 'c' .. nonce .. ' ' .. child
  local v = redis.call('HGET', pins, field)
  if not v then
    return 0
  end
  local pg = tonumber(string.match(v, '^(%d+)'))
  redis.call('HDEL', pins, field)
  redis.call('HINCRBY', pins, 't', -1)
  if redis.call('HINCRBY', pins, 'n' .. int(pg), -1) <= 0 then
    redis.call('HDEL', pins, 'n' .. int(pg), 'x' .. int(pg))
    local f = redis.call('HMGET', stem .. ':r', 'id', 'g')
    if not (f[1] and tonumber(f[2] or '0') == pg) then
      collect(stem, pg)
    end
  end
  tidy(stem)
  return 1
end
-- Pin generation g of a session for a fork incarnation, up to fork point fp.
local function pin(stem, g, fp, nonce, child)
  local pins = stem .. ':p'
  local field = 'c' .. nonce .. ' ' .. child
  local value = int(g) .. ' ' .. int(fp) .. ' ' .. int(now_us()) .. ' 0'
  if redis.call('HSETNX', pins, field, value) == 0 then
    return
  end
  redis.call('HINCRBY', pins, 't', 1)
  redis.call('HINCRBY', pins, 'n' .. int(g), 1)
  if tonumber(redis.call('HGET', pins, 'x' .. int(g)) or '-1') < fp then
    redis.call('HSET', pins, 'x' .. int(g), int(fp))
  end
end
local function pinned_beyond(stem, g, start)
  return tonumber(redis.call('HGET', stem .. ':p', 'x' .. int(g)) or '-1') > start
end
-- Delete a session: its record, listing entry, tokens; its messages unless forks pin them.
local function remove(stem)
  local rec = stem .. ':r'
  local f = redis.call('HMGET', rec, 'u', 'g', 'base', 'bg', 'bp', 'i')
  if f[1] then
    redis.call('ZREM', listing_of(stem), member(tonumber(f[1]), stem))
  end
  redis.call('ZREM', KEYS[3], stem)
  redis.call('DEL', rec, stem .. ':t', stem .. ':q')
  local g = tonumber(f[2] or '0')
  if tonumber(redis.call('HGET', stem .. ':p', 'n' .. int(g)) or '0') > 0 then
    retain(stem, g, f[3] or nil, tonumber(f[4] or '0'), tonumber(f[5] or '0'), f[6] or '-')
  else
    redis.call('DEL', lkey(stem, g))
    if f[3] then
      release(stem, f[3], f[6] or '-')
    end
  end
  tidy(stem)
end
-- What a write finds at a stem: the live length (and generation) or nil,
-- reclaiming an expired session.
local function find(stem, now)
  local n, dead, g = length(stem, now)
  if dead then
    remove(stem)
  end
  return n, g
end
-- Reclaim a bounded batch of the bucket's expired sessions, soonest expired first.
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
-- A generation number never used in this bucket: a session created again
-- under an old id never meets the generations that forks of the old one pin.
local function new_gen(stem)
  return redis.call('INCR', tag(stem) .. ':gen')
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
-- Drop the messages at positions start.. (start below the length). Returns
-- the key the next messages go to.
local function cut(stem, start)
  local rec = stem .. ':r'
  local f = redis.call('HMGET', rec, 'g', 'base', 'bg', 'bp', 'i')
  local g, base, bp = tonumber(f[1] or '0'), f[2] or nil, tonumber(f[4] or '0')
  local key = lkey(stem, g)
  if pinned_beyond(stem, g, start) then
    -- A fork reads past the cut: it keeps this generation as it is.
    retain(stem, g, base, tonumber(f[3] or '0'), bp, f[5] or '-')
    g = new_gen(stem)
    local next_key = lkey(stem, g)
    copy(key, next_key, 0, start - bp)
    redis.call('HSET', rec, 'g', int(g))
    key = next_key
  elseif start <= bp then
    redis.call('DEL', key)
  else
    redis.call('LTRIM', key, 0, start - bp - 1)
  end
  if base and start < bp then
    if start == 0 then
      redis.call('HDEL', rec, 'base', 'bg', 'bp')
      release(stem, base, f[5] or '-')
    else
      redis.call('HSET', rec, 'bp', start)
    end
  end
  return key
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
