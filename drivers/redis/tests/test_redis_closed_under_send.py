"""A connection closed by another task just before a write: a plain connection failure.

On a cluster, the task that refreshes the slot map disconnects every
connection of a node, also one another task is about to write to; redis-py
then fails with ``AttributeError`` on the writer it dropped. Nothing was sent,
so the store reports it as unavailable (never as an uncertain write), and any
other ``AttributeError`` still propagates as it is.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis.exceptions as rex
from redis.asyncio.connection import AbstractConnection

from unistore.errors import StoreUnavailableError
from unistore_redis import RedisStore
from unistore_redis._once import UncertainWriteError, _send_once, closed_before_send


def _failure(holder: Any, method: str) -> AttributeError:
    """The error of calling ``holder.<method>()`` where it has no such attribute."""
    try:
        getattr(holder, method)()
    except AttributeError as exc:
        return exc
    raise AssertionError(f"{holder!r} has {method}")


def _writer_gone() -> AttributeError:
    return _failure(None, "writelines")


def test_only_a_write_to_a_dropped_writer_is_recognised() -> None:
    closed = closed_before_send(_writer_gone())
    assert isinstance(closed, rex.ConnectionError)
    assert "nothing was sent" in str(closed)
    assert closed_before_send(AttributeError("writelines")) is None  # no name, no object
    # An object that lacks it, not a dropped writer:
    assert closed_before_send(_failure(object(), "writelines")) is None
    # The reader, after sending: not this case.
    assert closed_before_send(_failure(None, "readline")) is None
    assert closed_before_send(ValueError()) is None


class _Connection:
    def __init__(self, failure: BaseException) -> None:
        self.failure = failure
        self.disconnected = False

    async def send_command(self, *args: Any) -> None:
        raise self.failure

    async def read_response(self) -> Any:
        raise AssertionError("nothing was sent")

    async def disconnect(self) -> None:
        self.disconnected = True


async def test_a_write_sent_once_reports_a_dropped_writer_as_not_sent() -> None:
    connection: Any = _Connection(_writer_gone())
    with pytest.raises(rex.ConnectionError, match="nothing was sent") as info:
        await _send_once(connection, ("INCRBY", b"k", 1))
    assert not isinstance(info.value, UncertainWriteError)
    other: Any = _Connection(AttributeError("a bug elsewhere"))
    with pytest.raises(AttributeError, match="a bug elsewhere"):
        await _send_once(other, ("INCRBY", b"k", 1))


@pytest.mark.cluster
@pytest.mark.slow
async def test_a_cluster_store_reports_a_connection_closed_under_a_write_as_unavailable(
    cluster_store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await cluster_store.set("ns", "a", b"1", ttl=60)
    original = AbstractConnection._send_packed_command
    drops = 0

    async def dropped_once(self: AbstractConnection, command: Any) -> None:
        nonlocal drops
        if drops == 0:
            # What a refresh in another task does between the connection's
            # check and its write.
            drops += 1
            await self.disconnect(nowait=True)
        await original(self, command)

    monkeypatch.setattr(AbstractConnection, "_send_packed_command", dropped_once)
    with pytest.raises(StoreUnavailableError, match="nothing was sent"):
        await cluster_store.set("ns", "a", b"2", ttl=60)  # sent by redis-py's client
    drops = 0
    with pytest.raises(StoreUnavailableError, match="nothing was sent"):
        await cluster_store.incr("ns", "n", ttl=60)  # sent once, by the driver
    monkeypatch.undo()
    assert await cluster_store.get("ns", "a") == b"1"
    assert await cluster_store.incr("ns", "n", ttl=60) == 1
