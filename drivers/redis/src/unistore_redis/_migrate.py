"""Moving sessions of the previous key layout (one hash tag for all) into buckets.

Stores written before buckets existed keep every session key under the tag
``{:sessions}`` (see :class:`~unistore_redis._keys.KeyLayout`). A store that
finds such keys on its first session call moves them at once when the server
is a single node: one script per session moves its record, messages, tokens,
listing entry and expiry, and turns the forks based on it into pins of its
generation 0, atomically per session. Sessions may be moved in any order (a
fork and its base are moved by separate scripts; each rewrites its own side).
The move is resumable and safe to run twice or from several processes at
once: a script finds the old record gone and does nothing. The old clock is
deleted last and marks the store as moved.

Redis Cluster runs no script across slots, so a store there refuses session
calls until :func:`migrate` has run (the ``unistore migrate URL`` command),
which moves each session in three single-slot steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from unistore.errors import ConfigurationError
from unistore_redis._buckets import SessionLayout
from unistore_redis._keys import KeyLayout, glob_escape, unescape
from unistore_redis._lua_session_helpers import PRELUDE
from unistore_redis._script import Script

if TYPE_CHECKING:
    from unistore_redis._config import Client
    from unistore_redis._store import RedisStore

__all__ = ["has_old_sessions", "is_cluster", "migrate", "migrate_sessions"]

_MOVE = Script(
    "migrate_session",
    PRELUDE
    + r"""
-- ARGV = old stem, new stem, new base stem ('' = none), new listing, new clock,
--        new expiry, old listing, old expiry, then (old fork stem, new fork stem)...
-- Single node only: the keys span two slots. 1 moved, 0 already gone,
-- -1 a session of the new layout holds that id (left as it is).
local old, new = ARGV[1], ARGV[2]
local orec, nrec = old .. ':r', new .. ':r'
local flat = redis.call('HGETALL', orec)
if #flat == 0 then
  return 0
end
if redis.call('EXISTS', nrec) == 1 then
  return -1
end
local f = {}
for i = 1, #flat, 2 do
  f[flat[i]] = flat[i + 1]
  if flat[i] ~= 'base' and flat[i] ~= 'bp' then
    redis.call('HSET', nrec, flat[i], flat[i + 1])
  end
end
redis.call('HSET', nrec, 'g', 0)
if f['base'] then
  redis.call('HSET', nrec, 'base', ARGV[3], 'bg', 0, 'bp', f['bp'], 'i', 'm')
end
for _, suffix in ipairs({':m', ':t', ':q'}) do
  if redis.call('EXISTS', old .. suffix) == 1 then
    redis.call('RENAME', old .. suffix, new .. suffix)
  end
end
for j = 9, #ARGV, 2 do
  -- The old layout never changed a message a fork shared: pin generation 0.
  local bp = redis.call('HGET', ARGV[j] .. ':r', 'bp')
  bp = bp or redis.call('HGET', ARGV[j + 1] .. ':r', 'bp')
  if bp and tonumber(bp) > 0 then
    pin(new, 0, tonumber(bp), 'm', ARGV[j + 1])
  end
end
if f['u'] then
  local u = tonumber(f['u'])
  redis.call('ZREM', ARGV[7], member(u, old))
  redis.call('ZADD', ARGV[4], 0, member(u, new))
  if tonumber(redis.call('GET', ARGV[5]) or '0') < u then
    redis.call('SET', ARGV[5], int(u))
  end
end
redis.call('ZREM', ARGV[8], old)
if f['x'] then
  redis.call('ZADD', ARGV[6], f['x'], new)
end
redis.call('DEL', orec, old .. ':f')
return 1
""",
)


# On a cluster the old and the new keys live in different slots: read the
# old session in one script, write it in another (overwriting what a crashed
# run may have written), then delete the old keys. Session calls are refused
# until the move is done, so nothing else writes the new keys meanwhile.
_READ_OLD = Script(
    "migrate_read_old",
    r"""
-- KEYS = the old record. ARGV = old stem. Returns {record, messages, tokens,
-- token order, fork stems}, or {} when the session moved already.
local old = ARGV[1]
local rec = redis.call('HGETALL', old .. ':r')
if #rec == 0 then
  return {}
end
return {rec, redis.call('LRANGE', old .. ':m', 0, -1), redis.call('HGETALL', old .. ':t'),
  redis.call('LRANGE', old .. ':q', 0, -1), redis.call('SMEMBERS', old .. ':f')}
""",
)

_WRITE_NEW = Script(
    "migrate_write_new",
    PRELUDE
    + r"""
-- KEYS = new listing, clock, expiry. ARGV = new stem, new base ('' = none),
-- field count, fields..., message count, messages..., token count, tokens...,
-- order count, order..., then (new fork stem, fork point)...
local new = ARGV[1]
local rec = new .. ':r'
redis.call('DEL', rec, new .. ':m', new .. ':t', new .. ':q')
local i = 3
local f = {}
local n = tonumber(ARGV[i])
for j = i + 1, i + n, 2 do
  f[ARGV[j]] = ARGV[j + 1]
  if ARGV[j] ~= 'base' and ARGV[j] ~= 'bp' then
    redis.call('HSET', rec, ARGV[j], ARGV[j + 1])
  end
end
i = i + n + 1
redis.call('HSET', rec, 'g', 0)
if f['base'] then
  redis.call('HSET', rec, 'base', ARGV[2], 'bg', 0, 'bp', f['bp'], 'i', 'm')
end
n = tonumber(ARGV[i])
for j = i + 1, i + n, 1000 do
  redis.call('RPUSH', new .. ':m', unpack(ARGV, j, math.min(j + 999, i + n)))
end
i = i + n + 1
n = tonumber(ARGV[i])
for j = i + 1, i + n, 2 do
  redis.call('HSET', new .. ':t', ARGV[j], ARGV[j + 1])
end
i = i + n + 1
n = tonumber(ARGV[i])
for j = i + 1, i + n do
  redis.call('RPUSH', new .. ':q', ARGV[j])
end
i = i + n + 1
for j = i, #ARGV, 2 do
  pin(new, 0, tonumber(ARGV[j + 1]), 'm', ARGV[j])
end
if f['u'] then
  local u = tonumber(f['u'])
  redis.call('ZADD', KEYS[1], 0, member(u, new))
  if tonumber(redis.call('GET', KEYS[2]) or '0') < u then
    redis.call('SET', KEYS[2], int(u))
  end
end
if f['x'] then
  redis.call('ZADD', KEYS[3], f['x'], new)
end
return 1
""",
)

_DROP_OLD = Script(
    "migrate_drop_old",
    PRELUDE
    + r"""
-- KEYS = old listing, old clock, old expiry. ARGV = old stem.
local old = ARGV[1]
local u = redis.call('HGET', old .. ':r', 'u')
if u then
  redis.call('ZREM', KEYS[1], member(tonumber(u), old))
end
redis.call('ZREM', KEYS[3], old)
redis.call('DEL', old .. ':r', old .. ':m', old .. ':t', old .. ':q', old .. ':f')
return 1
""",
)


async def has_old_sessions(client: Client, keys: KeyLayout) -> bool:
    """Tell whether the store still holds sessions of the previous layout.

    Every session the previous layout wrote moved its clock, which only a
    finished move deletes.
    """
    return bool(await client.exists(keys.clock, keys.listing))


def _old_identity(keys: KeyLayout, stem: bytes) -> tuple[str, str]:
    """Return (scope, id) of a stem of the previous layout."""
    # Escaped parts hold no ":", so the stem splits at every ":".
    parts = stem[len(keys.sessions) + 1 :].split(b":")
    if len(parts) == 2 and parts[0] == b"s":
        return "", unescape(parts[1])
    if len(parts) == 4 and parts[0] == b"S" and parts[2] == b"s":
        return unescape(parts[1]), unescape(parts[3])
    raise ValueError("not a session stem of the previous layout")


def is_cluster(client: object) -> bool:
    """Tell whether ``client`` talks to a Redis Cluster (scripts stay in one slot there)."""
    try:
        from redis.asyncio.cluster import RedisCluster
    except ImportError:  # pragma: no cover - every supported redis-py has it
        return False
    return isinstance(client, RedisCluster)


async def migrate_sessions(
    client: Client, keys: KeyLayout, layout: SessionLayout, *, where: str, command: bool = False
) -> int:
    """Move every session of the previous layout into ``layout``; return how many moved.

    Args:
        client: The store's client.
        keys: The store's key layout (the previous session layout's names).
        layout: The bucketed layout to move into.
        where: The store's redacted URL, for the error message.
        command: Run by :func:`migrate`: on a cluster, move session by
            session in three steps instead of refusing.

    Raises:
        ConfigurationError: The server is a cluster and ``command`` is false:
            the move needs :func:`migrate` (``unistore migrate URL``).
    """
    if is_cluster(client):
        if not command:
            raise ConfigurationError(
                f"the store at {where} holds sessions of the previous key layout, which a "
                "Redis Cluster cannot move by itself; run `unistore migrate URL` once "
                "before using its sessions"
            )
        return await _migrate_across_slots(client, keys, layout)
    moved = 0
    pattern = glob_escape(keys.sessions) + b":*:r"
    async for key in client.scan_iter(match=pattern, count=1000):
        stem = key[:-2]
        try:
            scope, session_id = _old_identity(keys, stem)
        except ValueError:
            continue
        base, forks = await _old_links(client, stem)
        new = layout.stem(session_id, scope)
        bucket = layout.bucket(session_id, scope)
        new_base = b""
        if base is not None:
            base_scope, base_id = _old_identity(keys, base)
            new_base = layout.stem(base_id, base_scope)
        args: list[bytes] = [
            stem,
            new,
            new_base,
            layout.listing(bucket, scope),
            layout.clock(bucket),
            layout.expiry(bucket),
            keys.scope_listing(scope),
            keys.expiry,
        ]
        for fork in forks:
            fork_scope, fork_id = _old_identity(keys, fork)
            args += [fork, layout.stem(fork_id, fork_scope)]
        moved += int(await _MOVE.run(client, [key, new + b":r"], args)) == 1
    # Every old record is gone: the listings and the expiry index are empty
    # (so already deleted); the clock goes last and marks the move as done.
    await client.delete(keys.listing, keys.expiry, keys.clock)
    return moved


async def _migrate_across_slots(client: Client, keys: KeyLayout, layout: SessionLayout) -> int:
    moved = 0
    pattern = glob_escape(keys.sessions) + b":*:r"
    old_keys = [keys.listing, keys.clock, keys.expiry]
    async for key in client.scan_iter(match=pattern, count=1000):
        stem = key[:-2]
        try:
            scope, session_id = _old_identity(keys, stem)
        except ValueError:
            continue
        found = await _READ_OLD.run(client, [key], [stem])
        if not found:
            continue
        record, messages, tokens, order, forks = found
        fields = dict(zip(record[::2], record[1::2], strict=True))
        new_base = b""
        if b"base" in fields:
            base_scope, base_id = _old_identity(keys, fields[b"base"])
            new_base = layout.stem(base_id, base_scope)
        bucket = layout.bucket(session_id, scope)
        args: list[bytes | int] = [layout.stem(session_id, scope), new_base]
        for part in (record, messages, tokens, order):
            args += [len(part), *part]
        for fork in forks:
            point = cast("bytes | None", await client.hget(fork + b":r", "bp"))
            fork_scope, fork_id = _old_identity(keys, fork)
            new_fork = layout.stem(fork_id, fork_scope)
            if point is None:
                # The fork moved already: its own record has the fork point.
                point = cast("bytes | None", await client.hget(new_fork + b":r", "bp"))
            if point is not None and int(point) > 0:
                args += [new_fork, point]
        await _WRITE_NEW.run(client, list(layout.script_keys(bucket, scope)), args)
        drop_keys = [keys.scope_listing(scope), keys.clock, keys.expiry]
        await _DROP_OLD.run(client, drop_keys, [stem])
        moved += 1
    for key in old_keys:
        await client.delete(key)
    return moved


async def _old_links(client: Client, stem: bytes) -> tuple[bytes | None, list[bytes]]:
    async with client.pipeline(transaction=False) as pipe:
        pipe.hget(stem + b":r", "base")
        pipe.smembers(stem + b":f")
        base, forks = await pipe.execute()
    return base, sorted(forks)


async def migrate(store: RedisStore) -> int:
    """Move the sessions a store wrote in the previous key layout into buckets.

    Resumable and safe to run twice, or while other processes use the store:
    each session moves in one script, atomically. Stores on a single server
    also do this by themselves on their first session call.

    Args:
        store: An open redis store.

    Returns:
        How many sessions moved.

    On Redis Cluster a session moves in three steps (read the old keys,
    write the new ones, delete the old ones), each a script on one slot; a
    run that stops midway is resumed by running it again (the new keys are
    written over, the old ones deleted last).
    """
    store._check_open()
    client = store._redis
    with store._errors():
        layout = await store._open_layout(migrate=False)
        if not await has_old_sessions(client, store._keys):
            return 0
        return await migrate_sessions(
            client, store._keys, layout, where=str(store.url), command=True
        )
