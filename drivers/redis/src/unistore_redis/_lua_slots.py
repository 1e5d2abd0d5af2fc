"""Lua scripts for slot and namespace operations (one round trip each).

Each namespace has two indexes of its escaped slot names: ``idx`` scores each
name with the slot's absolute expiry in milliseconds (``+inf`` for a slot
that never expires), ``names`` scores every name 0, so that a prefix is one
``ZRANGEBYLEX`` range (a lexical range is only defined on equal scores).
Every script that writes a slot sets the slot's expiry with
``PXAT``/``PEXPIREAT`` to exactly the score it records (or removes it, for
``+inf``), prunes members whose expiry has passed from both indexes and gives
both the largest expiry of their members, so the indexes never outlive their
namespace and never keep dead entries for long. (The one-slot ``set`` prunes
only when it adds a member: an overwrite cannot grow the indexes.)

A namespace written before ``names`` existed has ``idx`` only: the first
script that needs ``names`` builds it from ``idx`` (:func:`adopt`), once.

Scripts read the server clock with ``TIME`` (allowed since Redis 5: scripts
replicate their effects, not their code).
"""

from __future__ import annotations

from unistore_redis._script import Script

__all__ = ["APPLY", "EXPIRE", "INCR", "PURGE", "SET", "SLOTS", "TOUCH"]

# Shared helpers, prepended to each script.
_PRELUDE = r"""
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function int(x)
  return string.format('%.0f', x)
end
-- The index score of a slot written now with ttl_ms (0: never expires).
local function expiry(now, ttl)
  if ttl == 0 then
    return '+inf'
  end
  return int(now + ttl)
end
-- Build the name index of a namespace written before it existed.
local function adopt(idx, names)
  if redis.call('EXISTS', names) == 1 then
    return
  end
  local all = redis.call('ZRANGE', idx, 0, -1)
  for i = 1, #all, 1000 do
    local pairs_ = {}
    for j = i, math.min(i + 999, #all) do
      pairs_[#pairs_ + 1] = 0
      pairs_[#pairs_ + 1] = all[j]
    end
    redis.call('ZADD', names, unpack(pairs_))
  end
end
-- Record a slot in both indexes. Once adopt() has run, the name index holds
-- every member of the expiry index: a member the expiry index already had
-- is in the name index already, and the second ZADD is skipped.
local function index(idx, names, member, at)
  if redis.call('ZADD', idx, at, member) == 1 then
    redis.call('ZADD', names, 0, member)
  end
end
local function unindex(idx, names, member)
  redis.call('ZREM', idx, member)
  redis.call('ZREM', names, member)
end
-- Drop the members whose expiry has passed from both indexes.
local function prune(idx, names, now)
  local dead = redis.call('ZRANGEBYSCORE', idx, '-inf', int(now))
  for i = 1, #dead, 1000 do
    local chunk = {unpack(dead, i, math.min(i + 999, #dead))}
    redis.call('ZREM', idx, unpack(chunk))
    redis.call('ZREM', names, unpack(chunk))
  end
end
-- Give both indexes the expiry of their longest-lived member.
local function expire_indexes(idx, names)
  local top = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
  if top[2] == 'inf' then
    redis.call('PERSIST', idx)
    redis.call('PERSIST', names)
  elseif top[2] then
    redis.call('PEXPIREAT', idx, top[2])
    redis.call('PEXPIREAT', names, top[2])
  end
end
-- Prune, then give both indexes the expiry of their longest-lived member.
local function reindex(idx, names, now)
  prune(idx, names, now)
  expire_indexes(idx, names)
end
"""

APPLY = Script(
    "apply",
    _PRELUDE
    + r"""
-- Apply a batch of slot writes. KEYS[1] = expiry index, KEYS[2] = name index,
-- KEYS[i+2] = key of op i.
-- ARGV is a stream of ops:  S member value ttl_ms | D member
--                          | H member ttl_ms nfields f1 v1 ... | X member nfields f1 ...
-- (ttl_ms 0: no expiry). Every op is checked before anything is written, so a
-- kind error writes nothing.
local idx, names = KEYS[1], KEYS[2]
local ops = {}
local kinds = {}
local pos = 1
for i = 3, #KEYS do
  local key = KEYS[i]
  local op = {code = ARGV[pos], key = key, member = ARGV[pos + 1]}
  pos = pos + 2
  if op.code == 'S' then
    op.value = ARGV[pos]; op.ttl = tonumber(ARGV[pos + 1]); pos = pos + 2
    kinds[key] = 'string'
  elseif op.code == 'D' then
    kinds[key] = 'none'
  else
    local kind = kinds[key]
    if kind == nil then
      kind = redis.call('TYPE', key)['ok']
    end
    if kind ~= 'none' and kind ~= 'hash' then
      return redis.error_reply('WRONGTYPE the slot holds a scalar, not a hash')
    end
    if op.code == 'H' then
      op.ttl = tonumber(ARGV[pos]); op.count = tonumber(ARGV[pos + 1])
      op.first = pos + 2; pos = pos + 2 + 2 * op.count
      kinds[key] = 'hash'
    else
      op.count = tonumber(ARGV[pos]); op.first = pos + 1; pos = pos + 1 + op.count
    end
  end
  ops[#ops + 1] = op
end
adopt(idx, names)
local now = now_ms()
local results = {}
for i, op in ipairs(ops) do
  local r = 0
  if op.code == 'S' then
    local at = expiry(now, op.ttl)
    if op.ttl == 0 then
      -- SET without an expiry option also drops an expiry the slot had.
      redis.call('SET', op.key, op.value)
    else
      redis.call('SET', op.key, op.value, 'PXAT', at)
    end
    index(idx, names, op.member, at)
    r = 1
  elseif op.code == 'D' then
    r = redis.call('DEL', op.key)
    unindex(idx, names, op.member)
  elseif op.code == 'H' then
    local last = op.first + 2 * op.count - 1
    for j = op.first, last, 1000 do
      r = r + redis.call('HSET', op.key, unpack(ARGV, j, math.min(j + 999, last)))
    end
    local at = expiry(now, op.ttl)
    -- With no fields and no hash there is nothing to keep: no slot appears.
    if redis.call('EXISTS', op.key) == 1 then
      if op.ttl == 0 then
        redis.call('PERSIST', op.key)
      else
        redis.call('PEXPIREAT', op.key, at)
      end
      index(idx, names, op.member, at)
    end
  else
    local last = op.first + op.count - 1
    for j = op.first, last, 1000 do
      r = r + redis.call('HDEL', op.key, unpack(ARGV, j, math.min(j + 999, last)))
    end
    if redis.call('EXISTS', op.key) == 0 then
      unindex(idx, names, op.member)
    end
  end
  results[i] = r
end
reindex(idx, names, now)
return results
""",
)

# The write of one scalar slot, the hottest write: what APPLY does for one
# "S" op, with the fewest server calls. Overwriting a slot whose new expiry is
# the largest in its namespace (the usual case) takes SET, PEXPIRETIME, ZADD
# and two PEXPIREATs on Redis 7 (which has PEXPIRETIME and PEXPIREAT GT), and
# runs before the shared helpers are even defined: at concurrency 1 the
# script's own Lua work is a measurable part of a write. The largest expiry
# is read only when it may belong to another member, and expired members are
# pruned only by a write that adds one. The member is the end of the slot key
# (the key is the stem of the index key, "s:" and the member; the index key
# is the stem and "idx"), so it is not sent twice.
SET = Script(
    "set",
    r"""
-- KEYS = slot key, expiry index, name index; ARGV = value, ttl_ms (0: never).
-- Returns nothing.
local key, idx, names = KEYS[1], KEYS[2], KEYS[3]
local member = string.sub(key, #idx)
local ttl = tonumber(ARGV[2])
-- REDIS_VERSION_NUM exists from Redis 7.0 on, as do PEXPIRETIME and PEXPIREAT GT.
local seven = redis.REDIS_VERSION_NUM ~= nil
local at, added
if ttl ~= 0 and seven then
  -- Reading back the expiry Redis set costs less than TIME, and the index
  -- records exactly the slot's expiry.
  redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
  at = redis.call('PEXPIRETIME', key)
  -- A member the expiry index had already is in the name index too, or the
  -- name index does not exist yet and the next script that needs it adopts it.
  added = redis.call('ZADD', idx, at, member) == 1
  if not added then
    -- An overwrite does not grow the indexes, so it does not prune. The
    -- expiry of an index is that of its longest-lived member: when it was
    -- earlier than this slot's, this slot's is the largest now (members left
    -- unpruned expired before now). When it is equal, nothing changes.
    if redis.call('PEXPIREAT', idx, at, 'GT') == 1 then
      redis.call('PEXPIREAT', names, at)
      return
    end
    if redis.call('PEXPIRETIME', idx) == at then
      return
    end
    -- Another member may live longer (or has no expiry), the index is new,
    -- or this member was the longest-lived and now expires sooner.
  end
end
"""
    + _PRELUDE
    + r"""
local now
if ttl == 0 then
  -- SET without an expiry option also drops an expiry the slot had.
  redis.call('SET', key, ARGV[1])
  now, at = now_ms(), '+inf'
  added = redis.call('ZADD', idx, at, member) == 1
elseif seven then
  now, at = at - ttl, int(at)
  if not added then
    expire_indexes(idx, names)
    return
  end
else
  now = now_ms()
  at = int(now + ttl)
  redis.call('SET', key, ARGV[1], 'PXAT', at)
  added = redis.call('ZADD', idx, at, member) == 1
end
local fresh, adopted = false, false
if added then
  if redis.call('EXISTS', names) == 1 then
    redis.call('ZADD', names, 0, member)
  elseif redis.call('ZCARD', idx) == 1 then
    -- A new namespace: this member is all there is.
    redis.call('ZADD', names, 0, member)
    fresh = true
  else
    adopt(idx, names)
    adopted = true
  end
end
if ttl == 0 then
  prune(idx, names, now)
  -- "+inf" is the largest expiry there is.
  redis.call('PERSIST', idx)
  redis.call('PERSIST', names)
elseif fresh then
  redis.call('PEXPIREAT', idx, at)
  redis.call('PEXPIREAT', names, at)
elseif adopted then
  -- The name index is new and has no expiry yet, whatever the other's.
  reindex(idx, names, now)
else
  -- Only a write that adds a member prunes (an overwrite on Redis 7 is done
  -- above); see the overwrite above for the expiry of the indexes.
  if added then
    prune(idx, names, now)
  end
  if seven and redis.call('PEXPIREAT', idx, at, 'GT') == 1 then
    redis.call('PEXPIREAT', names, at)
  elseif not seven or redis.call('PEXPIRETIME', idx) ~= tonumber(at) then
    expire_indexes(idx, names)
  end
end
""",
)

INCR = Script(
    "incr",
    _PRELUDE
    + r"""
-- KEYS = key, expiry index, name index; ARGV = member, amount, ttl_ms (0: never).
-- Returns the new value's digits. A new counter gets the TTL; an existing one
-- keeps its expiry.
if redis.call('EXISTS', KEYS[1]) == 0 then
  adopt(KEYS[2], KEYS[3])
  local now = now_ms()
  local ttl = tonumber(ARGV[3])
  local at = expiry(now, ttl)
  if ttl == 0 then
    redis.call('SET', KEYS[1], ARGV[2])
  else
    redis.call('SET', KEYS[1], ARGV[2], 'PXAT', at)
  end
  index(KEYS[2], KEYS[3], ARGV[1], at)
  reindex(KEYS[2], KEYS[3], now)
  return ARGV[2]
end
-- INCRBY accepts only canonical decimal int64 values and refuses to leave the
-- int64 range, changing nothing; its error ("not an integer", "would overflow",
-- WRONGTYPE) goes back as it is, for the driver's error table.
local ok, res = pcall(redis.call, 'INCRBY', KEYS[1], ARGV[2])
if ok then
  -- The digits, not the Lua number: doubles lose integers beyond 2^53.
  return redis.call('GET', KEYS[1])
end
if type(res) == 'table' then
  res = res['err']
end
return redis.error_reply(tostring(res))
""",
)

EXPIRE = Script(
    "expire",
    _PRELUDE
    + r"""
-- KEYS = key, expiry index, name index; ARGV = member, ttl_ms (positive).
adopt(KEYS[2], KEYS[3])
local now = now_ms()
local at = int(now + tonumber(ARGV[2]))
if redis.call('PEXPIREAT', KEYS[1], at) == 1 then
  index(KEYS[2], KEYS[3], ARGV[1], at)
  reindex(KEYS[2], KEYS[3], now)
  return 1
end
unindex(KEYS[2], KEYS[3], ARGV[1])
return 0
""",
)

SLOTS = Script(
    "slots",
    _PRELUDE
    + r"""
-- KEYS = expiry index, name index; ARGV = slot key prefix, lexical min, lexical max.
-- Returns the escaped names of the live slots in the range, reading only those.
adopt(KEYS[1], KEYS[2])
reindex(KEYS[1], KEYS[2], now_ms())
local live = {}
for _, member in ipairs(redis.call('ZRANGEBYLEX', KEYS[2], ARGV[2], ARGV[3])) do
  if redis.call('EXISTS', ARGV[1] .. member) == 1 then
    live[#live + 1] = member
  else
    unindex(KEYS[1], KEYS[2], member)
  end
end
return live
""",
)

TOUCH = Script(
    "touch",
    _PRELUDE
    + r"""
-- KEYS = expiry index, name index; ARGV = slot key prefix, ttl_ms (positive).
-- Returns how many slots were live; slots without expiry get one too.
adopt(KEYS[1], KEYS[2])
local now = now_ms()
local at = int(now + tonumber(ARGV[2]))
prune(KEYS[1], KEYS[2], now)
local count = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('PEXPIREAT', ARGV[1] .. member, at) == 1 then
    redis.call('ZADD', KEYS[1], at, member)
    count = count + 1
  else
    unindex(KEYS[1], KEYS[2], member)
  end
end
if count > 0 then
  redis.call('PEXPIREAT', KEYS[1], at)
  redis.call('PEXPIREAT', KEYS[2], at)
end
return count
""",
)

PURGE = Script(
    "purge",
    r"""
-- KEYS = expiry index, name index; ARGV = slot key prefix. Returns how many slots existed.
local count = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  count = count + redis.call('DEL', ARGV[1] .. member)
end
redis.call('DEL', KEYS[1], KEYS[2])
return count
""",
)
