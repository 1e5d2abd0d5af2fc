"""SQLite statements run on the event loop's own thread, on connections the store owns.

A SQLite primary-key read takes a few microseconds; handing it to a worker
thread and back through SQLAlchemy's greenlet bridge took a millisecond. So a
store that opened its own SQLite database runs every unit of work inline:

* The connections are stdlib ``sqlite3`` connections in WAL mode with
  ``busy_timeout=0``. A statement never waits for another process's lock on
  the loop: SQLite answers busy at once and the store's retry loop pauses
  with ``asyncio.sleep`` (bounded by the store's ``busy_timeout``).
* WAL readers never wait for writers, and with ``synchronous=NORMAL`` a
  commit does not sync the disk. Checkpoints, which do, are taken off the
  loop: the inline connections never checkpoint on commit
  (``wal_autocheckpoint=0``) and the pool checkpoints from a worker thread
  every :data:`CHECKPOINT_EVERY` write units.
* Statements stay SQLAlchemy Core, prebuilt once. Each is compiled once per
  set of parameter names into its SQL text and parameter order, then run on
  the raw cursor: no per-call compilation, result machinery or greenlet.
  Statements this cannot express (expanding ``IN`` lists, Python-side column
  defaults, lists of parameter sets) run through a synchronous SQLAlchemy
  connection on the same sqlite3 connection.

Every unit still runs whole between two awaits of the loop, so one
connection could serve them all; the pool keeps a few so that a unit that
one day awaits something else cannot share a transaction by accident.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import operator
import sqlite3
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote

from sqlalchemy import Float, LargeBinary, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from unistore.sdk import LATER

logger = logging.getLogger("unistore.driver.sql")

T = TypeVar("T")

#: Write units between two checkpoints taken off the loop (about the WAL
#: size SQLite's own auto-checkpoint aims at, for small writes).
CHECKPOINT_EVERY = 1000

#: WAL frames (pages written) after which a checkpoint also starts the WAL
#: over: 32 MiB of 4 KiB pages. A checkpoint off the loop runs beside the
#: store's writers, so it never copies the frames they add meanwhile, and
#: SQLite rewinds the WAL only after one that copied every frame: under a
#: steady stream of writes the WAL would grow without end.
RESTART_FRAMES = 8192

#: The WAL file's size once it starts over (``journal_size_limit``), bytes.
WAL_KEPT_BYTES = RESTART_FRAMES * 4096

#: Milliseconds the restarting checkpoint waits for the write lock and for
#: readers of old frames; it tries again at the next checkpoint if it must.
_RESTART_WAIT_MS = 250

#: Connections kept open per store; more are opened while needed.
_KEEP = 4

#: Compiled statements kept per store (see :meth:`InlinePool.plan`).
_PLANS_KEPT = 1024

#: Seconds of inline statements after which the store lets other tasks run:
#: at most this long (and one statement) does a loop of store calls hold the
#: loop. A turn costs a pass of the loop (a poll of its selector, several
#: microseconds), so a shorter slice taxes a loop of reads by more than 1 %.
SLICE = 0.002


class _Plan(NamedTuple):
    """One statement compiled for one set of parameter names."""

    sql: str
    #: Per positional parameter: the name to read from the call's parameters,
    #: or None with the precomputed value in ``literals``.
    names: tuple[str | None, ...]
    literals: tuple[Any, ...]
    row: type[tuple[Any, ...]] | None
    #: (position, bind processor) of each named parameter that has one.
    processed: tuple[tuple[int, Callable[[Any], Any]], ...]
    #: Reads every value at once when each position is a named parameter.
    getter: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None


class OneRow:
    """A prebuilt read of at most one row, its parameters named in call order.

    The hottest reads pass their values as a tuple in this order: the pool
    compiles the statement once per store and binds the tuple as it comes,
    with no parameter dict per call. :meth:`bind` gives the dict a unit of
    work passes to ``execute``.

    The statement must pin a whole primary key: with at most one row,
    sqlite3 steps to the end as it fetches the row and resets the statement,
    so no read stays open to pin a WAL snapshot.
    """

    __slots__ = ("_pool", "_reorder", "_sql", "names", "statement")

    def __init__(self, statement: Any, names: tuple[str, ...]) -> None:
        self.statement = statement
        self.names = names
        #: The pool the fields below were compiled for.
        self._pool: InlinePool | None = None
        #: The compiled SQL, or None: not runnable at once.
        self._sql: str | None = None
        #: The plan to bind through when the values cannot go as they come
        #: (another order, literals, bind processors).
        self._reorder: _Plan | None = None

    def bind(self, values: Sequence[Any]) -> dict[str, Any]:
        """The statement's parameters as a dict."""
        return dict(zip(self.names, values, strict=True))


#: A way to run a :class:`OneRow` at once (:meth:`InlinePool.first`, or a
#: stand-in answering :data:`~unistore.sdk.LATER`): the row, None, or LATER.
AtOnce = Callable[[OneRow, Sequence[Any]], Any]


def _row_class(names: Sequence[str]) -> type[tuple[Any, ...]]:
    row: type[tuple[Any, ...]] = collections.namedtuple("Row", names, rename=True)  # type: ignore[misc]
    return row


class Rows:
    """The rows of one statement, fetched at once (a small subset of SQLAlchemy's Result)."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if not self._rows:
            raise sa_exc.NoResultFound("expected one row, found none")
        if len(self._rows) > 1:
            raise sa_exc.MultipleResultsFound("expected one row, found more")
        return self._rows[0]

    def one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise sa_exc.MultipleResultsFound("expected at most one row")
        return self._rows[0] if self._rows else None

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return None if row is None else row[0]

    def scalars(self) -> Rows:
        return Rows([row[0] for row in self._rows], self.rowcount)

    def all(self) -> list[Any]:
        return list(self._rows)

    def fetchall(self) -> list[Any]:
        return list(self._rows)

    def __iter__(self) -> Any:
        return iter(self._rows)


class InlineConnection:
    """An ``AsyncConnection`` look-alike whose statements run at once on the loop's thread.

    Its coroutines never suspend: a unit of work on it runs whole.
    """

    def __init__(self, pool: InlinePool, sync: Connection) -> None:
        self._pool = pool
        self.sync = sync
        raw = sync.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        self.raw: sqlite3.Connection = raw
        #: The cursor of reads at once, kept: making one per read costs more
        #: than the read's own binding. Its reads are of one row by primary
        #: key, which sqlite3 steps past and resets as it fetches the row, so
        #: no statement stays open on it between two reads (an open one would
        #: hold a WAL snapshot).
        self.reader = raw.cursor()
        self.dialect = sync.dialect

    # -- the AsyncConnection methods the driver uses ---------------------------

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        if parameters is None or isinstance(parameters, Mapping):
            plan = self._pool.plan(statement, parameters or {})
            if plan is not None:
                return self._run(plan, parameters or {})
        elif isinstance(parameters, list) and parameters and isinstance(parameters[0], Mapping):
            # A list of parameter sets (the rows of an append): one executemany
            # when every set names the same parameters and nothing comes back.
            first = parameters[0].keys()
            plan = self._pool.plan(statement, parameters[0])
            if plan is not None and plan.row is None and all(p.keys() == first for p in parameters):
                return self._run_many(plan, parameters)
        return self.sync.execute(statement, parameters)

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return (await self.execute(statement, parameters)).scalar()

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Any:
        return self.sync.exec_driver_sql(statement, parameters)

    async def run_sync(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(self.sync, *args, **kwargs)

    async def commit(self) -> None:
        self.finish(commit=True)

    # -- transactions -----------------------------------------------------------

    def begin_immediate(self) -> None:
        """Take the write lock up front (never upgraded midway)."""
        try:
            self.raw.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _wrap("BEGIN IMMEDIATE", exc) from exc

    def finish(self, *, commit: bool) -> None:
        """End whatever transaction SQLAlchemy or the unit began."""
        sync, raw = self.sync, self.raw
        try:
            if sync.in_transaction():
                sync.commit() if commit else sync.rollback()
            if raw.in_transaction:
                raw.commit() if commit else raw.rollback()
        except sqlite3.Error as exc:
            raise _wrap("COMMIT" if commit else "ROLLBACK", exc) from exc

    def release_free_pages(self) -> None:
        """Give the file's free pages back to the file system.

        Only a file created with ``auto_vacuum=INCREMENTAL`` has any to give
        (elsewhere SQLite reuses them for later rows, and this does nothing).
        ``executescript`` because the pragma frees one page per step and
        ``execute`` takes a single step; it runs outside a transaction.
        """
        try:
            self.raw.executescript("PRAGMA incremental_vacuum")
        except sqlite3.Error as exc:
            raise _wrap("PRAGMA incremental_vacuum", exc) from exc

    def _run(self, plan: _Plan, parameters: Mapping[str, Any]) -> Rows:
        values = _values(plan, parameters)
        if self._pool.listened():
            self._pool._forward(self.sync, None, plan.sql, tuple(values), None, False)
        try:
            cursor = self.raw.execute(plan.sql, values)
            fetched = cursor.fetchall()
        except sqlite3.Error as exc:
            raise _wrap(plan.sql, exc) from exc
        if plan.row is not None:
            fetched = list(map(plan.row._make, fetched))  # type: ignore[attr-defined]
        return Rows(fetched, cursor.rowcount)

    def _run_many(self, plan: _Plan, parameter_sets: list[Mapping[str, Any]]) -> Rows:
        rows = [_values(plan, parameters) for parameters in parameter_sets]
        if self._pool.listened():
            self._pool._forward(self.sync, None, plan.sql, rows, None, True)
        try:
            cursor = self.raw.executemany(plan.sql, rows)
        except sqlite3.Error as exc:
            raise _wrap(plan.sql, exc) from exc
        return Rows([], cursor.rowcount)


def _values(plan: _Plan, parameters: Mapping[str, Any]) -> Sequence[Any]:
    """The positional values of one statement run, bind processors applied."""
    if plan.getter is not None:
        if not plan.processed:
            return plan.getter(parameters)
        values = list(plan.getter(parameters))
    else:
        values = [
            parameters[name] if name is not None else literal
            for name, literal in zip(plan.names, plan.literals, strict=True)
        ]
    for index, processor in plan.processed:
        values[index] = processor(values[index])
    return values


def _getter(names: Sequence[str | None]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]] | None:
    """What reads a run's values in one C call, when every position is named."""
    named = [name for name in names if name is not None]
    if not named or len(named) != len(names):
        return None
    if len(named) == 1:
        (only,) = named
        return lambda parameters: (parameters[only],)
    getter: Callable[[Mapping[str, Any]], tuple[Any, ...]] = operator.itemgetter(*named)
    return getter


def run_whole(unit: Coroutine[Any, Any, T]) -> T:
    """Run a unit of work on inline connections to its end, in any thread.

    Its awaits never suspend, so one step finishes it.
    """
    try:
        unit.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    unit.close()
    raise RuntimeError("a unit of work on an inline connection suspended")


def _wrap(sql: str, exc: sqlite3.Error) -> BaseException:
    # As SQLAlchemy would raise it, so the store's error table maps it alike;
    # hide_parameters: no value may reach a message.
    return sa_exc.DBAPIError.instance(
        sql, None, exc, sqlite3.Error, hide_parameters=True, dialect=None
    )


class InlinePool:
    """The sqlite3 connections of one store, and its compiled statements."""

    def __init__(
        self,
        path: str | None,
        *,
        create: bool,
        wal: bool,
        on_connect: Callable[[sqlite3.Connection], None],
        events: Engine,
    ) -> None:
        self.memory = path is None
        self.wal = wal and not self.memory
        if path is None:
            database, uri = ":memory:", False
        elif create:
            database, uri = path, False
        else:
            # SQLite fails on a missing file instead of creating it.
            database, uri = f"file:{quote(path, safe='/')}?mode=rw", True
        self._database, self._uri = database, uri
        self._on_connect = on_connect
        #: The store's public engine: listeners of its ``before_cursor_execute``
        #: event see the inline statements too (SQL logging, tracing, tests).
        self.events = events
        self._free: list[InlineConnection] = []
        self._all: list[InlineConnection] = []
        self._engines: list[Engine] = []
        self._plans: dict[tuple[int, tuple[str, ...]], tuple[Any, _Plan | None]] = {}
        self._dialect: Any = None
        self._writes = 0
        self._checkpoint: asyncio.Future[None] | None = None
        #: When the current slice of statements began (the loop last had a
        #: turn), and when a statement last ran here (see :meth:`turn_due`).
        self._turned = self._last = time.monotonic()
        #: The current slice's number, and whether the loop has run a
        #: callback scheduled when it began (its other tasks had a turn).
        self._slice = 0
        self._seen = True

    # -- connections --------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        raw = sqlite3.connect(
            self._database,
            uri=self._uri,
            timeout=0,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
        try:
            self._on_connect(raw)
            # Never wait for a lock on the loop: busy comes back at once.
            raw.execute("PRAGMA busy_timeout=0")
            if self.wal:
                raw.execute("PRAGMA wal_autocheckpoint=0")
                raw.execute(f"PRAGMA journal_size_limit={WAL_KEPT_BYTES}")
        except BaseException:
            raw.close()
            raise
        return raw

    def acquire(self) -> InlineConnection:
        """A connection with no transaction open (opened if none is free)."""
        if self._free:
            return self._free.pop()
        if self.memory and self._all:
            # One connection holds the whole in-memory database; the store
            # serialises its units, so it is free whenever one asks.
            return self._all[0]
        try:
            raw = self._open()
        except sqlite3.Error as exc:
            raise _wrap("connect", exc) from exc
        engine = create_engine(
            "sqlite://", creator=lambda: raw, poolclass=StaticPool, hide_parameters=True
        )
        try:
            sync = engine.connect()
        except sqlite3.Error as exc:
            raw.close()
            raise _wrap("connect", exc) from exc
        event.listen(engine, "before_cursor_execute", self._forward)
        self._engines.append(engine)
        self._dialect = engine.dialect
        connection = InlineConnection(self, sync)
        self._all.append(connection)
        return connection

    def first(self, read: OneRow, values: Sequence[Any]) -> Any:
        """Run a one-row read at once, outside any transaction.

        The hot reads' path, written out flat: a free connection, the
        compiled statement on its kept cursor, the connection back. A file's
        reads need no lock: WAL gives each statement a snapshot of its own.

        Returns:
            The row as a tuple, None for no row, or :data:`~unistore.sdk.LATER`: the
            caller runs the read as a unit of work instead. That is when the
            statement cannot run this way; when SQLite raised (busy, say: a
            unit retries what can be retried, and a read may always run
            again); and when the loop is due a turn, which the unit gives.
        """
        if read._pool is not self:
            self._compile_read(read)
        sql = read._sql
        # Inside a slice, after a statement: the common case, tested inline
        # (a method call is a tenth of what the read adds).
        now = time.monotonic()
        if (now - self._last > SLICE or now - self._turned > SLICE) and self._slice_over(now):
            self._last = now
            return LATER  # the unit it runs as gives the turn
        self._last = now
        if sql is None:
            return LATER
        if read._reorder is not None:
            values = _values(read._reorder, read.bind(values))
        free = self._free
        connection = free.pop() if free else self.acquire()
        if self.events._has_events and self.listened():  # its cheap half first, inline
            self._forward(connection.sync, None, sql, tuple(values), None, False)
        try:
            row = connection.reader.execute(sql, values).fetchone()
        except BaseException as exc:
            # A failed read leaves the connection as it was, unless SQLite
            # left a transaction open on it: then it goes.
            self.release(connection, broken=connection.raw.in_transaction)
            if isinstance(exc, sqlite3.Error):
                logger.debug("a read at once failed; it runs as a unit", exc_info=True)
                return LATER
            raise
        # A plain SELECT opens no transaction (sqlite3 begins one only for
        # writes), so the connection goes back as it came.
        if len(free) < _KEEP:
            free.append(connection)
        else:
            self.release(connection)
        return row

    def turn_due(self) -> bool:
        """Whether the loop is due a turn after this pool's statements (then it counts as given).

        A unit on an inline connection never suspends: its caller gives the
        loop's other tasks a turn when this says so, so that a loop of store
        calls cannot starve them.
        """
        now = time.monotonic()
        if (now - self._last > SLICE or now - self._turned > SLICE) and self._slice_over(now):
            self._last = now
            # The turn counts as given: the next slice begins, and its mark
            # is to run only after the caller's yield.
            self._begin_slice(now, after_yield=True)
            return True
        self._last = now
        return False

    def _slice_over(self, now: float) -> bool:
        """At a slice's end or after a pause: whether the loop is due a turn.

        Only statements back to back for a whole slice, with no turn of the
        loop meanwhile, make it due. After a pause, or when the loop ran the
        mark scheduled as the slice began (the caller awaited something that
        let other tasks run), a new slice begins instead: a store used now
        and then, or between other awaits, never waits for a turn.
        """
        if now - self._last <= SLICE and not self._seen:
            return True
        self._begin_slice(now, after_yield=False)
        return False

    def _begin_slice(self, now: float, *, after_yield: bool) -> None:
        self._turned = now
        self._slice += 1
        self._seen = False
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - statements run from a coroutine
            return
        if after_yield:
            # Scheduled at the caller's own yield, the mark runs at the pass
            # after it: only a later turn of the loop counts.
            loop.call_soon(loop.call_soon, self._mark, self._slice)
        else:
            loop.call_soon(self._mark, self._slice)

    def _mark(self, slice_number: int) -> None:
        if slice_number == self._slice:  # a mark of an earlier slice says nothing
            self._seen = True

    def _compile_read(self, read: OneRow) -> None:
        read._pool, read._sql, read._reorder = self, None, None
        if self.memory:
            return  # one shared connection: every statement runs in a unit
        if self._dialect is None:
            self.release(self.acquire())  # the dialect comes with a connection
        plan = self.plan(read.statement, dict.fromkeys(read.names))
        if plan is None:
            return
        read._sql = plan.sql
        if plan.names != read.names or plan.processed:
            read._reorder = plan

    def release(self, connection: InlineConnection, *, broken: bool = False) -> None:
        if self.memory:
            return
        if broken or len(self._free) >= _KEEP:
            self._all.remove(connection)
            _close_quietly(connection)
            return
        self._free.append(connection)

    def listened(self) -> bool:
        """Whether anything listens for the store engine's ``before_cursor_execute``."""
        # _has_events first: SQLAlchemy's own cheap test before it dispatches,
        # set once any connection event is listened for on the engine or its
        # class. The dispatch collection's own test is a Python call.
        return bool(self.events._has_events and self.events.dispatch.before_cursor_execute)

    def _forward(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        for listener in self.events.dispatch.before_cursor_execute:
            listener(conn, cursor, statement, parameters, context, many)

    def wrote(self) -> None:
        """Count a committed write unit; checkpoint off the loop now and then."""
        if not self.wal:
            return
        self._writes += 1
        if self._writes < CHECKPOINT_EVERY or self._checkpoint is not None:
            return
        self._writes = 0
        loop = asyncio.get_running_loop()
        self._checkpoint = loop.run_in_executor(None, self._checkpoint_now)
        self._checkpoint.add_done_callback(self._checkpointed)

    def _checkpoint_now(self) -> None:
        raw = self._open()
        try:
            # The bulk of the copy and the syncs, beside the writers.
            _, frames, _ = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if frames >= RESTART_FRAMES:
                # The rest under the write lock, so that the next writer
                # rewinds the WAL: only the frames written meanwhile are left,
                # and the store's writers wait (busy, retried off the loop).
                raw.execute(f"PRAGMA busy_timeout={_RESTART_WAIT_MS}")
                raw.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
        finally:
            raw.close()

    def _checkpointed(self, future: asyncio.Future[None]) -> None:
        self._checkpoint = None
        if not future.cancelled() and future.exception() is not None:
            # Housekeeping: the next one, or SQLite at close, checkpoints.
            logger.debug("WAL checkpoint failed", exc_info=future.exception())

    # -- statements --------------------------------------------------------------

    def plan(self, statement: Any, parameters: Mapping[str, Any]) -> _Plan | None:
        """The compiled form of ``statement`` for these parameter names (None: not expressible)."""
        # The names in call order: a call site builds its parameters the same
        # way each time, and a tuple is cheaper to make and hash than a set.
        key = (id(statement), tuple(parameters))
        cached = self._plans.get(key)
        if cached is not None:
            return cached[1]
        plan = self._compile(statement, frozenset(key[1]))
        if len(self._plans) >= _PLANS_KEPT:
            # Statements built per call would otherwise pile up here; the
            # prebuilt ones are compiled again on their next use.
            self._plans.clear()
        # The statement is kept with its plan, so its id is never reused.
        self._plans[key] = (statement, plan)
        return plan

    def _compile(self, statement: Any, names: frozenset[str]) -> _Plan | None:
        compile_ = getattr(statement, "compile", None)
        if compile_ is None or self._dialect is None:
            return None
        compiled = compile_(dialect=self._dialect, column_keys=sorted(names))
        if (
            compiled.positiontup is None
            or getattr(compiled, "insert_prefetch", None)
            or getattr(compiled, "update_prefetch", None)
            or getattr(compiled, "_post_compile_expanded_state", None)
            or compiled.literal_execute_params
            or compiled.post_compile_params
        ):
            return None
        order: list[str | None] = []
        literals: list[Any] = []
        processed: list[tuple[int, Callable[[Any], Any]]] = []
        bind_processors = compiled._bind_processors
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            if bind.expanding or bind.callable is not None:
                return None
            processor = bind_processors.get(name)
            if isinstance(bind.type, LargeBinary | Float):
                # sqlite3 binds both itself. For bytes the processor only
                # wraps them in a memoryview, the same BLOB; for a time it only
                # makes an int a float, and SQLite compares the two by value
                # (and stores either as REAL in a REAL column).
                processor = None
            if name in names:
                if processor is not None:
                    processed.append((len(order), processor))
                order.append(name)
                literals.append(None)
            elif bind.required:
                return None
            else:
                order.append(None)
                value = bind.effective_value
                literals.append(value if processor is None else processor(value))
        columns = [entry[0] for entry in getattr(compiled, "_result_columns", ())]
        for entry in getattr(compiled, "_result_columns", ()):
            if entry[3]._cached_result_processor(self._dialect, None) is not None:
                return None
        return _Plan(
            sql=compiled.string,
            names=tuple(order),
            literals=tuple(literals),
            row=_row_class(columns) if columns else None,
            processed=tuple(processed),
            getter=_getter(order),
        )

    # -- closing -----------------------------------------------------------------

    async def close(self) -> None:
        """Close every connection (in a worker thread: the last one checkpoints)."""
        if self._checkpoint is not None:
            await asyncio.wait([self._checkpoint])
        connections = self._take_all()
        if connections:
            await asyncio.to_thread(_close_all, connections)

    def reap(self) -> None:
        """Close every connection now, without a loop (the store was dropped)."""
        _close_all(self._take_all())

    def _take_all(self) -> list[InlineConnection]:
        connections, self._all, self._free = self._all, [], []
        self._plans.clear()
        return connections


def _close_all(connections: list[InlineConnection]) -> None:
    for connection in connections:
        _close_quietly(connection)


def _close_quietly(connection: InlineConnection) -> None:
    try:
        connection.sync.close()
    except Exception:
        logger.debug("closing a SQLAlchemy connection failed", exc_info=True)
    try:
        connection.raw.close()
    except sqlite3.Error:
        logger.debug("closing a SQLite connection failed", exc_info=True)
