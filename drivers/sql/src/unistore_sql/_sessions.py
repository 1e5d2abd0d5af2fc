"""Session documents: a record row per session, a message row per (session, seq).

Storage of a fork: its first ``own_start`` messages are the first
``own_start`` messages of the session ``base_key`` points at (recursively);
its own rows hold the rest at their absolute positions. One recursive CTE
walks that chain, so reading a session is one statement whatever the depth.
``parent_id`` and ``fork_point`` are lineage only and never change.

Before an edit or a delete drops rows a fork still shares, the fork is
materialised (the shared messages are copied into its own rows with one
``INSERT ... SELECT`` and its base pointer cleared), inside the same
transaction, with the fork's row locked against a concurrent append.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    LargeBinary,
    and_,
    bindparam,
    case,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select

from unistore.errors import CorruptionError, ValidationError
from unistore.protocols import SessionPage, SessionRecord
from unistore.sdk import (
    ForkRequest,
    MessageWrite,
    decode_cursor,
    encode_cursor,
    length_conflict,
    position_error,
    session_exists,
    session_not_found,
    session_record,
)
from unistore_sql._keys import decode, digest, encode, micros
from unistore_sql._schema import Tables

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


class SessionStatements:
    """Prebuilt session statements of one store."""

    def __init__(self, tables: Tables, dialect: str, clock: Callable[[], float]) -> None:
        self.tables = tables
        self._clock = clock
        self.pg = dialect == "postgresql"
        self._insert = postgresql.insert if self.pg else sqlite.insert
        self._last_us = 0
        s, m = tables.sessions, tables.messages
        k = bindparam("k", type_=LargeBinary)
        self.cols = (
            s.c.sid_key,
            s.c.sid,
            s.c.label,
            s.c.parent_id,
            s.c.fork_point,
            s.c.metadata_json,
            s.c.created_us,
            s.c.updated_us,
            s.c.message_count,
        )
        self.q_get = select(*self.cols).where(s.c.sid_key == k)
        self.q_exists = select(s.c.sid_key).where(s.c.sid_key == k)
        self.q_count = select(s.c.message_count).where(s.c.sid_key == k)
        self.q_head = select(s.c.own_start, s.c.base_key, s.c.message_count).where(s.c.sid_key == k)
        self.q_parent = select(s.c.message_count).where(s.c.sid_key == k)
        self.q_forks = select(s.c.sid_key, s.c.own_start).where(
            s.c.base_key == k, s.c.own_start > bindparam("start", type_=Integer)
        )
        if self.pg:
            self.q_head = self.q_head.with_for_update()
            self.q_parent = self.q_parent.with_for_update(read=True)
            self.q_forks = self.q_forks.with_for_update()
        # Ties on updated_us are broken by the id's UTF-8 bytes, which sort as
        # its code points do; the index covers updated_us only (ids may be too
        # long for a btree entry), and the database sorts each tie group.
        self.q_page = select(*self.cols).order_by(s.c.updated_us.desc(), s.c.sid.desc())
        u = bindparam("u", type_=BigInteger)
        self.q_after = self.q_page.where(
            s.c.updated_us <= u,
            or_(s.c.updated_us < u, s.c.sid < bindparam("after", type_=LargeBinary)),
        )
        ins = self._insert(s)
        self.q_create = ins.on_conflict_do_nothing(index_elements=[s.c.sid_key]).returning(
            *self.cols
        )
        self.q_drop_tail = delete(m).where(m.c.sid_key == k, m.c.seq >= bindparam("start"))
        self.q_drop_all = delete(m).where(m.c.sid_key == k)
        self.q_drop_session = delete(s).where(s.c.sid_key == k)
        self.q_detach = update(s).where(s.c.sid_key == k).values(base_key=None, own_start=0)
        self.q_append_rows = m.insert()

        # The read chain: the session, then its base up to its own_start, ...
        chain = self._chain(k, s.c.message_count, floor=True)
        self.q_read = (
            select(m.c.body)
            .select_from(
                chain.join(
                    m,
                    and_(
                        m.c.sid_key == chain.c.k,
                        m.c.seq >= chain.c.lo,
                        m.c.seq < chain.c.hi,
                        m.c.seq >= chain.c.floor,
                    ),
                )
            )
            .order_by(m.c.seq)
        )
        # Materialise a fork: copy its base's first ``upto`` messages to it.
        shared = self._chain(
            bindparam("base", type_=LargeBinary), bindparam("upto", type_=Integer), floor=False
        )
        self.q_materialise = m.insert().from_select(
            ["sid_key", "seq", "body"],
            select(bindparam("fork", type_=LargeBinary), m.c.seq, m.c.body).select_from(
                shared.join(
                    m,
                    and_(m.c.sid_key == shared.c.k, m.c.seq >= shared.c.lo, m.c.seq < shared.c.hi),
                )
            ),
        )

    def _chain(self, anchor: Any, hi: Any, *, floor: bool) -> Any:
        s = self.tables.sessions
        columns = [
            s.c.sid_key.label("k"),
            s.c.base_key.label("b"),
            s.c.own_start.label("lo"),
            hi.label("hi"),
        ]
        if floor:
            columns.append((s.c.message_count - bindparam("last", type_=Integer)).label("floor"))
        cte = select(*columns).where(s.c.sid_key == anchor).cte("chain", recursive=True)
        step: list[Any] = [
            s.c.sid_key,
            s.c.base_key,
            s.c.own_start,
            case((cte.c.hi < cte.c.lo, cte.c.hi), else_=cte.c.lo),
        ]
        if floor:
            step.append(cte.c.floor)
        linked = [s.c.sid_key == cte.c.b, cte.c.lo > 0]
        if floor:
            # Nothing below ``floor`` is wanted, so stop before reaching it.
            linked.append(cte.c.lo > cte.c.floor)
        return cte.union_all(select(*step).where(*linked))

    # -- helpers ----------------------------------------------------------------

    def _stamp(self) -> int:
        # Strictly increasing per store, so "most recently updated" is unambiguous.
        stamp = max(micros(self._clock()), self._last_us + 1)
        self._last_us = stamp
        return stamp

    @staticmethod
    def record(row: Any) -> SessionRecord:
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
        )

    def _new_row(
        self, session_id: str, label: str | None, meta: str | None, stamp: int
    ) -> dict[str, Any]:
        return {
            "sid_key": digest(session_id),
            "sid": encode(session_id),
            "label": None if label is None else encode(label),
            "parent_id": None,
            "fork_point": None,
            "base_key": None,
            "own_start": 0,
            "metadata_json": "{}" if meta is None else meta,
            "created_us": stamp,
            "updated_us": stamp,
            "message_count": 0,
        }

    async def _insert_messages(
        self, conn: AsyncConnection, key: bytes, start: int, messages: list[str]
    ) -> None:
        if messages:
            rows = [
                {"sid_key": key, "seq": start + i, "body": body} for i, body in enumerate(messages)
            ]
            await conn.execute(self.q_append_rows, rows)

    async def _materialise(
        self, conn: AsyncConnection, fork_key: bytes, base_key: bytes, upto: int
    ) -> None:
        await conn.execute(self.q_materialise, {"fork": fork_key, "base": base_key, "upto": upto})
        await conn.execute(self.q_detach, {"k": fork_key})

    async def _materialise_forks(self, conn: AsyncConnection, key: bytes, start: int) -> None:
        forks = (await conn.execute(self.q_forks, {"k": key, "start": start})).all()
        for fork in sorted(forks, key=lambda row: bytes(row.sid_key)):
            await self._materialise(conn, bytes(fork.sid_key), key, fork.own_start)

    # -- operations -------------------------------------------------------------

    async def create(
        self, conn: AsyncConnection, session_id: str, label: str | None, meta: str | None
    ) -> SessionRecord:
        row = self._new_row(session_id, label, meta, self._stamp())
        created = (await conn.execute(self.q_create, row)).first()
        if created is None:
            raise session_exists(session_id)
        return self.record(created)

    async def fork(self, conn: AsyncConnection, fork: ForkRequest) -> SessionRecord:
        parent_key = digest(fork.parent_id)
        length = (await conn.execute(self.q_parent, {"k": parent_key})).scalar()
        if length is None:
            raise session_not_found(fork.parent_id)
        point = length if fork.at is None else within(fork.at, "fork point", length)
        meta = metadata_json(fork.metadata)
        row = self._new_row(fork.session_id, fork.label, meta, self._stamp())
        row.update(
            parent_id=encode(fork.parent_id),
            fork_point=point,
            base_key=parent_key if point else None,
            own_start=point,
            message_count=point,
        )
        created = (await conn.execute(self.q_create, row)).first()
        if created is None:
            raise session_exists(fork.session_id)
        return self.record(created)

    def _finish(
        self,
        key: bytes,
        count: int,
        label: str | None,
        meta: str | None,
        guard: int | None = None,
        **extra: Any,
    ) -> Any:
        s = self.tables.sessions
        values: dict[str, Any] = {"message_count": count, "updated_us": self._stamp(), **extra}
        if label is not None:
            values["label"] = encode(label)
        if meta is not None:
            values["metadata_json"] = meta
        stmt = update(s).where(s.c.sid_key == key)
        if guard is not None:
            stmt = stmt.where(s.c.message_count == guard)
        return stmt.values(**values).returning(*self.cols)

    async def append(self, conn: AsyncConnection, write: MessageWrite) -> SessionRecord:
        key, expected, messages = digest(write.session_id), write.expected_length, write.messages
        meta = metadata_json(write.metadata)
        stmt = self._finish(key, expected + len(messages), write.label, meta, guard=expected)
        row = (await conn.execute(stmt)).first()
        if row is None:
            actual = (await conn.execute(self.q_count, {"k": key})).scalar()
            if actual is None:
                raise session_not_found(write.session_id)
            raise length_conflict(write.session_id, expected, actual)
        await self._insert_messages(conn, key, expected, messages)
        return self.record(row)

    async def replace(
        self, conn: AsyncConnection, write: MessageWrite, start: int
    ) -> SessionRecord:
        """Cut at ``start`` (``write.start``, checked by the caller) and append."""
        key, messages = digest(write.session_id), write.messages
        head = (await conn.execute(self.q_head, {"k": key})).first()
        if head is None:
            raise session_not_found(write.session_id)
        count = head.message_count
        if count != write.expected_length:
            raise length_conflict(write.session_id, write.expected_length, count)
        own_start, base_key = head.own_start, head.base_key
        if start != count:
            within(start, "replace start", count)
            await self._materialise_forks(conn, key, start)
            await conn.execute(self.q_drop_tail, {"k": key, "start": start})
            if start < own_start:
                # The kept prefix lies wholly in the base, which cannot change
                # under this session: editing it would materialise this one first.
                own_start = start
                if start == 0:
                    base_key = None
        await self._insert_messages(conn, key, start, messages)
        meta = metadata_json(write.metadata)
        stmt = self._finish(
            key, start + len(messages), write.label, meta, own_start=own_start, base_key=base_key
        )
        row = (await conn.execute(stmt)).first()
        assert row is not None  # the row is locked by this transaction
        return self.record(row)

    async def read(self, conn: AsyncConnection, session_id: str, last: int | None) -> list[str]:
        key = digest(session_id)
        params = {"k": key, "last": MAX_INDEX if last is None else last}
        bodies = list((await conn.execute(self.q_read, params)).scalars().all())
        if not bodies and (await conn.execute(self.q_exists, {"k": key})).first() is None:
            raise session_not_found(session_id)
        return bodies

    async def get(self, conn: AsyncConnection, session_id: str) -> SessionRecord | None:
        row = (await conn.execute(self.q_get, {"k": digest(session_id)})).first()
        return None if row is None else self.record(row)

    async def page(self, conn: AsyncConnection, limit: int, after: After | None) -> SessionPage:
        stmt: Select[Any]
        params: dict[str, Any] = {}
        if after is None:
            stmt = self.q_page
        else:
            params["u"], params["after"] = after
            stmt = self.q_after
        rows = (await conn.execute(stmt.limit(limit + 1), params)).all()
        items = [self.record(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = make_cursor(last.updated_us, bytes(last.sid))
        return SessionPage(items=items, next_cursor=next_cursor)

    async def update(
        self, conn: AsyncConnection, session_id: str, label: str | None, meta: str | None
    ) -> SessionRecord:
        s = self.tables.sessions
        values: dict[str, Any] = {"updated_us": self._stamp()}
        if label is not None:
            values["label"] = encode(label)
        if meta is not None:
            values["metadata_json"] = meta
        stmt = (
            update(s)
            .where(s.c.sid_key == digest(session_id))
            .values(**values)
            .returning(*self.cols)
        )
        row = (await conn.execute(stmt)).first()
        if row is None:
            raise session_not_found(session_id)
        return self.record(row)

    async def delete(self, conn: AsyncConnection, session_id: str) -> bool:
        key = digest(session_id)
        if (await conn.execute(self.q_head, {"k": key})).first() is None:
            return False
        await self._materialise_forks(conn, key, -1)
        await conn.execute(self.q_drop_all, {"k": key})
        await conn.execute(self.q_drop_session, {"k": key})
        return True
