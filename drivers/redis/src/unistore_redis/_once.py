"""Sending a non-idempotent command at most once.

redis-py retries a command after a connection error or timeout by sending it
again (the ``retries`` option, or the retry policy of a client passed in);
``RedisCluster`` also retries after a connection error or ``CLUSTERDOWN``,
on whichever node then serves the slot. That is right for reads and for
writes that give the same result twice, and wrong for ``INCRBY`` or an
unconditional append: if the first attempt reached the server and only its
reply was lost, the retry applies the write a second time.

:func:`execute_once` takes a connection (from the client's pool, or on a
cluster from the node that serves the command's key), connects it (with
retries: nothing has been sent yet), sends the command once and reads the
reply; a failure after sending is reported as :class:`UncertainWriteError`,
never retried. On a cluster, the replies that say the command did not run
there (``MOVED``, ``ASK``, ``TRYAGAIN``) are followed as ``RedisCluster``
follows them: the command is sent to the node named, which is still "once".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import redis.exceptions as rex
from redis.asyncio.cluster import ClusterNode, RedisCluster

if TYPE_CHECKING:
    from redis.asyncio.connection import AbstractConnection

    from unistore_redis._config import Client

__all__ = [
    "UncertainWriteError",
    "closed_before_send",
    "connection_turn",
    "execute_once",
    "master_of",
    "refresh_slots",
    "route_key",
]

_Turn = Callable[[], contextlib.AbstractAsyncContextManager[None]]

#: How many redirections one command follows (``RedisCluster`` allows 16).
_REDIRECTS = 16

_UNCERTAIN = (
    "the server did not answer in time; the write may have been applied "
    "(it is not idempotent, so it was not re-sent)"
)


class UncertainWriteError(rex.RedisError):
    """A non-idempotent write was sent and no reply came: it may have been applied."""


_CLOSED_BEFORE_SEND = (
    "the connection was closed under the call (a cluster slot-map refresh "
    "closes every connection of a node); nothing was sent"
)


def closed_before_send(exc: BaseException) -> rex.ConnectionError | None:
    """The connection error for redis-py failing to write to a connection another task closed.

    On a cluster, a task that refreshes the slot map disconnects every
    connection of a node, also one another task is about to write to;
    redis-py then fails with ``AttributeError`` on the writer it has just
    dropped. Nothing was written, so the call is a plain connection failure
    (``StoreUnavailableError``; never an uncertain write). ``None`` for any
    other exception, which must propagate as it is.
    """
    if isinstance(exc, AttributeError) and exc.name == "writelines" and exc.obj is None:
        return rex.ConnectionError(_CLOSED_BEFORE_SEND)
    return None


def route_key(command: tuple[Any, ...]) -> Any:
    """Return the key a cluster routes ``command`` by (the first of ``EVAL``'s keys)."""
    if str(command[0]).upper() in ("EVAL", "EVALSHA"):
        return command[3] if int(command[2]) > 0 else None
    return command[1]


def connection_turn(client: RedisCluster) -> contextlib.AbstractAsyncContextManager[None]:
    """Wait for a free connection where the client keeps count (the clients the store builds).

    A client passed in has no such count: its nodes fail at once when all
    their connections are busy.
    """
    take = getattr(client, "connection_turn", None)
    return contextlib.nullcontext() if take is None else cast("_Turn", take)()


def master_of(client: RedisCluster, key: Any) -> ClusterNode:
    """Return the master that serves ``key``'s slot (in the client's slot map).

    Raises:
        redis.exceptions.SlotNotCoveredError: No node serves the slot.
    """
    return client.nodes_manager.get_node_from_slot(client.keyslot(key))


async def execute_once(client: Client, *command: Any) -> Any:
    """Send ``command`` once and return the server's reply.

    Raises:
        UncertainWriteError: The connection failed or timed out once the
            command may have reached the server.
        redis.exceptions.ConnectionError: No connection could be made (nothing
            was sent).
        redis.exceptions.ResponseError: The server answered with an error.
    """
    if isinstance(client, RedisCluster):
        return await _once_on_cluster(client, command)
    pool = client.connection_pool
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        return await _send_once(connection, command)
    finally:
        await pool.release(connection)


async def _send_once(connection: AbstractConnection, command: tuple[Any, ...]) -> Any:
    try:
        await connection.send_command(*command)
        return await connection.read_response()
    except AttributeError as exc:
        closed = closed_before_send(exc)
        if closed is None:
            raise
        raise closed from exc
    except (rex.ConnectionError, rex.TimeoutError, OSError) as exc:
        # redis-py has already dropped the socket for most failures; a
        # reply that arrives later must never be read as another's.
        await connection.disconnect()
        raise UncertainWriteError(_UNCERTAIN) from exc


async def _once_on_cluster(client: RedisCluster, command: tuple[Any, ...]) -> Any:
    async with connection_turn(client):
        return await _redirected(client, command)


async def _redirected(client: RedisCluster, command: tuple[Any, ...]) -> Any:
    await client.initialize()  # at once if the slot map is known
    key = route_key(command)
    node = client.get_random_node() if key is None else master_of(client, key)
    asking = False
    for attempt in range(_REDIRECTS):
        assert node is not None
        try:
            return await _once_on_node(client, node, command, asking=asking)
        except rex.AskError as exc:
            # MOVED is an AskError too: either way the command did not run here.
            if isinstance(exc, rex.MovedError):
                await client.nodes_manager.move_slot(exc)
                node, asking = master_of(client, key), False
            else:
                kwargs: dict[str, Any] = dict(client.get_connection_kwargs())
                node = client.get_node(host=exc.host, port=exc.port) or ClusterNode(
                    exc.host, exc.port, **kwargs
                )
                asking = True
        except rex.TryAgainError:
            # The slot is being moved and the keys are split: nothing ran.
            await asyncio.sleep(min(0.05 * (attempt + 1), 0.25))
    raise rex.ClusterError("the command was redirected too often; it was not applied")


async def _once_on_node(
    client: RedisCluster, node: ClusterNode, command: tuple[Any, ...], *, asking: bool
) -> Any:
    connection = node.acquire_connection()
    try:
        try:
            await node.disconnect_if_needed(connection)
            await connection.connect()  # type: ignore[no-untyped-call]
        except (rex.ConnectionError, rex.TimeoutError, OSError, AttributeError) as exc:
            # Nothing was sent. The node may be gone (a failover): refresh
            # the slot map, so that the next call finds the new master.
            closed = closed_before_send(exc)
            if isinstance(exc, AttributeError) and closed is None:
                raise
            await refresh_slots(client)
            if closed is not None:
                raise closed from exc
            raise
        if asking:
            await connection.send_command("ASKING")
            await connection.read_response()
        try:
            return await _send_once(connection, command)
        except UncertainWriteError:
            await refresh_slots(client)
            raise
    finally:
        node.release(connection)


async def refresh_slots(client: RedisCluster) -> None:
    """Re-read the cluster's slot map after a node failed (errors are left to the next call)."""
    # No node answers either: the next command tries again.
    with contextlib.suppress(rex.RedisError, rex.RedisClusterException, OSError):
        await client.nodes_manager.initialize()
