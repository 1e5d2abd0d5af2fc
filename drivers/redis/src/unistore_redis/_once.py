"""Sending a non-idempotent command at most once.

redis-py retries a command after a connection error or timeout by sending it
again (the ``retries`` option, or the retry policy of a client passed in).
That is right for reads and for writes that give the same result twice, and
wrong for ``INCRBY`` or an unconditional append: if the first attempt reached
the server and only its reply was lost, the retry applies the write a second
time. :func:`execute_once` takes a connection from the client's pool (which
connects, with retries, before anything is sent), sends the command once and
reads the reply; a failure after sending is reported as
:class:`UncertainWriteError`, never retried.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
import redis.exceptions as rex

__all__ = ["UncertainWriteError", "execute_once"]


class UncertainWriteError(rex.RedisError):
    """A non-idempotent write was sent and no reply came: it may have been applied."""


async def execute_once(client: aioredis.Redis, *command: Any) -> Any:
    """Send ``command`` on a pooled connection once and return the server's reply.

    Raises:
        UncertainWriteError: The connection failed or timed out once the
            command may have reached the server.
        redis.exceptions.ConnectionError: No connection could be made (nothing
            was sent).
        redis.exceptions.ResponseError: The server answered with an error.
    """
    pool = client.connection_pool
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        try:
            await connection.send_command(*command)
            return await connection.read_response()
        except (rex.ConnectionError, rex.TimeoutError, OSError) as exc:
            # redis-py has already dropped the socket for most failures; a
            # reply that arrives later must never be read as another's.
            await connection.disconnect()
            raise UncertainWriteError(
                "the server did not answer in time; the write may have been applied "
                "(it is not idempotent, so it was not re-sent)"
            ) from exc
    finally:
        await pool.release(connection)
