"""Reading a thread's log: tail windows, selection, and rewrites that drop entries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint, CheckpointTuple
from langgraph.checkpoint.serde.base import SerializerProtocol

from unistore.errors import SessionConflictError, SessionNotFoundError
from unistore.integrations.langgraph import _log
from unistore.protocols import FullStore

# LangGraph (with its default durability, "async") stores a step's writes
# while the put of the checkpoint they belong to may still be in flight, so a
# writes entry can land shortly *before* its checkpoint entry. A read therefore
# looks for a checkpoint's writes from this many entries before it on.
LOOKBACK = 24
# The first window of a read holds the latest checkpoint and its lookback in
# the common case; each further window is four times larger.
FIRST_WINDOW = 32
GROWTH = 4
THREAD_PAGE = 100


def checkpoint_config(thread: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    """The config LangGraph uses to name one checkpoint."""
    return {
        "configurable": {"thread_id": thread, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}
    }


class Selection:
    """What a ``get_tuple`` or ``list`` call asks of one thread."""

    def __init__(
        self,
        *,
        ns: str | None,
        checkpoint_id: str | None,
        before: str | None,
        filter: dict[str, Any] | None,
        limit: int | None,
    ) -> None:
        self.ns, self.checkpoint_id, self.before = ns, checkpoint_id, before
        self.filter, self.limit = filter, limit

    def positions(self, entries: list[_log.Entry], serde: SerializerProtocol) -> list[int]:
        """Positions of the matching checkpoints, newest (greatest id) first.

        A checkpoint stored twice (put again, or a retried put whose first
        reply was lost) counts once, as its last-stored version. Ids grow with
        time, so ordering by id is LangGraph's "newest first" even where
        appends from concurrent writers interleave.
        """
        latest: dict[tuple[str, str], int] = {}
        for position, entry in enumerate(entries):
            if entry.kind == _log.CHECKPOINT:
                latest[(entry.ns, entry.checkpoint_id)] = position
        found = [
            position
            for position in latest.values()
            if _log.matches(
                entries[position],
                serde,
                ns=self.ns,
                checkpoint_id=self.checkpoint_id,
                before=self.before,
                filter=self.filter,
            )
        ]
        found.sort(key=lambda p: (entries[p].checkpoint_id, p), reverse=True)
        return found if self.limit is None else found[: self.limit]


async def window(
    store: FullStore,
    scope: str,
    thread: str,
    enough: Callable[[list[_log.Entry]], bool] | None,
) -> list[_log.Entry] | None:
    """The tail of a thread's log, grown until ``enough`` holds (``None``: all of it).

    Each window is read in one call, so it is one consistent snapshot even
    while other writers append. ``None`` when the thread does not exist.
    """
    size: int | None = FIRST_WINDOW if enough is not None else None
    while True:
        try:
            texts = await store.read_messages(thread, last=size, scope=scope)
        except SessionNotFoundError:
            return None
        entries = [_log.decode(text) for text in texts]
        if size is None or len(texts) < size or (enough is not None and enough(entries)):
            return entries
        size *= GROWTH


def to_tuple(
    serde: SerializerProtocol, thread: str, entries: list[_log.Entry], position: int
) -> CheckpointTuple:
    """The ``CheckpointTuple`` of the checkpoint entry at ``position``."""
    entry = entries[position]
    checkpoint: Checkpoint = _log.untyped(serde, entry.raw["cp"])
    parent = entry.raw.get("p")
    return CheckpointTuple(
        config=checkpoint_config(thread, entry.ns, entry.checkpoint_id),
        checkpoint=checkpoint,
        metadata=entry.metadata(serde),  # type: ignore[arg-type]
        parent_config=checkpoint_config(thread, entry.ns, parent) if parent else None,
        pending_writes=_log.pending_writes(entries, position, serde),
    )


async def thread_tuples(
    store: FullStore, scope: str, serde: SerializerProtocol, thread: str, selection: Selection
) -> list[CheckpointTuple]:
    """The checkpoints of one thread a selection asks for, newest first."""
    wanted = 1 if selection.checkpoint_id is not None else selection.limit
    # The selection made for the last window read, reused when it is final.
    seen: list[Any] = [None, []]

    def enough(entries: list[_log.Entry]) -> bool:
        found = selection.positions(entries, serde)
        seen[:] = [entries, found]
        return len(found) >= (wanted or 1) and min(found) >= LOOKBACK

    entries = await window(store, scope, thread, enough if wanted is not None else None)
    if entries is None:
        return []
    chosen = seen[1] if seen[0] is entries else selection.positions(entries, serde)
    return [to_tuple(serde, thread, entries, position) for position in chosen]


async def all_threads(store: FullStore, scope: str) -> list[str]:
    """Every thread of a scope, most recently written first."""
    threads: list[str] = []
    cursor: str | None = None
    while True:
        page = await store.list_sessions(scope=scope, limit=THREAD_PAGE, cursor=cursor)
        threads += [record.id for record in page.items]
        if page.next_cursor is None:
            return threads
        cursor = page.next_cursor


async def drop_runs(
    store: FullStore, scope: str, serde: SerializerProtocol, thread: str, doomed: set[str]
) -> None:
    """Drop the checkpoints of ``doomed`` runs (and their writes) from a thread's log.

    The rewrite is conditional on the length read, so a concurrent append is
    never lost: the thread is re-read and the rewrite tried again.
    """
    conflict: SessionConflictError | None = None
    for _attempt in range(5):
        try:
            texts = await store.read_messages(thread, scope=scope)
        except SessionNotFoundError:
            return
        entries = [_log.decode(text) for text in texts]
        gone = {
            (e.ns, e.checkpoint_id)
            for e in entries
            if e.kind == _log.CHECKPOINT and e.metadata(serde).get("run_id") in doomed
        }
        if not gone:
            return
        keep = [
            text
            for text, entry in zip(texts, entries, strict=True)
            if (entry.ns, entry.checkpoint_id) not in gone
        ]
        try:
            await store.replace_messages(thread, 0, keep, expected_length=len(texts), scope=scope)
            return
        except SessionNotFoundError:
            return
        except SessionConflictError as exc:
            conflict = exc
    assert conflict is not None
    raise conflict
