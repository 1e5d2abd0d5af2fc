"""A lost reply never makes a write land twice.

A private redis-server is paused with SIGSTOP while a write is in flight: the
request reaches the server's socket, the client times out, and the server
applies the write when it resumes. Non-idempotent writes (incr, an append
without token or expected length, a pop without expected length) must then
raise StoreTimeoutError saying the write may have been applied, and never be
re-sent; idempotent ones may be retried, by redis-py or by the caller, and
still land once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
import redis

import unistore
from unistore.errors import StoreTimeoutError
from unistore_redis import RedisStore

pytestmark = pytest.mark.redis

PAUSE = 1.0
TIMEOUT = 0.3
MAY_HAVE = "may have been applied"
T = TypeVar("T")


def _open(server: Any, prefix: str, **options: Any) -> RedisStore:
    store = unistore.connect(server.url, key_prefix=prefix, socket_timeout=TIMEOUT, **options)
    assert isinstance(store, RedisStore)
    return store


def _pid(server: Any) -> int:
    assert server.process is not None
    return int(server.process.pid)


@asynccontextmanager
async def paused(server: Any, seconds: float = PAUSE) -> AsyncIterator[None]:
    """Stop the server for ``seconds`` from now; leave only once it runs again."""
    pid = _pid(server)
    loop = asyncio.get_running_loop()
    resumed = loop.create_future()

    def resume() -> None:
        os.kill(pid, signal.SIGCONT)
        if not resumed.done():
            resumed.set_result(None)

    os.kill(pid, signal.SIGSTOP)
    handle = loop.call_later(seconds, resume)
    try:
        yield
        await resumed
    finally:
        handle.cancel()
        os.kill(pid, signal.SIGCONT)  # also when the block failed early


async def _outcome(call: Awaitable[T]) -> T | StoreTimeoutError:
    try:
        return await call
    except StoreTimeoutError as exc:
        return exc


def _settled(check: Callable[[], bool], within: float = 3.0) -> bool:
    """Wait until the resumed server has run what it had buffered."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


async def test_incr_times_out_and_counts_once(
    private_server: Any, private_raw: redis.Redis, prefix: str
) -> None:
    # Retries are on (the default 3): an increment must still never be re-sent.
    store = _open(private_server, prefix)
    key = store._keys.slot("ns", "c")
    async with store:
        assert await store.incr("ns", "c", 5, ttl=None) == 5
        async with paused(private_server):
            result = await _outcome(store.incr("ns", "c", ttl=None))
        assert isinstance(result, StoreTimeoutError)
        assert MAY_HAVE in str(result)
        assert _settled(lambda: private_raw.get(key) != b"5")
        await asyncio.sleep(0.3)  # a re-sent increment would land by now
        assert private_raw.get(key) == b"6"
        assert await store.incr("ns", "c", ttl=None) == 7  # the store works on


async def test_appends_with_a_token_land_once(
    private_server: Any, private_raw: redis.Redis, prefix: str
) -> None:
    # The caller's retry with the same token after a timeout: no automatic retries.
    store = _open(private_server, prefix, retries=0)
    async with store:
        await store.create_session("s")
        await store.append_messages("s", [], token="warm")  # loads the script
        async with paused(private_server):
            first = await _outcome(store.append_messages("s", ['"m1"'], token="t1"))
        assert isinstance(first, StoreTimeoutError)
        assert await store.append_messages("s", ['"m1"'], token="t1") == 1
        assert await store.read_messages("s") == ['"m1"']
    # redis-py's own retries ride out the pause: the re-sent append sees the token.
    store = _open(private_server, prefix, retries=20)
    async with store:
        async with paused(private_server):
            second = await _outcome(store.append_messages("s", ['"m2"'], token="t2"))
        assert second == 2
        await asyncio.sleep(0.3)
        assert await store.read_messages("s") == ['"m1"', '"m2"']
        assert await store.append_messages("s", ['"m2"'], token="t2") == 2
        assert await store.read_messages("s") == ['"m1"', '"m2"']


async def test_an_append_with_expected_length_never_lands_twice(
    private_server: Any, prefix: str
) -> None:
    store = _open(private_server, prefix, retries=20)
    async with store:
        await store.create_session("s")
        async with paused(private_server):
            # A re-sent attempt conflicts with the first one's result, or succeeds alone.
            await _outcome(store.append_messages("s", ['"m"'], expected_length=0))
        await asyncio.sleep(0.3)
        assert await store.read_messages("s") == ['"m"']


async def test_unconditional_append_is_sent_once(private_server: Any, prefix: str) -> None:
    store = _open(private_server, prefix, retries=20)
    async with store:
        await store.create_session("s")
        await store.append_messages("s", ['"a"'])  # loads the script: no NOSCRIPT later
        async with paused(private_server):
            result = await _outcome(store.append_messages("s", ['"m"']))
        assert isinstance(result, StoreTimeoutError)
        assert MAY_HAVE in str(result)
        await asyncio.sleep(0.3)
        assert await store.read_messages("s") == ['"a"', '"m"']


async def test_pop_without_expected_length_is_sent_once(private_server: Any, prefix: str) -> None:
    store = _open(private_server, prefix, retries=20)
    async with store:
        await store.create_session("s")
        await store.append_messages("s", ['"a"', '"b"', '"c"', '"d"'])
        assert await store.pop_messages("s") == ['"d"']  # loads the script
        async with paused(private_server):
            result = await _outcome(store.pop_messages("s"))
        assert isinstance(result, StoreTimeoutError)
        assert MAY_HAVE in str(result)
        await asyncio.sleep(0.3)
        assert await store.read_messages("s") == ['"a"', '"b"']


async def test_idempotent_writes_still_ride_out_a_pause(private_server: Any, prefix: str) -> None:
    store = _open(private_server, prefix, retries=20)
    async with store:
        async with paused(private_server):
            await store.set("ns", "a", b"1", ttl=None)
        assert await store.get("ns", "a") == b"1"


async def test_nothing_sent_is_not_uncertain(prefix: str, server_factory: Any) -> None:
    # Refused connections happen before the command leaves: an outage, not a timeout.
    from unistore.errors import StoreUnavailableError

    port = server_factory().port  # never started
    store = unistore.connect(f"redis://127.0.0.1:{port}/0", key_prefix=prefix, retries=0)
    async with store:
        with pytest.raises(StoreUnavailableError):
            await store.incr("ns", "c", ttl=None)
