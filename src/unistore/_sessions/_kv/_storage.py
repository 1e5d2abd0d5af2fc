"""Message storage of generic session documents: chunks, base chains, materialising.

A session stores its own messages ``[base_point, length)`` in chunk slots and
reads ``[0, base_point)`` from its base, recursively. Everything here only
reads through, and queues writes on, a transaction the caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from unistore._sessions._kv._layout import (
    chunk_slot,
    decode_id,
    encode_id,
    forks_slot,
    meta_slot,
)
from unistore._sessions._kv._meta import Meta
from unistore.errors import CorruptionError
from unistore.protocols import Transaction
from unistore.sdk import session_not_found

__all__ = ["Hints", "Inconsistent", "MessageStorage", "Restart"]


@dataclass(frozen=True, slots=True)
class Hints:
    """Sessions an attempt found it must watch besides the session itself."""

    forks: tuple[str, ...] = ()
    chain: tuple[str, ...] = ()


class Restart(Exception):  # noqa: N818 - control flow, never escapes an operation
    """The attempt must run again, watching ``hints``."""

    def __init__(self, hints: Hints) -> None:
        super().__init__()
        self.hints = hints


class Inconsistent(Restart):
    """A read found data missing that its watches promise.

    Either a concurrent writer (whose change fails our commit anyway) or, if it
    persists, corruption.
    """


class MessageStorage:
    """Reads and queued writes of session messages in chunks of ``chunk`` messages."""

    def __init__(self, chunk: int, ttl: float) -> None:
        self._chunk = chunk
        self._ttl = ttl

    async def load(self, tx: Transaction, session_id: str) -> Meta:
        fields = await tx.hgetall(meta_slot(encode_id(session_id)))
        if not fields:
            raise session_not_found(session_id)
        return Meta.from_fields(fields)

    async def chain(self, tx: Transaction, first: Meta, hints: Hints) -> list[Meta]:
        """Return ``first`` and its bases; restart unless all of them are watched.

        A base's prefix only changes after the forks sharing it are
        materialised, which writes their ``meta``: watching every ``meta`` of
        the chain makes the reads below it consistent.
        """
        chain = [first]
        node = first
        while node.base is not None:
            ids = (*(meta.id for meta in chain[1:]), node.base)
            anomaly = Inconsistent if set(ids) <= set(hints.chain) else Restart
            if node.base == first.id or node.base in ids[:-1]:
                raise anomaly(Hints(forks=hints.forks, chain=ids[:-1]))
            fields = await tx.hgetall(meta_slot(encode_id(node.base)))
            if not fields:
                raise anomaly(Hints(forks=hints.forks, chain=ids))
            base = Meta.from_fields(fields)
            if base.id != node.base:
                raise CorruptionError("a session record is stored under another id")
            chain.append(base)
            node = base
        ids = tuple(meta.id for meta in chain[1:])
        if not set(ids) <= set(hints.chain):
            raise Restart(Hints(forks=hints.forks, chain=ids))
        return chain

    def watch(self, session_id: str, hints: Hints, *, forks: bool) -> list[str]:
        encoded = encode_id(session_id)
        watch = [meta_slot(encoded)]
        if forks:
            watch.append(forks_slot(encoded))
        watch.extend(meta_slot(encode_id(sid)) for sid in (*hints.forks, *hints.chain))
        return watch

    async def read_own(
        self, tx: Transaction, encoded: str, lo: int, hi: int, hints: Hints
    ) -> list[str]:
        size = self._chunk
        out: list[str] = []
        for chunk in range(lo // size, (hi - 1) // size + 1):
            fields = await tx.hgetall(chunk_slot(encoded, chunk))
            for index in range(max(lo, chunk * size), min(hi, chunk * size + size)):
                value = fields.get(str(index))
                if value is None:
                    raise Inconsistent(hints)
                out.append(value.decode("utf-8", "surrogatepass"))
        return out

    async def read_range(
        self, tx: Transaction, chain: list[Meta], lo: int, hi: int, hints: Hints
    ) -> list[str]:
        """Read messages ``[lo, hi)`` of ``chain[0]``, from whichever session stores them."""
        segments: list[tuple[str, int, int]] = []
        limit = hi
        for node in chain:
            if limit <= lo:
                break
            start = max(lo, node.base_point)
            if start < limit:
                segments.append((node.encoded, start, limit))
            limit = min(limit, node.base_point)
        out: list[str] = []
        for encoded, start, end in reversed(segments):
            out.extend(await self.read_own(tx, encoded, start, end, hints))
        return out

    def queue_messages(
        self, tx: Transaction, encoded: str, start: int, messages: Sequence[str]
    ) -> None:
        by_chunk: dict[int, dict[str, bytes]] = {}
        for offset, text in enumerate(messages):
            index = start + offset
            by_chunk.setdefault(index // self._chunk, {})[str(index)] = text.encode(
                "utf-8", "surrogatepass"
            )
        for chunk, fields in by_chunk.items():
            tx.hset(chunk_slot(encoded, chunk), fields, ttl=self._ttl)

    def queue_drop(self, tx: Transaction, encoded: str, lo: int, hi: int) -> None:
        """Queue deleting the session's own messages ``[lo, hi)`` (``hi`` = its length)."""
        size = self._chunk
        if lo >= hi:
            return
        for chunk in range(lo // size, (hi - 1) // size + 1):
            if lo <= chunk * size:
                tx.delete(chunk_slot(encoded, chunk))
            else:
                end = min(hi, chunk * size + size)
                tx.hdel(chunk_slot(encoded, chunk), [str(i) for i in range(lo, end)])

    async def materialise_forks(
        self, tx: Transaction, meta: Meta, start: int, hints: Hints
    ) -> None:
        """Give every fork sharing messages ``start..`` of ``meta`` its own copy.

        Restarts the attempt when such a fork (or a base of ``meta``) is not
        watched yet.
        """
        encoded = meta.encoded
        entries = await tx.hgetall(forks_slot(encoded))
        wanted: list[str] = []
        for name, point in entries.items():
            if not point.isdigit() or int(point) > start:
                wanted.append(decode_id(name))
        if not set(wanted) <= set(hints.forks):
            raise Restart(Hints(forks=tuple(wanted), chain=hints.chain))
        forks: list[Meta] = []
        for fork_id in wanted:
            fields = await tx.hgetall(meta_slot(encode_id(fork_id)))
            fork = Meta.from_fields(fields) if fields else None
            if fork is not None and fork.base == meta.id:
                if fork.base_point > start:
                    forks.append(fork)
            else:
                tx.hdel(forks_slot(encoded), [encode_id(fork_id)])  # a stale entry
        if not forks:
            return
        chain = await self.chain(tx, meta, hints)
        shared = await self.read_range(tx, chain, 0, max(fork.base_point for fork in forks), hints)
        for fork in forks:
            self.queue_messages(tx, fork.encoded, 0, shared[: fork.base_point])
            fork.base, fork.base_point = None, 0
            tx.hset(meta_slot(fork.encoded), {"base": b"null", "base_point": b"0"}, ttl=self._ttl)
            tx.hdel(forks_slot(encoded), [fork.encoded])

    def truncate(self, tx: Transaction, meta: Meta, cut: int) -> None:
        encoded = meta.encoded
        self.queue_drop(tx, encoded, max(cut, meta.base_point), meta.length)
        if meta.base is not None and cut < meta.base_point:
            # The kept prefix lies wholly in the base, unchanged while we are its fork.
            base_forks = forks_slot(encode_id(meta.base))
            if cut == 0:
                tx.hdel(base_forks, [encoded])
                meta.base = None
            else:
                tx.hset(base_forks, {encoded: b"%d" % cut}, ttl=self._ttl)
            meta.base_point = cut
        meta.length = cut
