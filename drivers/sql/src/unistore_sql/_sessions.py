"""Session documents: a record row per session, a message row per (session, seq).

A session's identity is (scope, id), folded into its key
(:func:`~unistore_sql._keys.session_key`); messages and tokens hang off that
key. See :mod:`unistore_sql._session_sql` for the fork storage and the
statements.

Before an edit, a pop or a delete drops rows a fork still shares, the fork is
materialised (the shared messages are copied into its own rows with one
``INSERT ... SELECT`` and its base pointer cleared), inside the same
transaction, with the fork's row locked against a concurrent append. An
expired session is reclaimed the same way - by the sweep, or by a create or
fork that needs its id - so its forks keep their shared prefix.

Concurrency: every multi-statement write first locks the session's row
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write transaction holds
the database), or is an ``UPDATE ... RETURNING`` that does both at once, so
writers of one session take turns and positions never collide.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import BigInteger, Integer, LargeBinary, bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from unistore.errors import CorruptionError, ValidationError
from unistore.protocols import SessionPage, SessionRecord
from unistore.sdk import (
    ForkRequest,
    MessageWrite,
    NewSession,
    PopRequest,
    decode_cursor,
    encode_cursor,
    expiry_micros,
    length_conflict,
    position_error,
    session_exists,
    session_not_found,
    session_record,
)
from unistore_sql._keys import decode, encode, micros, scope_key, session_key
from unistore_sql._schema import Tables
from unistore_sql._session_sql import SessionQueries

__all__ = [
    "MAX_INDEX",
    "After",
    "SessionStatements",
    "metadata_json",
    "read_cursor",
    "within",
]

#: Largest message position or count (the columns are 32-bit integers).
MAX_INDEX = 2**31 - 1
_MAX_STAMP = 2**63 - 1
_BAD_CURSOR = "invalid session listing cursor"

#: Where a listing page resumes: after (``updated_us``, id bytes).
After = tuple[int, bytes]


def metadata_json(metadata: dict[str, Any] | None) -> str | None:
    """Serialise metadata the SDK checked (``None`` stays ``None``: keep the stored one)."""
    return None if metadata is None else json.dumps(metadata, separators=(",", ":"))


def within(value: int, what: str, upper: int) -> int:
    """Refuse a position past ``upper`` (a length, or what a 32-bit column holds)."""
    if value > upper:
        raise position_error(what, upper, value)
    return value


def make_cursor(updated_us: int, sid: bytes) -> str:
    """Return the cursor of the page after the row (``updated_us``, ``sid``)."""
    return encode_cursor(updated_us, sid.hex())


def read_cursor(cursor: str) -> After:
    """Invert :func:`make_cursor`, refusing stamps no row can have."""
    updated_us, key = decode_cursor(cursor, int, str)
    if not 0 <= updated_us <= _MAX_STAMP:
        raise ValidationError(_BAD_CURSOR)
    try:
        return updated_us, bytes.fromhex(key)
    except ValueError:
        raise ValidationError(_BAD_CURSOR) from None


def _text(raw: bytes | memoryview | None) -> str | None:
    return None if raw is None else decode(raw)


def _live(head: Any, now: int) -> bool:
    return head.expires_us is None or head.expires_us > now


class SessionStatements:
    """The session operations of one store, each a function of one connection."""

    def __init__(self, tables: Tables, dialect: str, clock: Callable[[], float]) -> None:
        self.tables = tables
        self._clock = clock
        self.q = SessionQueries(tables, dialect)
        self._last_us = 0
        # The UPDATEs that end a write, one per shape (which columns it sets):
        # built and compiled once, then run with parameters only.
        self._finishers: dict[tuple[Any, ...], Any] = {}

    # -- helpers ----------------------------------------------------------------

    def _stamp(self) -> int:
        # Strictly increasing per store, so "most recently updated" is unambiguous.
        stamp = max(micros(self._clock()), self._last_us + 1)
        self._last_us = stamp
        return stamp

    def _now(self) -> int:
        return micros(self._clock())

    @staticmethod
    def record(row: Any, scope: str) -> SessionRecord:
        try:
            metadata = json.loads(row.metadata_json)
        except ValueError as exc:
            raise CorruptionError("stored session metadata is not valid JSON") from exc
        return session_record(
            _text(row.sid) or "",
            label=_text(row.label),
            parent_id=_text(row.parent_id),
            fork_point=row.fork_point,
            metadata=metadata,
            created_us=row.created_us,
            updated_us=row.updated_us,
            message_count=row.message_count,
            scope=scope,
            ttl=row.ttl,
            expires_us=row.expires_us,
        )

    def _new_row(
        self,
        session_id: str,
        scope: str,
        label: str | None,
        meta: str | None,
        ttl: float | None,
    ) -> dict[str, Any]:
        stamp = self._stamp()
        return {
            "sid_key": session_key(scope, session_id),
            "sid": encode(session_id),
            "scope_key": scope_key(scope),
            "scope": encode(scope) if scope else None,
            "label": None if label is None else encode(label),
            "parent_id": None,
            "fork_point": None,
            "base_key": None,
            "own_start": 0,
            "metadata_json": "{}" if meta is None else meta,
            "created_us": stamp,
            "updated_us": stamp,
            "message_count": 0,
            "ttl": ttl,
            "ttl_us": expiry_micros(0, ttl),
            "expires_us": expiry_micros(self._now(), ttl),
        }

    def _finish(
        self,
        key: bytes,
        now: int,
        count: int | None,
        label: str | None,
        meta: str | None,
        *,
        add: bool = False,
        guard: int | None = None,
        record: bool = False,
        **extra: Any,
    ) -> tuple[Any, dict[str, Any]]:
        """Return the UPDATE that ends a write, and its parameters.

        It sets the length (``count``, or the stored length plus ``count``
        with ``add``; ``None`` keeps it), the stamp, the deadline, the label
        and metadata when given and the ``extra`` columns; ``guard`` is the
        length the row must have. It returns the length, or with ``record``
        the whole record. The deadline comes from the column (``now + ttl_us``, NULL for
        a lasting session), so a write needs no read of it first; it counts
        from the clock, like every expiry check, not from the stamp (which
        may run ahead of it by a few microseconds to stay strictly increasing).
        """
        shape = (
            count is None,
            add,
            label is not None,
            meta is not None,
            guard is not None,
            record,
            *extra,
        )
        stmt = self._finishers.get(shape)
        if stmt is None:
            stmt = self._finishers[shape] = self._finisher(shape)
        params: dict[str, Any] = {"k": key, "now": now, "stamp": self._stamp()}
        if count is not None:
            params["count"] = count
        if label is not None:
            params["label"] = encode(label)
        if meta is not None:
            params["meta"] = meta
        if guard is not None:
            params["guard"] = guard
        for name, value in extra.items():
            params[f"x_{name}"] = value
        return stmt, params

    def _finisher(self, shape: tuple[Any, ...]) -> Any:
        keep, add, label, meta, guard, record, *extra = shape
        s = self.tables.sessions
        values: dict[str, Any] = {
            "updated_us": bindparam("stamp", type_=BigInteger),
            "expires_us": bindparam("now", type_=BigInteger) + s.c.ttl_us,
        }
        if not keep:
            count = bindparam("count", type_=Integer)
            values["message_count"] = s.c.message_count + count if add else count
        if label:
            values["label"] = bindparam("label", type_=s.c.label.type)
        if meta:
            values["metadata_json"] = bindparam("meta", type_=s.c.metadata_json.type)
        for name in extra:
            values[name] = bindparam(f"x_{name}", type_=s.c[name].type)
        stmt = update(s).where(s.c.sid_key == bindparam("k", type_=LargeBinary), self.q.live)
        if guard:
            stmt = stmt.where(s.c.message_count == bindparam("guard", type_=Integer))
        returned = self.q.cols if record else (s.c.message_count,)
        return stmt.values(**values).returning(*returned)

    async def _insert_messages(
        self, conn: AsyncConnection, key: bytes, start: int, messages: list[str]
    ) -> None:
        if messages:
            rows = [
                {"sid_key": key, "seq": start + i, "body": body} for i, body in enumerate(messages)
            ]
            await conn.execute(self.q.append_rows, rows)

    async def _materialise_forks(self, conn: AsyncConnection, key: bytes, start: int) -> None:
        """Give every fork sharing positions at or past ``start`` of ``key`` its own copy."""
        q = self.q
        forks = (await conn.execute(q.forks, {"k": key, "start": start})).all()
        for fork in sorted(forks, key=lambda row: bytes(row.sid_key)):
            fork_key = bytes(fork.sid_key)
            params = {"fork": fork_key, "base": key, "upto": fork.own_start}
            await conn.execute(q.materialise, params)
            await conn.execute(q.detach, {"k": fork_key})

    async def _reclaim(self, conn: AsyncConnection, key: bytes) -> None:
        """Delete a session's rows (its row locked), its forks materialised first."""
        q = self.q
        await self._materialise_forks(conn, key, -1)
        await conn.execute(q.drop_messages, {"k": key})
        await conn.execute(q.token_drop, {"k": key})
        await conn.execute(q.drop_session, {"k": key})

    async def _locked_head(self, conn: AsyncConnection, key: bytes, now: int) -> Any:
        """Lock and return a live session's head, or ``None``."""
        head = (await conn.execute(self.q.head, {"k": key})).first()
        return head if head is not None and _live(head, now) else None

    async def _cut(self, conn: AsyncConnection, key: bytes, head: Any, start: int) -> Any:
        """Drop positions from ``start`` on; return the new (own_start, base_key)."""
        own_start, base_key = head.own_start, head.base_key
        if start != head.message_count:
            await self._materialise_forks(conn, key, start)
            await conn.execute(self.q.drop_tail, {"k": key, "start": start})
            if start < own_start:
                # The kept prefix lies wholly in the base, which cannot change
                # under this session: editing it would materialise this one first.
                own_start = start
                if start == 0:
                    base_key = None
        return own_start, base_key

    async def _insert_new(self, conn: AsyncConnection, row: dict[str, Any]) -> Any:
        return (await conn.execute(self.q.create, row)).first()

    async def _claim(self, conn: AsyncConnection, row: dict[str, Any], session_id: str) -> Any:
        """Insert ``row`` over an expired session of the same key (locked, reclaimed first)."""
        key = row["sid_key"]
        head = (await conn.execute(self.q.head, {"k": key})).first()
        if head is not None:
            if _live(head, self._now()):
                raise session_exists(session_id)
            await self._reclaim(conn, key)
        created = await self._insert_new(conn, row)
        if created is None:
            raise session_exists(session_id)
        return created

    # -- creating -----------------------------------------------------------------

    def _create_row(self, new: NewSession) -> dict[str, Any]:
        row = self._new_row(
            new.session_id, new.scope, new.label, metadata_json(new.metadata), new.ttl
        )
        row["message_count"] = len(new.messages)
        return row

    async def create(self, conn: AsyncConnection, new: NewSession) -> SessionRecord | None:
        """Create the session and its first messages; ``None`` if its key is taken.

        The messages go in only once the session row is in: a taken key
        writes nothing.
        """
        row = self._create_row(new)
        created = await self._insert_new(conn, row)
        if created is None:
            return None
        await self._insert_messages(conn, row["sid_key"], 0, new.messages)
        return self.record(created, new.scope)

    async def create_over(self, conn: AsyncConnection, new: NewSession) -> SessionRecord:
        """Create the session where its key is taken: only an expired one gives way."""
        row = self._create_row(new)
        created = await self._claim(conn, row, new.session_id)
        await self._insert_messages(conn, row["sid_key"], 0, new.messages)
        return self.record(created, new.scope)

    async def fork(self, conn: AsyncConnection, fork: ForkRequest) -> SessionRecord:
        parent_key = session_key(fork.scope, fork.parent_id)
        length = (await conn.execute(self.q.parent, {"k": parent_key, "now": self._now()})).scalar()
        if length is None:
            raise session_not_found(fork.parent_id)
        point = length if fork.at is None else within(fork.at, "fork point", length)
        meta = metadata_json(fork.metadata)
        row = self._new_row(fork.session_id, fork.scope, fork.label, meta, fork.ttl)
        row.update(
            parent_id=encode(fork.parent_id),
            fork_point=point,
            base_key=parent_key if point else None,
            own_start=point,
            message_count=point,
        )
        created = await self._insert_new(conn, row)
        if created is None:
            created = await self._claim(conn, row, fork.session_id)
        return self.record(created, fork.scope)

    # -- writing ------------------------------------------------------------------

    async def _append(self, conn: AsyncConnection, key: bytes, write: MessageWrite) -> int:
        """Append without a token: one guarded or incrementing UPDATE, then the rows.

        The UPDATE locks the row and computes the new length from the
        committed one (PostgreSQL re-reads a row a concurrent writer changed
        before applying ``message_count + n``), so concurrent appends queue
        and each gets positions of its own.
        """
        n, now = len(write.messages), self._now()
        meta, expected = metadata_json(write.metadata), write.expected_length
        if expected is None:
            stmt, params = self._finish(key, now, n, write.label, meta, add=True)
        else:
            stmt, params = self._finish(key, now, expected + n, write.label, meta, guard=expected)
        length = (await conn.execute(stmt, params)).scalar()
        if length is None:
            # PostgreSQL (read committed): a session created by a transaction
            # that committed after the UPDATE took its snapshot is invisible
            # to the UPDATE but visible to the next statement. That miss is
            # neither an absent session nor a conflict: run the UPDATE again.
            await self._count(conn, key, now, write)
            length = (await conn.execute(stmt, params)).scalar()
            if length is None:
                # Changed between the statements: deleted or appended to (the
                # count raises for both); anything else is a conflict too.
                actual = await self._count(conn, key, now, write)
                raise length_conflict(write.session_id, expected or 0, actual)
        await self._insert_messages(conn, key, length - n, write.messages)
        return int(length)

    async def _count(self, conn: AsyncConnection, key: bytes, now: int, write: MessageWrite) -> int:
        """The stored length, checked against ``write.expected_length``.

        Raises:
            SessionNotFoundError: The session does not exist.
            SessionConflictError: It has another length than the write expects.
        """
        actual = (await conn.execute(self.q.count, {"k": key, "now": now})).scalar()
        if actual is None:
            raise session_not_found(write.session_id)
        expected = write.expected_length
        if expected is not None and actual != expected:
            raise length_conflict(write.session_id, expected, actual)
        return int(actual)

    async def write(self, conn: AsyncConnection, write: MessageWrite) -> int:
        """Append or edit (``write.start``); return the new length.

        With a token, the session's row is locked first and the token looked
        up before anything else is checked: a write already applied returns
        the length it produced, changes nothing, and cannot conflict.
        """
        key = session_key(write.scope, write.session_id)
        if write.token is None and write.start is None:
            return await self._append(conn, key, write)
        q, now = self.q, self._now()
        head = await self._locked_head(conn, key, now)
        if head is None:
            raise session_not_found(write.session_id)
        token = None if write.token is None else encode(write.token)
        if token is not None:
            recorded = (await conn.execute(q.token_get, {"k": key, "token": token})).scalar()
            if recorded is not None:
                return int(recorded)
        count = head.message_count
        if write.expected_length is not None and count != write.expected_length:
            raise length_conflict(write.session_id, write.expected_length, count)
        start = count if write.start is None else within(write.start, "replace start", count)
        own_start, base_key = await self._cut(conn, key, head, start)
        await self._insert_messages(conn, key, start, write.messages)
        length = start + len(write.messages)
        stmt, params = self._finish(
            key,
            now,
            length,
            write.label,
            metadata_json(write.metadata),
            own_start=own_start,
            base_key=base_key,
        )
        await conn.execute(stmt, params)
        if token is not None:
            await conn.execute(q.token_put, {"sid_key": key, "token": token, "length": length})
            await conn.execute(q.token_prune, {"k": key})
        return length

    async def pop(self, conn: AsyncConnection, pop: PopRequest) -> list[str]:
        """Remove and return the last ``pop.n`` messages (the row locked throughout)."""
        key, now = session_key(pop.scope, pop.session_id), self._now()
        head = await self._locked_head(conn, key, now)
        if head is None:
            raise session_not_found(pop.session_id)
        count = head.message_count
        if pop.expected_length is not None and count != pop.expected_length:
            raise length_conflict(pop.session_id, pop.expected_length, count)
        if count == 0:
            return []
        start = max(0, count - pop.n)
        params = {"k": key, "now": now, "last": count - start}
        popped = list((await conn.execute(self.q.read, params)).scalars().all())
        own_start, base_key = await self._cut(conn, key, head, start)
        stmt, params = self._finish(
            key, now, start, None, None, own_start=own_start, base_key=base_key
        )
        await conn.execute(stmt, params)
        return popped

    async def update(
        self,
        conn: AsyncConnection,
        session_id: str,
        label: str | None,
        meta: str | None,
        scope: str,
    ) -> SessionRecord:
        key, now = session_key(scope, session_id), self._now()
        stmt, params = self._finish(key, now, None, label, meta, record=True)
        row = (await conn.execute(stmt, params)).first()
        if row is None:
            raise session_not_found(session_id)
        return self.record(row, scope)

    async def delete(self, conn: AsyncConnection, session_id: str, scope: str) -> bool:
        """Delete the session; an expired one is reclaimed too but did not exist."""
        key = session_key(scope, session_id)
        head = (await conn.execute(self.q.head, {"k": key})).first()
        if head is None:
            return False
        await self._reclaim(conn, key)
        return _live(head, self._now())

    async def sweep(self, conn: AsyncConnection) -> int:
        """Reclaim one batch of expired sessions; return how many."""
        due = (await conn.execute(self.q.due, {"now": self._now()})).scalars().all()
        for key in due:
            await self._reclaim(conn, bytes(key))
        return len(due)

    # -- reading ------------------------------------------------------------------

    async def read(
        self, conn: AsyncConnection, session_id: str, last: int | None, scope: str
    ) -> list[str]:
        key, now = session_key(scope, session_id), self._now()
        params = {"k": key, "now": now, "last": MAX_INDEX if last is None else last}
        bodies = list((await conn.execute(self.q.read, params)).scalars().all())
        if not bodies:
            found = (await conn.execute(self.q.exists, {"k": key, "now": now})).first()
            if found is None:
                raise session_not_found(session_id)
        return bodies

    async def get(self, conn: AsyncConnection, session_id: str, scope: str) -> SessionRecord | None:
        params = {"k": session_key(scope, session_id), "now": self._now()}
        row = (await conn.execute(self.q.get, params)).first()
        return None if row is None else self.record(row, scope)

    async def page(
        self, conn: AsyncConnection, limit: int, after: After | None, scope: str
    ) -> SessionPage:
        params: dict[str, Any] = {"sk": scope_key(scope), "now": self._now()}
        stmt = self.q.page
        if after is not None:
            params["u"], params["after"] = after
            stmt = self.q.page_after
        rows = (await conn.execute(stmt.limit(limit + 1), params)).all()
        items = [self.record(row, scope) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = make_cursor(last.updated_us, bytes(last.sid))
        return SessionPage(items=items, next_cursor=next_cursor)

    async def scopes(self, conn: AsyncConnection, after: bytes | None) -> list[tuple[bytes, str]]:
        """Return the next batch of (scope key, scope) with live sessions, in key order."""
        params: dict[str, Any] = {"now": self._now()}
        stmt = self.q.scopes
        if after is not None:
            params["after"] = after
            stmt = self.q.scopes_after
        rows = await conn.execute(stmt, params)
        return [(bytes(r.scope_key), _text(r.scope) or "") for r in rows]
