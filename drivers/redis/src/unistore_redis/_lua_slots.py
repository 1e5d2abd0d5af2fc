"""Lua scripts for slot and namespace operations (one round trip each).

Each namespace has an index ``ZSET`` of escaped slot name -> absolute expiry in
milliseconds. Every script that writes a slot sets the slot's expiry with
``PXAT``/``PEXPIREAT`` to exactly the score it records, prunes members whose
expiry has passed and gives the index the largest expiry of its members, so
the index never outlives its namespace and never keeps dead entries for long.

Scripts read the server clock with ``TIME`` (allowed since Redis 5: scripts
replicate their effects, not their code).
"""

from __future__ import annotations

from unistore_redis._script import Script

__all__ = ["APPLY", "EXPIRE", "INCR", "PURGE", "SLOTS", "TOUCH"]

# Shared helpers, prepended to each script.
_PRELUDE = r"""
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function int(x)
  return string.format('%.0f', x)
end
-- Prune dead members and give the index the expiry of its longest-lived member.
local function reindex(idx, now)
  redis.call('ZREMRANGEBYSCORE', idx, '-inf', int(now))
  local top = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
  if top[2] then
    redis.call('PEXPIREAT', idx, top[2])
  end
end
"""

APPLY = Script(
    "apply",
    _PRELUDE
    + r"""
-- Apply a batch of slot writes. KEYS[1] = index, KEYS[i+1] = key of op i.
-- ARGV is a stream of ops:  S member value ttl_ms | D member
--                          | H member ttl_ms nfields f1 v1 ... | X member nfields f1 ...
-- Every op is checked before anything is written, so a kind error writes nothing.
local idx = KEYS[1]
local ops = {}
local kinds = {}
local pos = 1
for i = 2, #KEYS do
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
local now = now_ms()
local results = {}
local changed = false
for i, op in ipairs(ops) do
  local r = 0
  if op.code == 'S' then
    local at = int(now + op.ttl)
    redis.call('SET', op.key, op.value, 'PXAT', at)
    redis.call('ZADD', idx, at, op.member)
    r = 1
  elseif op.code == 'D' then
    r = redis.call('DEL', op.key)
    redis.call('ZREM', idx, op.member)
  elseif op.code == 'H' then
    local last = op.first + 2 * op.count - 1
    for j = op.first, last, 1000 do
      r = r + redis.call('HSET', op.key, unpack(ARGV, j, math.min(j + 999, last)))
    end
    local at = int(now + op.ttl)
    -- With no fields and no hash there is nothing to keep: no slot appears.
    if redis.call('PEXPIREAT', op.key, at) == 1 then
      redis.call('ZADD', idx, at, op.member)
    end
  else
    local last = op.first + op.count - 1
    for j = op.first, last, 1000 do
      r = r + redis.call('HDEL', op.key, unpack(ARGV, j, math.min(j + 999, last)))
    end
    if redis.call('EXISTS', op.key) == 0 then
      redis.call('ZREM', idx, op.member)
    end
  end
  results[i] = r
end
reindex(idx, now)
return results
""",
)

INCR = Script(
    "incr",
    _PRELUDE
    + r"""
-- KEYS = key, index; ARGV = member, amount, ttl_ms. Returns the new value's digits.
-- A new counter gets the TTL; an existing one keeps its expiry.
if redis.call('EXISTS', KEYS[1]) == 0 then
  local now = now_ms()
  local at = int(now + tonumber(ARGV[3]))
  redis.call('SET', KEYS[1], ARGV[2], 'PXAT', at)
  redis.call('ZADD', KEYS[2], at, ARGV[1])
  reindex(KEYS[2], now)
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
-- KEYS = key, index; ARGV = member, ttl_ms.
local now = now_ms()
local at = int(now + tonumber(ARGV[2]))
if redis.call('PEXPIREAT', KEYS[1], at) == 1 then
  redis.call('ZADD', KEYS[2], at, ARGV[1])
  reindex(KEYS[2], now)
  return 1
end
redis.call('ZREM', KEYS[2], ARGV[1])
return 0
""",
)

SLOTS = Script(
    "slots",
    _PRELUDE
    + r"""
-- KEYS = index; ARGV = slot key prefix. Returns the escaped names of live slots.
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', int(now))
local live = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('EXISTS', ARGV[1] .. member) == 1 then
    live[#live + 1] = member
  else
    redis.call('ZREM', KEYS[1], member)
  end
end
return live
""",
)

TOUCH = Script(
    "touch",
    _PRELUDE
    + r"""
-- KEYS = index; ARGV = slot key prefix, ttl_ms. Returns how many slots were live.
local now = now_ms()
local at = int(now + tonumber(ARGV[2]))
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', int(now))
local count = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('PEXPIREAT', ARGV[1] .. member, at) == 1 then
    redis.call('ZADD', KEYS[1], at, member)
    count = count + 1
  else
    redis.call('ZREM', KEYS[1], member)
  end
end
if count > 0 then
  redis.call('PEXPIREAT', KEYS[1], at)
end
return count
""",
)

PURGE = Script(
    "purge",
    r"""
-- KEYS = index; ARGV = slot key prefix. Returns how many slots existed.
local count = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  count = count + redis.call('DEL', ARGV[1] .. member)
end
redis.call('DEL', KEYS[1])
return count
""",
)
