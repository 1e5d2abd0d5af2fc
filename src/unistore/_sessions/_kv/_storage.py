"""Message storage of generic session documents: chunks, base chains, materialising.

A session stores its own messages ``[base_point, length)`` in chunk slots and
reads ``[0, base_point)`` from its base, recursively; a fork and its bases are
in one scope. Everything here only reads through, and queues writes on, a
transaction the caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from unistore._sessions._kv._layout import Names, decode_id, encode_id
from unistore._sessions._kv._meta import Meta
from unistore.errors import CorruptionError
from unistore.protocols import Transaction
from unistore.sdk import session_not_found

__all__ = ["Expired", "Hints", "Inconsistent", "MessageStorage", "Restart"]


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


class Expired(Exception):  # noqa: N818 - control flow, never escapes an operation
    """The attempt met a session past its expiry: reclaim it, then run again.

    An expired session is absent for every call, but its slots stay until
    something deletes them, the way a delete does (its forks get their own copy
    of what they share first). Raising this lets the caller do that in a
    transaction of its own, then retry the operation, which finds no session.
    """

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id


class MessageStorage:
    """Reads and queued writes of one scope's messages in chunks of ``chunk`` messages.

    Args:
        names: The slot names of the scope.
        chunk: Messages per chunk slot.
        ttl: The expiry written with every slot (``None``: never).
    """

    def __init__(self, names: Names, chunk: int, ttl: float | None) -> None:
        self.names = names
        self._chunk = chunk
        self._ttl = ttl

    async def find(self, tx: Transaction, session_id: str) -> Meta | None:
        """Return the stored record of a session, expired or not, or ``None``."""
        fields = await tx.hgetall(self.names.meta(encode_id(session_id)))
        return Meta.from_fields(fields, self.names.scope) if fields else None

    async def load(self, tx: Transaction, session_id: str, now: int) -> Meta:
        """Return the record of a live session.

        Raises:
            SessionNotFoundError: No such session.
            Expired: The session is past its expiry (and not reclaimed yet).
        """
        meta = await self.find(tx, session_id)
        if meta is None:
            raise session_not_found(session_id)
        if meta.expired(now):
            raise Expired(session_id)
        return meta

    async def chain(self, tx: Transaction, first: Meta, hints: Hints) -> list[Meta]:
        """Return ``first`` and its bases; restart unless all of them are watched.

        A base's prefix only changes after the forks sharing it are
        materialised, which writes their ``meta``: watching every ``meta`` of
        the chain makes the reads below it consistent. A base past its expiry
        still serves its forks until it is reclaimed, which materialises them.
        """
        chain = [first]
        node = first
        while node.base is not None:
            ids = (*(meta.id for meta in chain[1:]), node.base)
            anomaly = Inconsistent if set(ids) <= set(hints.chain) else Restart
            if node.base == first.id or node.base in ids[:-1]:
                raise anomaly(Hints(forks=hints.forks, chain=ids[:-1]))
            base = await self.find(tx, node.base)
            if base is None:
                raise anomaly(Hints(forks=hints.forks, chain=ids))
            if base.id != node.base:
                raise CorruptionError("a session record is stored under another id")
            chain.append(base)
            node = base
        ids = tuple(meta.id for meta in chain[1:])
        if not set(ids) <= set(hints.chain):
            raise Restart(Hints(forks=hints.forks, chain=ids))
        return chain

    def watch(self, session_id: str, hints: Hints, *, forks: bool) -> list[str]:
        names = self.names
        encoded = encode_id(session_id)
        watch = [names.meta(encoded)]
        if forks:
            watch.append(names.forks(encoded))
        watch.extend(names.meta(encode_id(sid)) for sid in (*hints.forks, *hints.chain))
        return watch

    async def read_own(
        self, tx: Transaction, encoded: str, lo: int, hi: int, hints: Hints
    ) -> list[str]:
        size = self._chunk
        out: list[str] = []
        for chunk in range(lo // size, (hi - 1) // size + 1):
            fields = await tx.hgetall(self.names.chunk(encoded, chunk))
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
            tx.hset(self.names.chunk(encoded, chunk), fields, ttl=self._ttl)

    def queue_drop(self, tx: Transaction, encoded: str, lo: int, hi: int) -> None:
        """Queue deleting the session's own messages ``[lo, hi)`` (``hi`` = its length)."""
        size = self._chunk
        if lo >= hi:
            return
        for chunk in range(lo // size, (hi - 1) // size + 1):
            if lo <= chunk * size:
                tx.delete(self.names.chunk(encoded, chunk))
            else:
                end = min(hi, chunk * size + size)
                tx.hdel(self.names.chunk(encoded, chunk), [str(i) for i in range(lo, end)])

    async def materialise_forks(
        self, tx: Transaction, meta: Meta, start: int, hints: Hints
    ) -> None:
        """Give every fork sharing messages ``start..`` of ``meta`` its own copy.

        Restarts the attempt when such a fork (or a base of ``meta``) is not
        watched yet.
        """
        names = self.names
        encoded = meta.encoded
        entries = await tx.hgetall(names.forks(encoded))
        wanted: list[str] = []
        for name, point in entries.items():
            if not point.isdigit() or int(point) > start:
                wanted.append(decode_id(name))
        if not set(wanted) <= set(hints.forks):
            raise Restart(Hints(forks=tuple(wanted), chain=hints.chain))
        forks: list[Meta] = []
        for fork_id in wanted:
            fork = await self.find(tx, fork_id)
            if fork is not None and fork.base == meta.id:
                if fork.base_point > start:
                    forks.append(fork)
            else:
                tx.hdel(names.forks(encoded), [encode_id(fork_id)])  # a stale entry
        if not forks:
            return
        chain = await self.chain(tx, meta, hints)
        shared = await self.read_range(tx, chain, 0, max(fork.base_point for fork in forks), hints)
        for fork in forks:
            self.queue_messages(tx, fork.encoded, 0, shared[: fork.base_point])
            fork.base, fork.base_point = None, 0
            fields = {"base": b"null", "base_point": b"0"}
            tx.hset(names.meta(fork.encoded), fields, ttl=self._ttl)
            tx.hdel(names.forks(encoded), [fork.encoded])

    def truncate(self, tx: Transaction, meta: Meta, cut: int) -> None:
        encoded = meta.encoded
        self.queue_drop(tx, encoded, max(cut, meta.base_point), meta.length)
        if meta.base is not None and cut < meta.base_point:
            # The kept prefix lies wholly in the base, unchanged while we are its fork.
            base_forks = self.names.forks(encode_id(meta.base))
            if cut == 0:
                tx.hdel(base_forks, [encoded])
                meta.base = None
            else:
                tx.hset(base_forks, {encoded: b"%d" % cut}, ttl=self._ttl)
            meta.base_point = cut
        meta.length = cut
