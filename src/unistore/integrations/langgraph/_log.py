"""A LangGraph thread as one session: its checkpoints and writes as log entries.

Each ``put`` appends one *checkpoint entry* and each ``put_writes`` one
*writes entry* to the thread's session, in the order they happen. Entries are
compact JSON envelopes; the payloads inside (the checkpoint, its metadata, the
written values) are the saver's serde output, base64-encoded, so any value the
serde handles round-trips and a listing can read the envelope without
deserialising what it skips.

The log is append-only and immutable, which is what makes ``copy_thread`` an
O(1) fork: a forked session shares every entry of its parent.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from langgraph.checkpoint.base import WRITES_IDX_MAP, PendingWrite, writes_sort_key
from langgraph.checkpoint.serde.base import SerializerProtocol

from unistore.errors import CorruptionError

CHECKPOINT = "c"
WRITES = "w"


def typed(serde: SerializerProtocol, value: Any) -> list[str]:
    """Serialise ``value`` with ``serde`` into a JSON-safe ``[type, base64]`` pair."""
    kind, data = serde.dumps_typed(value)
    return [kind, base64.b64encode(data).decode("ascii")]


def untyped(serde: SerializerProtocol, pair: list[str]) -> Any:
    """Invert :func:`typed`."""
    return serde.loads_typed((pair[0], base64.b64decode(pair[1])))


def dump(entry: dict[str, Any]) -> str:
    """The stored text of an entry."""
    # ASCII escapes keep lone surrogates in ids storable (the store wants UTF-8).
    return json.dumps(entry, separators=(",", ":"))


class Entry:
    """One decoded envelope; payloads stay encoded until asked for.

    Attributes:
        raw: The envelope as parsed.
        kind: ``"c"`` for a checkpoint entry, ``"w"`` for a writes entry.
        ns: The entry's checkpoint namespace.
        checkpoint_id: The checkpoint the entry stores, or the one its writes
            belong to.
    """

    __slots__ = ("_metadata", "checkpoint_id", "kind", "ns", "raw")

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.kind = str(raw["k"])
        self.ns = str(raw["ns"])
        self.checkpoint_id = str(raw["id"])
        self._metadata: dict[str, Any] | None = None

    def metadata(self, serde: SerializerProtocol) -> dict[str, Any]:
        """A checkpoint entry's metadata, deserialised once (a fresh copy each call)."""
        if self._metadata is None:
            self._metadata = dict(untyped(serde, self.raw["md"]))
        return dict(self._metadata)


def decode(text: str) -> Entry:
    """Parse one stored entry.

    Raises:
        CorruptionError: The text is not an entry this adapter wrote.
    """
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict) or raw.get("k") not in (CHECKPOINT, WRITES):
            raise ValueError("not an entry")
        return Entry(raw)
    except (ValueError, KeyError) as exc:
        # Never echo the text: it holds the application's state.
        raise CorruptionError(
            "a LangGraph thread holds a message that is not a checkpoint log entry"
        ) from exc


def matches(
    entry: Entry,
    serde: SerializerProtocol,
    *,
    ns: str | None,
    checkpoint_id: str | None,
    before: str | None,
    filter: dict[str, Any] | None,
) -> bool:
    """Whether a checkpoint entry passes a ``list``/``get_tuple`` selection."""
    if entry.kind != CHECKPOINT:
        return False
    if ns is not None and entry.ns != ns:
        return False
    if checkpoint_id is not None and entry.checkpoint_id != checkpoint_id:
        return False
    if before is not None and entry.checkpoint_id >= before:
        return False
    if filter:
        metadata = entry.metadata(serde)
        missing = object()
        return all(metadata.get(key, missing) == value for key, value in filter.items())
    return True


def pending_writes(
    entries: list[Entry], position: int, serde: SerializerProtocol
) -> list[PendingWrite]:
    """The writes stored for the checkpoint at ``position``, in ``writes_sort_key`` order.

    Writes usually follow their checkpoint in the log, but may land shortly
    before it (see ``LOOKBACK`` in ``_read``), so the whole window is searched.
    As in LangGraph's own savers, a regular write (index >= 0) is kept once per
    task and index (a repeated ``put_writes`` changes nothing), while a
    special write (error, interrupt, ...) is replaced by a later one.
    """
    target = entries[position]
    stored: dict[tuple[str, int], tuple[str, str, list[str], str]] = {}
    for entry in entries:
        if entry.kind != WRITES or entry.ns != target.ns:
            continue
        if entry.checkpoint_id != target.checkpoint_id:
            continue
        task_id, path = str(entry.raw["t"]), str(entry.raw["p"])
        for idx, channel, value in entry.raw["w"]:
            key = (task_id, int(idx))
            if key[1] >= 0 and key in stored:
                continue
            stored[key] = (task_id, str(channel), value, path)
    ordered = sorted(stored, key=lambda k: writes_sort_key(stored[k][3], *k))
    return [(stored[k][0], stored[k][1], untyped(serde, stored[k][2])) for k in ordered]


def writes_entry(
    serde: SerializerProtocol,
    ns: str,
    checkpoint_id: str,
    writes: list[tuple[str, Any]],
    task_id: str,
    task_path: str,
) -> dict[str, Any]:
    """The envelope of one ``put_writes`` call."""
    rows = [
        [WRITES_IDX_MAP.get(channel, idx), channel, typed(serde, value)]
        for idx, (channel, value) in enumerate(writes)
    ]
    return {"k": WRITES, "ns": ns, "id": checkpoint_id, "t": task_id, "p": task_path, "w": rows}
