"""The bounded connection pool: at most max_connections, waiters served in order, timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as NoConnection

import unistore
from unistore import StoreURL
from unistore.errors import StoreTimeoutError
from unistore_redis import RedisStore
from unistore_redis._pool import BoundedPool

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def pool(url: str) -> AsyncIterator[BoundedPool]:
    parsed = StoreURL.parse(url)
    opened = BoundedPool(
        max_connections=2,
        timeout=5.0,
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 6379,
    )
    try:
        yield opened
    finally:
        await opened.disconnect()


async def _settle() -> None:
    # Enough loop turns for every woken waiter to take its connection.
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_free_connection_is_taken_without_waiting(pool: BoundedPool) -> None:
    first = await pool.get_connection()
    await pool.release(first)
    again = await pool.get_connection()
    assert again is first  # reused, not a new one
    await pool.release(again)
    assert not pool._waiters


async def test_a_full_pool_makes_callers_wait_and_serves_them_in_order(pool: BoundedPool) -> None:
    held = [await pool.get_connection(), await pool.get_connection()]
    served: list[int] = []
    got: dict[int, AbstractConnection] = {}

    async def caller(n: int) -> None:
        got[n] = await pool.get_connection()
        served.append(n)

    callers = [asyncio.create_task(caller(n)) for n in range(4)]
    await _settle()
    assert served == []  # all wait: two connections, both held
    assert len(pool._in_use_connections) == 2
    await pool.release(held.pop())
    await _settle()
    assert served == [0]
    # A newcomer does not go ahead of the queue, even when it runs between the
    # release that wakes the first waiter and that waiter.
    late = asyncio.create_task(caller(9))
    await pool.release(held.pop())
    await _settle()
    assert served == [0, 1]
    for n in (0, 1, 2):
        await pool.release(got[n])
        await _settle()
    assert served == [0, 1, 2, 3, 9]
    assert len(pool._in_use_connections) == 2
    await asyncio.gather(*callers, late)
    for n in (3, 9):
        await pool.release(got[n])
    assert not pool._waiters
    assert len(pool._in_use_connections) == 0


async def test_connections_freed_at_once_serve_a_newcomer_queued_behind_a_woken_waiter(
    pool: BoundedPool,
) -> None:
    held = [await pool.get_connection(), await pool.get_connection()]
    first = asyncio.create_task(pool.get_connection())
    await _settle()
    newcomer = asyncio.create_task(pool.get_connection())
    # Both come free before either task runs: the first release wakes the
    # waiter, the second finds no one else queued yet.
    await pool.release(held.pop())
    await pool.release(held.pop())
    await _settle()
    assert first.done()
    assert newcomer.done()  # woken by the waiter that took the first connection
    for task in (first, newcomer):
        await pool.release(task.result())
    assert not pool._waiters


async def test_callers_that_meet_the_pools_lock_held_queue_for_the_last_connection(
    pool: BoundedPool,
) -> None:
    held = await pool.get_connection()
    # A release that reconnects (or a disconnect) holds the base's lock
    # across an await: both callers see room for one more, then wait for it.
    await pool._lock.acquire()
    callers = [asyncio.create_task(pool.get_connection()) for _ in range(2)]
    await _settle()
    pool._lock.release()
    done, waiting = await asyncio.wait(callers, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    await _settle()
    assert len(done) == 1  # the other one queued: no "Too many connections"
    assert not waiting.pop().done()
    assert len(pool._waiters) == 1
    await pool.release(held)
    await asyncio.wait(callers, timeout=5)
    for task in callers:
        await pool.release(task.result())
    assert not pool._waiters


async def test_a_caller_gives_up_after_the_timeout(pool: BoundedPool) -> None:
    pool.timeout = 0.05
    held = [await pool.get_connection(), await pool.get_connection()]
    with pytest.raises(NoConnection, match="No connection available"):
        await pool.get_connection()
    assert not pool._waiters
    for connection in held:
        await pool.release(connection)
    # The pool still works after a timeout.
    connection = await pool.get_connection()
    await pool.release(connection)


async def test_a_woken_waiter_that_is_cancelled_passes_its_turn_on(pool: BoundedPool) -> None:
    held = [await pool.get_connection(), await pool.get_connection()]
    first = asyncio.create_task(pool.get_connection())
    second = asyncio.create_task(pool.get_connection())
    await _settle()
    await pool.release(held.pop())  # wakes `first`...
    first.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    connection = await asyncio.wait_for(second, 5)
    assert connection is not None
    await pool.release(connection)
    await pool.release(held.pop())
    assert not pool._waiters


async def test_a_reset_lets_every_waiter_look_again(pool: BoundedPool) -> None:
    held = [await pool.get_connection(), await pool.get_connection()]
    waiting = [asyncio.create_task(pool.get_connection()) for _ in range(2)]
    await _settle()
    pool.reset()  # forgets the held connections, as after a fork
    taken = await asyncio.wait_for(asyncio.gather(*waiting), 5)
    assert len(taken) == 2
    for connection in taken:
        await pool.release(connection)
    for connection in held:
        await connection.disconnect()


async def test_the_store_never_uses_more_connections_than_max_connections(
    url: str, prefix: str
) -> None:
    opened = unistore.connect(url, key_prefix=prefix, max_connections=3, pool_timeout=5.0)
    assert isinstance(opened, RedisStore)
    async with opened:
        client: aioredis.Redis = opened.client
        pool = client.connection_pool
        assert isinstance(pool, BoundedPool)
        most = 0

        async def write(n: int) -> None:
            nonlocal most
            await opened.set("ns", f"s{n}", b"v", ttl=60)
            most = max(most, len(pool._in_use_connections))

        await asyncio.gather(*(write(n) for n in range(200)))
        assert 1 <= most <= 3
        assert len(pool._in_use_connections) + len(pool._available_connections) <= 3
        assert await opened.slots("ns") == sorted(f"s{n}" for n in range(200))
        await opened.destroy()


async def test_a_store_whose_pool_stays_full_times_out_with_a_clear_error(
    url: str, prefix: str
) -> None:
    async with unistore.connect(url, key_prefix=prefix, max_connections=1, pool_timeout=0.1) as s:
        assert isinstance(s, RedisStore)
        async with s.transaction("ns", ["a"]):  # holds the only connection
            reads = [asyncio.create_task(s.get("ns", "a")) for _ in range(3)]
            for read in reads:
                with pytest.raises(StoreTimeoutError, match="pool_timeout"):
                    await read
        assert await s.get("ns", "a") is None
        await s.destroy()


def _count_base_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count the calls of the base pool's own checkout and release."""
    calls = {"get_connection": 0, "release": 0}
    for name in calls:
        original = getattr(aioredis.ConnectionPool, name)

        def spy(
            self: object, *args: object, _name: str = name, _original: object = original
        ) -> object:
            calls[_name] += 1
            return _original(self, *args)  # type: ignore[operator]

        monkeypatch.setattr(aioredis.ConnectionPool, name, spy)
    return calls


async def test_checkouts_skip_the_base_while_its_metrics_are_off(
    pool: BoundedPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool's own checkout: the same connection, connected; no lock or metric of the base."""
    calls = _count_base_calls(monkeypatch)
    reauthed: list[AbstractConnection] = []
    first = await pool.get_connection()
    assert first.is_connected
    original_re_auth = type(first).re_auth

    async def re_auth(self: AbstractConnection) -> None:
        reauthed.append(self)
        await original_re_auth(self)

    monkeypatch.setattr(type(first), "re_auth", re_auth)
    await pool.release(first)
    again = await pool.get_connection()
    assert again is first
    await pool.release(again)
    assert await aioredis.Redis(connection_pool=pool).ping()  # a command on it works
    assert calls == {"get_connection": 0, "release": 0}
    assert reauthed == [first] * 3  # at every release, as the base's release event does
    assert list(pool._available_connections) == [first]
    assert not pool._in_use_connections


async def test_with_redis_pys_metrics_on_every_call_runs_the_base(
    pool: BoundedPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import unistore_redis._pool as pool_module

    calls = _count_base_calls(monkeypatch)
    monkeypatch.setattr(pool_module, "_pool_metrics", object)  # anything but None: on
    connection = await pool.get_connection()
    await pool.release(connection)
    assert calls == {"get_connection": 1, "release": 1}


async def test_a_release_that_reconnects_runs_the_base(
    pool: BoundedPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_base_calls(monkeypatch)
    connection = await pool.get_connection()
    monkeypatch.setattr(connection, "should_reconnect", lambda: True)
    await pool.release(connection)
    assert calls["release"] == 1
    assert not connection.is_connected  # the base disconnected it, holding its lock
    assert list(pool._available_connections) == [connection]


async def test_a_checkout_that_cannot_connect_gives_the_connection_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pool = BoundedPool(max_connections=1, timeout=1.0, host="127.0.0.1", port=1)
    try:
        with pytest.raises(NoConnection):
            await pool.get_connection()
        assert not pool._in_use_connections  # the one slot is free again
        with pytest.raises(NoConnection):
            await pool.get_connection()  # not "No connection available" after a timeout
    finally:
        await pool.disconnect()
