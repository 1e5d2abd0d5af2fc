"""Optimistic transactions: WATCH on a dedicated connection, MULTI/EXEC to commit."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions as rex
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import Connection
from redis.exceptions import RedisError, WatchError

from unistore.errors import TransactionConflictError
from unistore.sdk import Op, TransactionBase, TransactionsBase
from unistore_redis._keys import KeyLayout
from unistore_redis._lua_slots import APPLY
from unistore_redis._once import UncertainWriteError, connection_turn, master_of, refresh_slots
from unistore_redis._values import apply_args, field_bytes, field_str

__all__ = ["RedisClusterTransaction", "RedisTransaction"]


class RedisTransaction(TransactionBase):
    """A transaction over one namespace (see :class:`unistore.protocols.Transaction`).

    Entering the block takes a connection from the pool and ``WATCH``es the
    slots on it; reads go through that connection, so they see the live
    state and any change since the ``WATCH`` (a write, delete, purge, touch,
    expire or expiry of a watched slot) makes ``EXEC`` fail. The commit sends
    ``MULTI``, one ``EVAL`` of the write script (which checks every op before
    writing, so a kind error writes nothing) and ``EXEC``.
    """

    def __init__(
        self,
        store: TransactionsBase,
        client: aioredis.Redis,
        keys: KeyLayout,
        ns: str,
        watch: tuple[str, ...],
    ) -> None:
        super().__init__(store, ns, watch)
        self._client = client
        self._keys = keys
        self._pipe: Pipeline | None = None

    def _lost(self, exc: WatchError) -> None:
        # redis-py reports a connection lost while watching as a WatchError;
        # that is an outage, not a concurrent write.
        cause = exc.__context__
        if isinstance(cause, RedisError | OSError):
            self._store._fail(cause)

    async def _begin(self) -> None:
        # Kept before the WATCH is sent: if it fails or is cancelled, _end()
        # still returns the connection to the pool.
        self._pipe = self._client.pipeline(transaction=True)
        await self._pipe.watch(*(self._keys.slot(self.ns, slot) for slot in self.watch))

    async def _read(self, *command: Any) -> Any:
        assert self._pipe is not None
        try:
            # While watching, redis-py runs commands at once on the watched connection.
            return await self._pipe.execute_command(*command)
        except WatchError as exc:
            self._lost(exc)
            raise TransactionConflictError(
                "the watch was lost", namespace=self.ns, slots=self.watch
            ) from exc

    async def _get(self, slot: str) -> bytes | None:
        value: bytes | None = await self._read("GET", self._keys.slot(self.ns, slot))
        return value

    async def _hget(self, slot: str, field: str) -> bytes | None:
        key = self._keys.slot(self.ns, slot)
        value: bytes | None = await self._read("HGET", key, field_bytes(field))
        return value

    async def _hgetall(self, slot: str) -> dict[str, bytes]:
        raw: dict[bytes, bytes] = await self._read("HGETALL", self._keys.slot(self.ns, slot))
        return {field_str(name): value for name, value in raw.items()}

    async def _commit(self, ops: Sequence[Op]) -> bool:
        pipe = self._pipe
        assert pipe is not None
        pipe.multi()  # type: ignore[no-untyped-call]
        if ops:
            keys, args = apply_args(self._keys, self.ns, ops)
            # EVAL, not EVALSHA: inside MULTI a NOSCRIPT could not be retried.
            pipe.execute_command("EVAL", APPLY.text, len(keys), *keys, *args)
        try:
            results = await pipe.execute(raise_on_error=False)
        except WatchError as exc:
            self._lost(exc)
            return False  # EXEC answered nil: a watched slot changed
        for result in results:
            if isinstance(result, RedisError):
                # The script checks every op before writing: an error means nothing was written.
                raise result
        return True

    async def _end(self) -> None:
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            # reset() drops a broken connection itself; nothing is left to report.
            with contextlib.suppress(RedisError):
                await pipe.reset()  # type: ignore[no-untyped-call]


class RedisClusterTransaction(TransactionBase):
    """A transaction over one namespace on a Redis Cluster.

    Every key of a namespace shares one hash tag, so one master serves the
    whole transaction. ``RedisCluster``'s transactional pipeline runs each
    watched command through a thread of its own; this class talks to the
    master's connection directly instead: ``WATCH``, the reads, then
    ``MULTI``, one ``EVAL`` of the write script and ``EXEC``, as
    :class:`RedisTransaction` does on one server. A slot that moves while
    the transaction runs (``MOVED``, ``ASK``) is a conflict: the slot map is
    updated, and the caller's retry starts on the new master.
    """

    def __init__(
        self,
        store: TransactionsBase,
        client: RedisCluster,
        keys: KeyLayout,
        ns: str,
        watch: tuple[str, ...],
    ) -> None:
        super().__init__(store, ns, watch)
        self._client = client
        self._keys = keys
        self._node: ClusterNode | None = None
        self._connection: Connection | None = None
        self._watching = False
        self._turn = connection_turn(client)
        self._turn_taken = False

    def _conflict(self, exc: BaseException) -> TransactionConflictError:
        return TransactionConflictError(
            "the namespace's slot moved to another node", namespace=self.ns, slots=self.watch
        )

    async def _call(self, *command: Any) -> Any:
        connection = self._connection
        assert connection is not None
        try:
            await connection.send_command(*command)
            return await connection.read_response()
        except rex.AskError as exc:
            if isinstance(exc, rex.MovedError):
                await self._client.nodes_manager.move_slot(exc)
            raise self._conflict(exc) from exc

    async def _begin(self) -> None:
        await self._turn.__aenter__()
        self._turn_taken = True
        await self._client.initialize()  # at once if the slot map is known
        routing = self._keys.namespace(self.ns)[1]  # the index: every key shares its slot
        self._node = node = master_of(self._client, routing)
        # Kept before anything is sent: if it fails or is cancelled, _end()
        # still returns the connection to the node.
        self._connection = connection = node.acquire_connection()
        await node.disconnect_if_needed(connection)
        try:
            await connection.connect()  # type: ignore[no-untyped-call]
        except (rex.ConnectionError, rex.TimeoutError, OSError):
            # The master may be gone (a failover): the next attempt must find the new one.
            await refresh_slots(self._client)
            raise
        if self.watch:
            self._watching = True
            await self._call("WATCH", *(self._keys.slot(self.ns, slot) for slot in self.watch))

    async def _get(self, slot: str) -> bytes | None:
        value: bytes | None = await self._call("GET", self._keys.slot(self.ns, slot))
        return value

    async def _hget(self, slot: str, field: str) -> bytes | None:
        key = self._keys.slot(self.ns, slot)
        value: bytes | None = await self._call("HGET", key, field_bytes(field))
        return value

    async def _hgetall(self, slot: str) -> dict[str, bytes]:
        raw: dict[bytes, bytes] | list[bytes] = await self._call(
            "HGETALL", self._keys.slot(self.ns, slot)
        )
        # A raw reply: a map under RESP3, a flat list of fields and values under RESP2.
        pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
        return {field_str(name): value for name, value in pairs}

    async def _commit(self, ops: Sequence[Op]) -> bool:
        connection = self._connection
        assert connection is not None
        commands: list[tuple[Any, ...]] = [("MULTI",)]
        if ops:
            keys, args = apply_args(self._keys, self.ns, ops)
            # EVAL, not EVALSHA: inside MULTI a NOSCRIPT could not be retried.
            commands.append(("EVAL", APPLY.text, len(keys), *keys, *args))
        commands.append(("EXEC",))
        await connection.send_packed_command(connection.pack_commands(commands))
        # EXEC ends the watch whatever it answers.
        self._watching = False
        try:
            queued: list[BaseException] = []
            for _ in commands[:-1]:
                try:
                    await connection.read_response()
                except rex.AskError as exc:
                    if isinstance(exc, rex.MovedError):
                        await self._client.nodes_manager.move_slot(exc)
                    queued.append(self._conflict(exc))
                except rex.ResponseError as exc:
                    queued.append(exc)
            try:
                results = await connection.read_response()
            except rex.ExecAbortError:
                # A command was refused while queueing: nothing ran.
                raise queued[0] if queued else RedisError("EXEC aborted") from None
        except (rex.ConnectionError, rex.TimeoutError, OSError) as exc:
            await connection.disconnect()
            raise UncertainWriteError(
                "the connection was lost after the commit was sent; "
                "the transaction may have been applied"
            ) from exc
        if results is None:
            return False  # EXEC answered nil: a watched slot changed
        for result in results:
            if isinstance(result, RedisError):
                # The script checks every op before writing: an error means nothing was written.
                raise result
        return True

    async def _end(self) -> None:
        try:
            await self._give_back()
        finally:
            if self._turn_taken:
                self._turn_taken = False
                await self._turn.__aexit__(None, None, None)

    async def _give_back(self) -> None:
        node, connection = self._node, self._connection
        self._node = self._connection = None
        if node is None or connection is None:
            return
        try:
            if self._watching:
                self._watching = False
                await connection.send_command("UNWATCH")
                await connection.read_response()
        except (RedisError, OSError):
            await connection.disconnect()
        except asyncio.CancelledError:
            # An UNWATCH reply left unread must never reach the next user.
            await connection.disconnect()
            raise
        finally:
            node.release(connection)
