"""SessionDocuments on Redis: sessions spread over buckets, forks over generations.

The primitives of :class:`~unistore.sdk.SessionDocumentsBase`. Each write is
one single-slot script on its session's bucket (see
:mod:`unistore_redis._lua_sessions`); what it cannot do in another slot
(unpinning a base, checking that a pin's fork exists) it reports, and the
client carries out afterwards. A fork is two scripts: pin the parent's
generation, then create the child. A read of a fork whose shared messages
live in another bucket takes one more script per bucket it reads from. A
listing page is one pipelined script per bucket, merged here.
"""

from __future__ import annotations

import heapq
import json
import logging
import secrets
from abc import abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from redis.exceptions import NoScriptError, RedisError

from unistore.errors import ConflictError, CorruptionError, InvalidOptionError
from unistore.protocols import SessionPage, SessionRecord
from unistore.sdk import (
    ForkRequest,
    MessageWrite,
    NewSession,
    PopRequest,
    SessionDocumentsBase,
    decode_cursor,
    encode_cursor,
    length_conflict,
    position_error,
    session_exists,
    session_not_found,
    session_record,
)
from unistore_redis import _lua_sessions as lua
from unistore_redis._buckets import SessionLayout
from unistore_redis._keys import KeyLayout, unescape
from unistore_redis._migrate import has_old_sessions, is_cluster, migrate_sessions
from unistore_redis._script import Script

if TYPE_CHECKING:
    from unistore_redis._config import Client

__all__ = ["DEFAULT_BUCKETS", "RedisSessions"]

logger = logging.getLogger("unistore.driver.redis")

#: Buckets of a store that does not set ``session_buckets``.
DEFAULT_BUCKETS: Final = 64

#: Longest retention the scripts count in microseconds: 100 years. Stamps stay
#: below 2**53, where Lua's doubles are still exact.
_MAX_TTL_US: Final = 3_155_760_000 * 1_000_000

#: How often a fork pins again after a check revoked its pin mid-way.
_FORK_ATTEMPTS: Final = 8


def _text(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogatepass")


def _label(label: str | None) -> tuple[bytes, bytes]:
    return (b"0", b"") if label is None else (b"1", _text(label))


def _meta(metadata: dict[str, Any] | None) -> tuple[bytes, bytes]:
    # The SDK checked that it is JSON-compatible.
    return (b"0", b"") if metadata is None else (b"1", json.dumps(metadata).encode("ascii"))


def _ttl(ttl: float | None) -> tuple[bytes, int]:
    """Return the record's TTL text and the TTL in microseconds the scripts add."""
    if ttl is None:
        return b"", 0
    # The rounding of unistore.sdk.expiry_micros, so expiries agree across drivers.
    return repr(ttl).encode("ascii"), min(_MAX_TTL_US, max(1, round(ttl * 1_000_000)))


def _optional(value: int | None) -> bytes | int:
    return b"" if value is None else value


class RedisSessions(SessionDocumentsBase):
    """The SessionDocuments primitives of :class:`~unistore_redis.RedisStore`."""

    _keys: KeyLayout
    _effective: Mapping[str, object]
    #: Set once the store's layout record was checked (first session call).
    _session_layout: SessionLayout | None = None

    @property
    @abstractmethod
    def _redis(self) -> Client:
        """The client, for one operation (provided by the store)."""

    # -- layout -----------------------------------------------------------------

    def _bucket_count(self) -> int:
        value = self._effective.get("session_buckets", DEFAULT_BUCKETS)
        return value if isinstance(value, int) else DEFAULT_BUCKETS

    async def _layout(self, *, write: bool = True) -> SessionLayout:
        return self._session_layout or await self._open_layout(migrate=True, write=write)

    async def _open_layout(self, *, migrate: bool, write: bool = True) -> SessionLayout:
        """Check the stored bucket count and move sessions of the previous layout.

        A write records the count when none is; a read records nothing (a
        store that was only read holds no key of its own), and checks again
        on the next call until a write recorded it.
        """
        buckets = self._bucket_count()
        layout = SessionLayout(self._keys.prefix, buckets)
        flag = b"1" if write else b"0"
        stored = int(await lua.META.run(self._redis, [layout.meta], [buckets, flag]))
        if stored == 0 and not write:
            if migrate and await has_old_sessions(self._redis, self._keys):
                return await self._open_layout(migrate=True, write=True)
            return layout
        if stored != buckets:
            raise InvalidOptionError(
                f"session_buckets={buckets} does not match this store's sessions, which "
                f"were written with session_buckets={stored}; open the store with "
                f"session_buckets={stored} (the count is fixed once sessions exist)"
            )
        if migrate and await has_old_sessions(self._redis, self._keys):
            moved = await migrate_sessions(self._redis, self._keys, layout, where=str(self.url))
            logger.info("moved %d sessions of the previous key layout into buckets", moved)
        self._session_layout = layout
        return layout

    async def _run(
        self,
        script: Script,
        layout: SessionLayout,
        bucket: int,
        scope: str,
        args: Sequence[bytes | int],
        *,
        once: bool = False,
    ) -> Any:
        keys = layout.script_keys(bucket, scope)
        return await script.run(self._redis, keys, args, once=once)

    # -- cross-slot follow-ups ----------------------------------------------------

    async def _follow_up(self, reply: Sequence[Any], stem: bytes) -> None:
        """Unpin and check what a write reported (see :mod:`._lua_session_helpers`).

        The write itself is done: a failure here must not look like its
        failure (a caller would send it again), so it is logged and left to
        the next write that meets the pin.
        """
        unpins, checks = reply[2], reply[3]
        try:
            for child, nonce, generation in checks:
                alive = await lua.VERIFY.run(
                    self._redis, [child + b":r"], [child, nonce, stem, generation]
                )
                if alive:
                    await lua.MARK.run(self._redis, [stem + b":p"], [stem, nonce, child])
                else:
                    unpins = [*unpins, [stem, nonce, child]]
            await self._unpin_all(unpins)
        except RedisError as exc:
            logger.warning(
                "could not release the messages a removed fork kept (%s); "
                "the next edit of its base retries",
                type(exc).__name__,
            )

    async def _unpin_all(self, unpins: Sequence[Sequence[bytes]]) -> None:
        todo = list(unpins)
        while todo:
            base, nonce, child = todo.pop()
            todo.extend(await lua.UNPIN.run(self._redis, [base + b":p"], [base, nonce, child]))

    async def _read_below(self, pending: Sequence[Any]) -> list[bytes]:
        """Read the positions a fork shares from bases in other buckets, in order."""
        chunks: list[list[bytes]] = []
        while pending:
            stem, generation, lo, hi = pending
            chunk, pending = await lua.READ_GEN.run(
                self._redis, [stem + b":r"], [stem, generation, lo, hi]
            )
            chunks.append(chunk)
        return [message for chunk in reversed(chunks) for message in chunk]

    # -- records ----------------------------------------------------------------

    def _record(self, flat: Sequence[bytes] | Mapping[bytes, bytes], scope: str) -> SessionRecord:
        fields = (
            flat if isinstance(flat, Mapping) else dict(zip(flat[::2], flat[1::2], strict=True))
        )
        try:
            label, parent, fork_point = (
                fields.get(b"label"),
                fields.get(b"parent"),
                fields.get(b"fp"),
            )
            ttl, expires = fields.get(b"ttl"), fields.get(b"x")
            return session_record(
                _decode(fields[b"id"]),
                label=None if label is None else _decode(label),
                parent_id=None if parent is None else _decode(parent),
                fork_point=None if fork_point is None else int(fork_point),
                metadata=json.loads(fields[b"meta"]),
                created_us=int(fields[b"c"]),
                updated_us=int(fields[b"u"]),
                message_count=int(fields[b"n"]),
                scope=scope,
                ttl=None if ttl is None else float(ttl),
                expires_us=None if expires is None else int(expires),
            )
        except (KeyError, ValueError) as exc:
            raise CorruptionError(
                f"{self.NAME} store {self.url}: unreadable session record"
            ) from exc

    # -- primitives -------------------------------------------------------------

    async def _create_session(self, new: NewSession) -> SessionRecord:
        layout = self._session_layout or await self._layout()
        bucket, stem = layout.locate(new.session_id, new.scope)
        args: list[bytes | int] = [
            stem,
            _text(new.session_id),
            *_label(new.label),
            json.dumps(new.metadata or {}).encode("ascii"),
            *_ttl(new.ttl),
            *map(_text, new.messages),
        ]
        reply = await self._run(lua.CREATE, layout, bucket, new.scope, args)
        if reply[2] or reply[3]:
            await self._follow_up(reply, stem)
        if reply[0] == 0:
            raise session_exists(new.session_id)
        return self._record(reply[1], new.scope)

    async def _fork_session(self, fork: ForkRequest) -> SessionRecord:
        layout = await self._layout()
        scope = fork.scope
        parent, child = layout.stem(fork.parent_id, scope), layout.stem(fork.session_id, scope)
        parent_bucket = layout.bucket(fork.parent_id, scope)
        child_bucket = layout.bucket(fork.session_id, scope)
        for _ in range(_FORK_ATTEMPTS):
            # The nonce names this incarnation of the fork in its base's pins.
            nonce = secrets.token_hex(8).encode("ascii")
            args: list[bytes | int] = [parent, _optional(fork.at), nonce, child]
            reply = await self._run(lua.FORK_PIN, layout, parent_bucket, scope, args)
            await self._follow_up(reply, parent)
            status = reply[0]
            if status == -1:
                raise session_not_found(fork.parent_id)
            if status == -3:
                if await self._get_session(fork.session_id, scope) is not None:
                    raise session_exists(fork.session_id)
                raise position_error("fork point", reply[1], fork.at)
            base, generation, at = reply[1]
            while status == 2:
                # The fork point lies in the parent's own base, in another bucket.
                pin_args = [base, generation, at, nonce, child]
                pinned = await lua.PIN_GEN.run(self._redis, [base + b":p"], pin_args)
                status = pinned[0]
                if status == 1 or status == 2:
                    base, generation, at = pinned[1]
            if status == 0:
                continue  # that generation went away meanwhile: start again
            args = [
                child,
                _text(fork.session_id),
                _text(fork.parent_id),
                at,
                *_label(fork.label),
                json.dumps(fork.metadata or {}).encode("ascii"),
                *_ttl(fork.ttl),
                base,
                generation,
                nonce,
            ]
            created = await self._run(lua.FORK_CREATE, layout, child_bucket, scope, args)
            await self._follow_up(created, child)
            if created[0] == 1:
                return self._record(created[1], scope)
            if base:
                await self._unpin_all([[base, nonce, child]])
            if created[0] == 0:
                raise session_exists(fork.session_id)
        raise ConflictError(
            f"fork of {fork.parent_id!r} kept racing with concurrent edits; try again"
        )

    async def _write_messages(self, write: MessageWrite) -> int:
        layout = self._session_layout or await self._layout()
        bucket, stem = layout.locate(write.session_id, write.scope)
        args: list[bytes | int] = [
            stem,
            _optional(write.start),
            _optional(write.expected_length),
            b"" if write.token is None else write.token.encode("ascii"),
            *_label(write.label),
            *_meta(write.metadata),
            *map(_text, write.messages),
        ]
        # Sent twice, an append without token or expected length would land
        # twice; with either, a second attempt sees the token or conflicts.
        once = write.token is None and write.expected_length is None
        reply = await self._run(lua.WRITE, layout, bucket, write.scope, args, once=once)
        if reply[2] or reply[3]:
            await self._follow_up(reply, stem)
        status = reply[0]
        if status == -1:
            raise session_not_found(write.session_id)
        if status == -2:
            assert write.expected_length is not None  # the script compares only then
            raise length_conflict(write.session_id, write.expected_length, reply[1])
        if status == -3:
            raise position_error("replace start", reply[1], write.start)
        return int(reply[1])

    async def _pop_messages(self, pop: PopRequest) -> list[str]:
        layout = self._session_layout or await self._layout()
        bucket, stem = layout.locate(pop.session_id, pop.scope)
        args: list[bytes | int] = [stem, pop.n, _optional(pop.expected_length)]
        # Without an expected length a second attempt would pop again.
        once = pop.expected_length is None
        reply = await self._run(lua.POP, layout, bucket, pop.scope, args, once=once)
        status = reply[0]
        if status == -1:
            raise session_not_found(pop.session_id)
        if status == -2:
            assert pop.expected_length is not None  # the script compares only then
            raise length_conflict(pop.session_id, pop.expected_length, reply[1])
        # Lower popped positions may sit in a base: read them before unpinning it.
        popped = await self._read_below(reply[4]) + reply[1]
        if reply[2] or reply[3]:
            await self._follow_up(reply, stem)
        return [_decode(message) for message in popped]

    async def _read_messages(self, session_id: str, last: int | None, scope: str) -> list[str]:
        layout = self._session_layout or await self._layout(write=False)
        bucket, stem = layout.locate(session_id, scope)
        reply = await self._run(lua.READ, layout, bucket, scope, [stem, _optional(last)])
        if reply[0] == -1:
            raise session_not_found(session_id)
        messages = reply[1]
        if reply[2]:
            messages = await self._read_below(reply[2]) + messages
        return [_decode(message) for message in messages]

    async def _get_session(self, session_id: str, scope: str) -> SessionRecord | None:
        layout = self._session_layout or await self._layout(write=False)
        bucket, stem = layout.locate(session_id, scope)
        reply = await self._run(lua.GET, layout, bucket, scope, [stem])
        return None if reply[0] == -1 else self._record(reply[1], scope)

    async def _list_sessions(self, limit: int, cursor: str | None, scope: str) -> SessionPage:
        layout = await self._layout(write=False)
        after = b""
        if cursor is not None:
            # The listing member after which the page starts: update time and session.
            stamp, session_id = decode_cursor(cursor, int, str)
            after = b"%020d" % stamp + layout.stem(session_id, scope)
        if not is_cluster(self._redis):
            # One server holds every bucket: one script merges them there.
            listings = [layout.listing(bucket, scope) for bucket in range(layout.buckets)]
            more, flat = await lua.LIST_MERGED.run(self._redis, listings, [after, limit])
            found = [self._record(flat[i + 1], scope) for i in range(0, len(flat), 2)]
            last_cursor = None
            if more and found:
                last_cursor = encode_cursor(int(flat[-2][:20]), found[-1].id)
            return SessionPage(items=found, next_cursor=last_cursor)
        top = await self._merged(layout, scope, after, limit + 1)
        page = top[:limit]
        records = await self._records([member[20:] for member in page])
        items = [self._record(flat, scope) for flat in records if flat]
        next_cursor = None
        if len(top) > limit:
            # The stem ends in the escaped id (which holds no ":").
            last = page[-1]
            next_cursor = encode_cursor(int(last[:20]), unescape(last.rsplit(b":", 1)[1]))
        return SessionPage(items=items, next_cursor=next_cursor)

    async def _records(self, stems: Sequence[bytes]) -> list[dict[bytes, bytes]]:
        """Read the records of a page, pipelined (one round trip per server).

        A session deleted since its bucket listed it has no record any more,
        and is left out of the page.
        """
        if not stems:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for stem in stems:
            pipe.hgetall(stem + b":r")
        return list(await pipe.execute())

    async def _merged(
        self, layout: SessionLayout, scope: str, after: bytes, want: int
    ) -> list[bytes]:
        """Return the listing members of the ``want`` newest live sessions after ``after``.

        Each bucket first gives a share of the page; only a bucket whose
        members were all taken can hold more of it, so only those are asked
        again (after their last member), until the page is settled. Members
        are short, so asking a bucket for too many costs little; the records
        are read once, for the page alone.
        """
        share = min(want, max(2, -(-2 * want // layout.buckets)))
        fetched: dict[int, list[bytes]] = {}
        resume: dict[int, bytes] = {}
        asks = dict.fromkeys(range(layout.buckets), (after, share))
        while True:
            replies = await self._list_round(layout, scope, asks)
            for bucket, (more, members) in zip(asks, replies, strict=True):
                got = fetched.setdefault(bucket, [])
                got += members
                if more:
                    resume[bucket] = got[-1]
                else:
                    resume.pop(bucket, None)
            top = heapq.nlargest(
                want, ((member, bucket) for bucket, got in fetched.items() for member in got)
            )
            taken: dict[int, int] = {}
            for _, bucket in top:
                taken[bucket] = taken.get(bucket, 0) + 1
            # One more than the page could still take: a member left over
            # proves the bucket has nothing more for this page.
            asks = {
                bucket: (start, max(share, want - taken.get(bucket, 0) + 1))
                for bucket, start in resume.items()
                if len(top) < want or taken.get(bucket, 0) == len(fetched[bucket])
            }
            if not asks:
                return [member for member, _ in top]

    async def _list_round(
        self, layout: SessionLayout, scope: str, asks: Mapping[int, tuple[bytes, int]]
    ) -> list[Any]:
        """Run LIST on each bucket asked, pipelined (one round trip per server)."""
        script = lua.LIST
        for attempt in range(2):
            pipe = self._redis.pipeline(transaction=False)
            for bucket, (start, count) in asks.items():
                pipe.execute_command(
                    "EVALSHA", script.sha, 1, layout.listing(bucket, scope), start, count
                )
            replies = await pipe.execute(raise_on_error=False)
            if attempt == 0 and any(isinstance(reply, NoScriptError) for reply in replies):
                # A restarted or flushed server: load the script and ask again
                # (a NOSCRIPT reply means nothing ran).
                await self._redis.script_load(script.text)
                continue
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            return list(replies)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _update_session(
        self, session_id: str, label: str | None, metadata: dict[str, Any] | None, scope: str
    ) -> SessionRecord:
        layout = await self._layout()
        stem = layout.stem(session_id, scope)
        args: list[bytes | int] = [stem, *_label(label), *_meta(metadata)]
        bucket = layout.bucket(session_id, scope)
        reply = await self._run(lua.UPDATE, layout, bucket, scope, args)
        if reply[2] or reply[3]:
            await self._follow_up(reply, stem)
        if reply[0] == -1:
            raise session_not_found(session_id)
        return self._record(reply[1], scope)

    async def _delete_session(self, session_id: str, scope: str) -> bool:
        layout = await self._layout()
        stem = layout.stem(session_id, scope)
        bucket = layout.bucket(session_id, scope)
        reply = await self._run(lua.DELETE, layout, bucket, scope, [stem])
        if reply[2] or reply[3]:
            await self._follow_up(reply, stem)
        return bool(reply[0])

    async def _scopes(self) -> AsyncIterator[str]:
        # For tooling: a listing exists while its scope holds a session in its
        # bucket (an empty sorted set is deleted), so SCAN over the listings
        # finds every scope; SCAN may return a key twice and the SDK drops repeats.
        layout = await self._layout(write=False)
        async for key in self._redis.scan_iter(match=layout.listing_glob(), count=1000):
            yield layout.scope_of_listing(key)
