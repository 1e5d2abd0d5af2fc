"""The prebuilt statements on sessions, messages and idempotency tokens.

Storage of a fork: its first ``own_start`` messages are the first
``own_start`` messages of the session ``base_key`` points at (recursively);
its own rows hold the rest at their absolute positions. One recursive CTE
walks that chain, so reading a session is one statement whatever the depth.

Every read and write of a session filters ``live``: no deadline, or one
after ``:now`` (microseconds from the store's clock). The chain walk
filters only the session it starts from: a base may have expired, and until
the sweep materialises its forks, they still read their shared prefix from it.
"""

from __future__ import annotations

from typing import Any, Final

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
)
from sqlalchemy.dialects import postgresql, sqlite

from unistore.sdk import TOKENS_KEPT
from unistore_sql._schema import Tables

__all__ = ["LISTING_BATCH", "SWEEP_BATCH", "SessionQueries"]

#: Expired sessions reclaimed per sweep (each may materialise its forks).
SWEEP_BATCH: Final = 100

#: Scopes read per statement when listing them.
LISTING_BATCH: Final = 500


class SessionQueries:
    """The session statements of one store, for its dialect and tables."""

    def __init__(self, tables: Tables, dialect: str) -> None:
        self.tables = tables
        self.pg = dialect == "postgresql"
        self.insert = postgresql.insert if self.pg else sqlite.insert
        s, m, t = tables.sessions, tables.messages, tables.tokens
        k = bindparam("k", type_=LargeBinary)
        now = bindparam("now", type_=BigInteger)
        #: The session is visible at ``:now``.
        self.live = or_(s.c.expires_us.is_(None), s.c.expires_us > now)
        here = s.c.sid_key == k
        self.cols = (
            s.c.sid,
            s.c.label,
            s.c.parent_id,
            s.c.fork_point,
            s.c.metadata_json,
            s.c.created_us,
            s.c.updated_us,
            s.c.message_count,
            s.c.ttl,
            s.c.expires_us,
        )
        self.get = select(*self.cols).where(here, self.live)
        self.exists = select(s.c.sid_key).where(here, self.live)
        self.count = select(s.c.message_count).where(here, self.live)
        # Expired or not: a writer decides, and reclaims an expired row it meets.
        self.head = select(s.c.own_start, s.c.base_key, s.c.message_count, s.c.expires_us).where(
            here
        )
        self.parent = select(s.c.message_count).where(here, self.live)
        self.forks = select(s.c.sid_key, s.c.own_start).where(
            s.c.base_key == k, s.c.own_start > bindparam("start", type_=Integer)
        )
        self.due = (
            select(s.c.sid_key)
            .where(s.c.expires_us <= now)
            .order_by(s.c.expires_us)
            .limit(SWEEP_BATCH)
        )
        if self.pg:
            self.head = self.head.with_for_update()
            self.parent = self.parent.with_for_update(read=True)
            self.forks = self.forks.with_for_update()
            # Sweepers of several processes share the work instead of queueing.
            self.due = self.due.with_for_update(skip_locked=True)

        # Ties on updated_us are broken by the id's UTF-8 bytes, which sort as
        # its code points do; the index covers (scope_key, updated_us) only
        # (ids may be too long for a btree entry), and the database sorts each
        # tie group, which is rare: stamps are strictly increasing per store.
        self.page = (
            select(*self.cols)
            .where(s.c.scope_key == bindparam("sk", type_=LargeBinary), self.live)
            .order_by(s.c.updated_us.desc(), s.c.sid.desc())
        )
        u = bindparam("u", type_=BigInteger)
        self.page_after = self.page.where(
            s.c.updated_us <= u,
            or_(s.c.updated_us < u, s.c.sid < bindparam("after", type_=LargeBinary)),
        )
        self.scopes = (
            select(s.c.scope_key, s.c.scope)
            .where(self.live)
            .group_by(s.c.scope_key, s.c.scope)
            .order_by(s.c.scope_key)
            .limit(LISTING_BATCH)
        )
        self.scopes_after = self.scopes.where(s.c.scope_key > bindparam("after", type_=LargeBinary))

        self.create = (
            self.insert(s)
            .on_conflict_do_nothing(index_elements=[s.c.sid_key])
            .returning(*self.cols)
        )
        self.drop_tail = delete(m).where(m.c.sid_key == k, m.c.seq >= bindparam("start"))
        self.drop_messages = delete(m).where(m.c.sid_key == k)
        self.drop_session = delete(s).where(here)
        self.detach = s.update().where(here).values(base_key=None, own_start=0)
        self.append_rows = m.insert()

        # The read chain: the session, then its base up to its own_start, ...
        chain = self._chain(here, s.c.message_count, floor=True)
        # One lower bound, not two: SQLite's planner bounds an index range by
        # a single ``seq >=`` term, and given ``lo`` and ``floor`` apart it
        # may pick ``lo`` and walk every row of the session below ``floor``.
        # The larger of the two keeps a read of the last ``n`` at O(n).
        start = case((chain.c.lo < chain.c.floor, chain.c.floor), else_=chain.c.lo)
        self.read = (
            select(m.c.body)
            .select_from(
                chain.join(
                    m,
                    and_(m.c.sid_key == chain.c.k, m.c.seq >= start, m.c.seq < chain.c.hi),
                )
            )
            .order_by(m.c.seq)
        )
        # Materialise a fork: copy its base's first ``upto`` messages to it.
        shared = self._chain(
            s.c.sid_key == bindparam("base", type_=LargeBinary),
            bindparam("upto", type_=Integer),
            floor=False,
        )
        self.materialise = m.insert().from_select(
            ["sid_key", "seq", "body"],
            select(bindparam("fork", type_=LargeBinary), m.c.seq, m.c.body).select_from(
                shared.join(
                    m,
                    and_(m.c.sid_key == shared.c.k, m.c.seq >= shared.c.lo, m.c.seq < shared.c.hi),
                )
            ),
        )

        # The token log: looked up by (session key, token), pruned by age.
        tk = t.c.sid_key == k
        self.token_get = select(t.c.length).where(tk, t.c.token == bindparam("token"))
        self.token_put = t.insert()
        newest = t.alias("newest")
        cutoff = (
            select(newest.c.n)
            .where(newest.c.sid_key == k)
            .order_by(newest.c.n.desc())
            .limit(1)
            .offset(TOKENS_KEPT)
            .scalar_subquery()
        )
        # Nothing is pruned while a session has at most TOKENS_KEPT tokens:
        # the cutoff is then NULL, and no comparison with NULL holds.
        self.token_prune = delete(t).where(tk, t.c.n <= cutoff)
        self.token_drop = delete(t).where(tk)

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
        start = select(*columns).where(anchor)
        if floor:
            # Only reads start from a session that must be visible.
            start = start.where(self.live)
        cte = start.cte("chain", recursive=True)
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
