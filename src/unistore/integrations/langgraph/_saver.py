"""``UnistoreSaver``: LangGraph's checkpoint saver on any unistore store.

A thread is one session (id: the thread id, in the saver's scope). ``put`` and
``put_writes`` each append one entry to it (see :mod:`._log`); reads take the
tail of the log, growing the window until it holds what was asked for, so
their cost follows what they return and how recently it was written, not the
length of the thread. ``copy_thread`` is ``fork_session``: O(1).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from unistore.errors import (
    SessionExistsError,
    SessionNotFoundError,
    ValidationError,
)
from unistore.integrations._bridge import StoreBridge
from unistore.integrations.langgraph import _config as cfg
from unistore.integrations.langgraph import _log, _read
from unistore.integrations.langgraph._versions import next_version
from unistore.protocols import FullStore, Store


class UnistoreSaver(BaseCheckpointSaver[str]):
    """LangGraph checkpoints, pending writes and thread copies in a unistore store.

    Args:
        store_or_url: A store URL (the saver opens the store and closes it in
            :meth:`aclose`) or an open store (borrowed; the application
            closes it).
        scope: Keeps this saver's threads apart from another's in the same
            store (an application, a tenant). ``None``: the saver's default
            scope. Threads never share a scope with other session data.
        ttl: Seconds (or a ``timedelta``) a thread lives after its last
            checkpoint or write; ``None``: forever.
        serde: LangGraph serializer for checkpoints, metadata and writes
            (default: LangGraph's ``JsonPlusSerializer``).

    Raises:
        ValidationError: A bad store, scope or ttl.
    """

    def __init__(
        self,
        store_or_url: str | Store,
        *,
        scope: str | None = None,
        ttl: float | timedelta | None = None,
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(serde=serde)
        self._scope = cfg.derive_scope(scope)
        self._ttl = cfg.seconds(ttl, "UnistoreSaver ttl")
        self._bridge = StoreBridge(store_or_url, owner="UnistoreSaver")
        # Threads this saver has written to (their first writes are serialised).
        self._known: set[str] = set()
        self._creating: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"UnistoreSaver(scope={self._scope!r})"

    # -- lifecycle ---------------------------------------------------------

    async def aclose(self) -> None:
        """Close the store if the saver opened it from a URL."""
        await self._bridge.aclose()

    def close(self) -> None:
        """Blocking :meth:`aclose`."""
        self._bridge.close()

    async def __aenter__(self) -> UnistoreSaver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __enter__(self) -> UnistoreSaver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- async API ---------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint a config names, or its namespace's latest, with its writes.

        "Latest" is the checkpoint put last in that namespace of the thread.
        """
        return await self._bridge.call(lambda s: self._get(s, config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Checkpoints newest first; see ``BaseCheckpointSaver.list``.

        With ``config=None`` every thread of the saver's scope is listed.
        """
        for item in await self._bridge.call(lambda s: self._list(s, config, filter, before, limit)):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint (one atomic append); return its config."""
        return await self._bridge.call(lambda s: self._put(s, config, checkpoint, metadata))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes for a checkpoint (one atomic append)."""
        await self._bridge.call(lambda s: self._put_writes(s, config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete a thread: every namespace, checkpoint and write. Missing: no-op."""
        await self._bridge.call(lambda s: self._delete(s, thread_id))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy a thread, every checkpoint and write, in O(1) (a session fork).

        A missing source copies nothing.

        Raises:
            SessionExistsError: The target thread already exists.
        """
        await self._bridge.call(lambda s: self._copy(s, source_thread_id, target_thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints whose metadata ``run_id`` is one of ``run_ids``.

        Their writes go with them. Scans every thread of the scope: O(scope).
        """
        await self._bridge.call(lambda s: self._delete_runs(s, run_ids))

    # -- blocking API ------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Blocking :meth:`aget_tuple`."""
        return self._bridge.run(lambda s: self._get(s, config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Blocking :meth:`alist`."""
        yield from self._bridge.run(lambda s: self._list(s, config, filter, before, limit))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Blocking :meth:`aput`."""
        return self._bridge.run(lambda s: self._put(s, config, checkpoint, metadata))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Blocking :meth:`aput_writes`."""
        self._bridge.run(lambda s: self._put_writes(s, config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        """Blocking :meth:`adelete_thread`."""
        self._bridge.run(lambda s: self._delete(s, thread_id))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Blocking :meth:`acopy_thread`."""
        self._bridge.run(lambda s: self._copy(s, source_thread_id, target_thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Blocking :meth:`adelete_for_runs`."""
        self._bridge.run(lambda s: self._delete_runs(s, run_ids))

    def get_next_version(self, current: str | None, channel: None) -> str:
        """The next channel version: a zero-padded counter plus a random tiebreak."""
        return next_version(current)

    # -- implementation: each runs on the store's loop ---------------------

    async def _get(self, store: FullStore, config: RunnableConfig) -> CheckpointTuple | None:
        selection = _read.Selection(
            ns=cfg.namespace_of(config) or "",
            checkpoint_id=cfg.checkpoint_id_of(config),
            before=None,
            filter=None,
            limit=1,
        )
        thread = cfg.thread_of(config)
        found = await _read.thread_tuples(store, self._scope, self.serde, thread, selection)
        return found[0] if found else None

    async def _list(
        self,
        store: FullStore,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> builtins.list[CheckpointTuple]:
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise ValidationError(f"UnistoreSaver.list: limit must be an int, got {limit!r}"[:200])
        if filter is not None and not isinstance(filter, Mapping):
            raise ValidationError("UnistoreSaver.list: filter must be a mapping")
        if limit is not None and limit <= 0:
            return []
        before_id = cfg.checkpoint_id_of(before)
        if config is not None:
            threads: builtins.list[str] = [cfg.thread_of(config)]
            ns, checkpoint_id = cfg.namespace_of(config, None), cfg.checkpoint_id_of(config)
        else:
            threads, ns, checkpoint_id = await _read.all_threads(store, self._scope), None, None
        found: builtins.list[CheckpointTuple] = []
        for thread in threads:
            selection = _read.Selection(
                ns=ns,
                checkpoint_id=checkpoint_id,
                before=before_id,
                filter=dict(filter) if filter else None,
                limit=None if limit is None else limit - len(found),
            )
            found += await _read.thread_tuples(store, self._scope, self.serde, thread, selection)
            if limit is not None and len(found) >= limit:
                break
        return found

    async def _append(self, store: FullStore, thread: str, text: str) -> None:
        # No idempotency token: every entry is keyed (a checkpoint by its
        # namespace and id, a write by its checkpoint, task and index) and
        # readers collapse a repeated entry, so a retried append whose first
        # reply was lost changes nothing a reader sees - and an append stays
        # one plain round trip.
        if thread in self._known:
            try:
                await store.append_messages(thread, [text], scope=self._scope)
                return
            except SessionNotFoundError:
                self._known.discard(thread)  # deleted meanwhile: create it again
        # LangGraph stores a step's checkpoint and writes concurrently. The
        # first writes to a thread go one at a time, so the thread is created
        # once and no append races the creation.
        lock = self._creating.setdefault(thread, asyncio.Lock())
        async with lock:
            try:
                await store.append_messages(thread, [text], scope=self._scope)
            except SessionNotFoundError:
                # Another process may create the thread first: append to theirs.
                with contextlib.suppress(SessionExistsError):
                    await store.create_session(thread, scope=self._scope, ttl=self._ttl)
                await store.append_messages(thread, [text], scope=self._scope)
            self._known.add(thread)
        if not lock.locked():
            self._creating.pop(thread, None)

    async def _put(
        self,
        store: FullStore,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
    ) -> RunnableConfig:
        thread, ns, checkpoint_id, text = self._checkpoint_entry(config, checkpoint, metadata)
        await self._append(store, thread, text)
        return _read.checkpoint_config(thread, ns, checkpoint_id)

    def _checkpoint_entry(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata
    ) -> tuple[str, str, str, str]:
        """The thread, namespace, id and log text of a checkpoint to put."""
        thread = cfg.thread_of(config)
        ns = cfg.namespace_of(config) or ""
        checkpoint_id = checkpoint.get("id") if isinstance(checkpoint, Mapping) else None
        if not isinstance(checkpoint_id, str) or not checkpoint_id:
            raise ValidationError("UnistoreSaver.put: the checkpoint needs a non-empty str 'id'")
        stored: dict[str, Any] = dict(checkpoint)
        values = stored.pop("channel_values", None) or {}
        versions = stored.get("channel_versions") or {}
        # As in LangGraph's savers, a channel without a version is not part of
        # the checkpoint's state.
        stored["channel_values"] = {k: v for k, v in values.items() if k in versions}
        entry = {
            "k": _log.CHECKPOINT,
            "ns": ns,
            "id": checkpoint_id,
            "p": cfg.checkpoint_id_of(config),
            "cp": _log.typed(self.serde, stored),
            "md": _log.typed(self.serde, get_checkpoint_metadata(config, metadata)),
        }
        return thread, ns, checkpoint_id, _log.dump(entry)

    async def _put_writes(
        self,
        store: FullStore,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> None:
        thread = cfg.thread_of(config)
        ns = cfg.namespace_of(config) or ""
        checkpoint_id = cfg.checkpoint_id_of(config)
        if checkpoint_id is None:
            raise ValidationError("UnistoreSaver.put_writes: the config needs a checkpoint_id")
        if not isinstance(task_id, str) or not isinstance(task_path, str):
            raise ValidationError("UnistoreSaver.put_writes: task_id and task_path must be str")
        if not writes:
            return
        entry = _log.writes_entry(self.serde, ns, checkpoint_id, list(writes), task_id, task_path)
        await self._append(store, thread, _log.dump(entry))

    async def _delete(self, store: FullStore, thread_id: object) -> None:
        thread = cfg.thread_id(thread_id)
        self._known.discard(thread)
        await store.delete_session(thread, scope=self._scope)

    async def _copy(self, store: FullStore, source: object, target: object) -> None:
        src, dst = (
            cfg.thread_id(source, "source_thread_id"),
            cfg.thread_id(target, "target_thread_id"),
        )
        try:
            await store.fork_session(src, dst, scope=self._scope, ttl=self._ttl)
        except SessionNotFoundError:
            return  # nothing to copy, as for LangGraph's own savers

    async def _delete_runs(self, store: FullStore, run_ids: Sequence[str]) -> None:
        if isinstance(run_ids, str):
            raise ValidationError(
                "UnistoreSaver.delete_for_runs takes a sequence of run ids, not a str"
            )
        doomed = {str(run) for run in run_ids}
        if not doomed:
            return
        for thread in await _read.all_threads(store, self._scope):
            await _read.drop_runs(store, self._scope, self.serde, thread, doomed)
