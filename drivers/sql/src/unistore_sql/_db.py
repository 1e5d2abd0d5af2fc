"""Running units of work: connections, write transactions, retries, schema.

Every operation of the store is a function of one connection, run by
:meth:`Database.run` in one of three modes:

* ``READ`` - one statement. PostgreSQL runs it in autocommit (a single
  statement is its own snapshot); SQLite needs no transaction for it.
* ``WRITE_ONE`` - one statement that commits by itself (an upsert).
* ``WRITE`` - several statements in one transaction. SQLite starts it with
  ``BEGIN IMMEDIATE`` so the write lock is taken up front (never upgraded
  midway, which is what makes SQLite fail with "database is locked" under
  concurrent writers); PostgreSQL locks the rows it reads with ``FOR UPDATE``.

A failure SQLite reports as busy, or PostgreSQL as a serialization failure or
deadlock, rolled everything back, so the unit runs again after a pause
chosen by the SDK's :class:`~unistore.sdk.Backoff`. A broken connection is
retried once for idempotent units only. A failure that is not retried leaves
unchanged: the store's error table (:mod:`unistore_sql._errors`) maps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import inspect as inspect_
import logging
import os
import time
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Sequence
from typing import Any, TypeVar

from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from unistore import StoreURL
from unistore.errors import ConfigurationError, CorruptionError
from unistore.sdk import LATER, Backoff, store_not_found
from unistore_sql._engine import (
    EngineReaper,
    Settings,
    Target,
    create_engine,
    sqlite_pragmas,
    sqlite_wal,
)
from unistore_sql._errors import MAPPED, Retry, mark_uncertain, retry_kind
from unistore_sql._inline import AtOnce, InlinePool, OneRow, run_whole
from unistore_sql._schema import SCHEMA_VERSION, VERSION_KEY, Tables
from unistore_sql._slots import SWEEP_BATCH, SWEEP_BATCH_MAX
from unistore_sql._upgrades import UPGRADES

T = TypeVar("T")

logger = logging.getLogger("unistore.driver.sql")

_ROLLBACK_ATTEMPTS = 6

#: Waits between attempts: 2 ms growing to 100 ms, with a floor so that a
#: busy database is not polled in a tight loop.
_BACKOFF = Backoff(base=0.002, cap=0.1, factor=2.0, jitter="equal")


#: Seconds one sweep batch should take; the batch size adapts to it.
_SWEEP_TARGET = 0.05

#: After a full batch, the next one waits this many times as long as the
#: batch took: a backlog's sweep takes at most a quarter of the time. That
#: still drains about 30,000 rows a second (a million in under a minute),
#: and at half the time a read's p99 during the sweep was 3-4x the quiet one,
#: on two cores the sweep and its disk writes kept busy.
_SWEEP_PAUSE = 3.0


class Mode(enum.Enum):
    """How a unit of work touches the database."""

    READ = "read"
    WRITE_ONE = "write_one"
    WRITE = "write"


class Database:
    """One store's engine, tables and the rules for running statements on them."""

    def __init__(
        self,
        url: StoreURL,
        target: Target | None,
        settings: Settings,
        tables: Tables,
        clock: Callable[[], float],
    ) -> None:
        self.url = url
        self.clock = clock
        self.settings = settings
        self.tables = tables
        #: Releases what this store opened if the store is dropped unclosed.
        self.reaper: Callable[[], None] | None = None
        if settings.engine is not None:
            self.engine = settings.engine
            self._owns_engine = False
            self.memory = self.engine.dialect.name == "sqlite" and _is_memory(self.engine)
        else:
            assert target is not None
            self.engine = create_engine(target, settings)
            self._owns_engine = True
            self.memory = target.memory
            self.reaper = EngineReaper(self.engine)
        #: The SQLite database file the store opens (``None``: not ours to check).
        self.path = None if target is None or settings.engine is not None else target.path
        self.dialect = self.engine.dialect.name
        #: Names the store in errors, as the SDK does (``sqlite store <url>``).
        self.where = f"{self.dialect} store {url}"
        if self.dialect not in ("sqlite", "postgresql"):
            raise ConfigurationError(
                f"the sql driver supports SQLite and PostgreSQL engines, not {self.dialect!r}"
            )
        self.sqlite = self.dialect == "sqlite"
        #: A SQLite database the store opened itself runs its statements
        #: inline on the loop (see :mod:`unistore_sql._inline`); an engine
        #: passed in keeps its own pool and runs through it.
        self.inline: InlinePool | None = None
        # In memory, the engine's one connection is the database: tests and
        # tools reach it through ``store.engine``, so it keeps that path.
        if self.sqlite and target is not None and settings.engine is None and not target.memory:
            wal, busy_ms = sqlite_wal(target, settings), int(settings.busy_timeout * 1000)
            self.inline = InlinePool(
                target.path,
                create=settings.create,
                wal=wal,
                on_connect=lambda raw: sqlite_pragmas(raw, wal=wal, busy_ms=busy_ms),
                events=self.engine.sync_engine,
            )
            if self.reaper is not None:
                self.reaper = _both(self.reaper, self.inline.reap)
        self._autocommit: AsyncEngine = (
            self.engine
            if self.sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        # In-memory SQLite has one connection: every unit takes turns on it.
        # File SQLite lets this process's writers queue here instead of
        # polling SQLite's lock; other processes still meet busy_timeout.
        self._all_lock = asyncio.Lock() if self.memory else None
        self._write_lock = asyncio.Lock() if self.sqlite and not self.memory else None
        self._schema_lock = asyncio.Lock()
        self._ready = False
        #: Runs a one-row read at once (see :meth:`InlinePool.first`) on a
        #: SQLite file whose schema is ready; anywhere else it answers
        #: :data:`~unistore.sdk.LATER` and the read runs as a unit of work.
        self.at_once: AtOnce = _not_at_once
        self._next_sweep = time.monotonic() + settings.sweep_interval
        self.sweeper: Callable[[AsyncConnection, float, int], Awaitable[int]] | None = None
        self._batch = SWEEP_BATCH
        self._sweeping = False

    # -- running --------------------------------------------------------------

    def run(
        self,
        operation: str,
        fn: Callable[[AsyncConnection], Awaitable[T]],
        mode: Mode = Mode.READ,
        *,
        idempotent: bool = True,
    ) -> Coroutine[Any, Any, T]:
        """Run ``fn`` as one unit of work, creating or checking the schema first."""
        if self._ready and mode is Mode.READ:
            # Nothing to do before or after: no coroutine frame of its own.
            return self._execute(operation, fn, mode, idempotent)
        return self._run(operation, fn, mode, idempotent)

    async def _run(
        self,
        operation: str,
        fn: Callable[[AsyncConnection], Awaitable[T]],
        mode: Mode,
        idempotent: bool,
    ) -> T:
        if not self._ready:
            await self.prepare(operation)
        result = await self._execute(operation, fn, mode, idempotent)
        if mode is not Mode.READ and self.settings.sweep_interval > 0:
            await self._maybe_sweep()
        return result

    async def _execute(
        self,
        operation: str,
        fn: Callable[[AsyncConnection], Awaitable[T]],
        mode: Mode,
        idempotent: bool,
        offload: bool = False,
    ) -> T:
        started = time.monotonic()
        reconnected = False
        attempt = 0
        while True:
            attempt += 1
            try:
                if self.inline is not None:
                    return await self._attempt_inline(self.inline, fn, mode, offload)
                return await self._attempt(fn, mode, offload)
            except MAPPED as exc:
                kind = retry_kind(exc)
                again = False
                if kind is Retry.BUSY:
                    # Bounded by time alone: some busy replies (a WAL snapshot
                    # gone stale, recovery) come back at once, without SQLite's
                    # busy handler waiting, so counting attempts would give up
                    # long before busy_timeout.
                    again = time.monotonic() - started < max(self.settings.busy_timeout, 0.05)
                elif kind is Retry.ROLLED_BACK:
                    again = attempt < _ROLLBACK_ATTEMPTS
                elif kind is Retry.DISCONNECTED:
                    again = idempotent and not reconnected
                    reconnected = True
                    if not idempotent and mode is not Mode.READ:
                        mark_uncertain(exc)
                if not again:
                    raise
                logger.debug(
                    "%s on %s: retrying after %s (attempt %d)",
                    operation,
                    self.url,
                    kind.value,
                    attempt,
                )
                await _BACKOFF.sleep(attempt)

    async def _attempt(
        self, fn: Callable[[AsyncConnection], Awaitable[T]], mode: Mode, offload: bool = False
    ) -> T:
        async with self._turn(mode):
            engine = self.engine if mode is Mode.WRITE else self._autocommit
            async with engine.connect() as conn:
                if mode is Mode.WRITE and self.sqlite:
                    await self._begin_immediate(conn)
                result = await fn(conn)
                await conn.commit()
                return result

    async def _attempt_inline(
        self,
        pool: InlinePool,
        fn: Callable[[AsyncConnection], Awaitable[T]],
        mode: Mode,
        offload: bool,
    ) -> T:
        # What _turn() does, without a context manager: on the hot path (a
        # read of a file) there is no lock, and building one costs more than
        # the rest of the bookkeeping.
        lock = self._all_lock or (self._write_lock if mode is not Mode.READ else None)
        if lock is not None:
            await lock.acquire()
        try:
            conn = pool.acquire()
            broken = True
            try:
                if mode is Mode.WRITE:
                    conn.begin_immediate()
                # The driver's units are written against AsyncConnection; this
                # one offers the part of it they use, run at once.
                unit = fn(conn)  # type: ignore[arg-type]
                if offload:
                    result = await _in_thread(unit)
                else:
                    result = await unit
                conn.finish(commit=True)
                broken = False
            except BaseException:
                try:
                    conn.finish(commit=False)
                    broken = False
                except Exception:
                    logger.debug("rollback on %s failed", self.url, exc_info=True)
                raise
            finally:
                pool.release(conn, broken=broken)
        finally:
            if lock is not None:
                lock.release()
        if mode is not Mode.READ:
            pool.wrote()
        # A unit never suspends: give the loop's other tasks a turn now and
        # then, so a loop of store calls cannot starve them.
        if pool.turn_due():
            await _next_turn()
        return result

    @contextlib.asynccontextmanager
    async def _turn(self, mode: Mode) -> AsyncIterator[None]:
        lock = self._all_lock or (self._write_lock if mode is not Mode.READ else None)
        if lock is None:
            yield
        else:
            async with lock:
                yield

    async def _begin_immediate(self, conn: AsyncConnection) -> None:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        # An application engine may begin transactions itself (SQLAlchemy's
        # documented pysqlite recipe); then its BEGIN stands.
        if not getattr(driver, "in_transaction", False):
            await conn.exec_driver_sql("BEGIN IMMEDIATE")

    async def lock_key(self, conn: AsyncConnection, name: str) -> None:
        """Serialise with other processes on a name (PostgreSQL advisory lock).

        On SQLite the write transaction already excludes every other writer.
        """
        if self.sqlite:
            return
        digest = hashlib.sha256(f"unistore_sql:{self.tables.prefix}:{name}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    # -- sweeping -------------------------------------------------------------

    async def _maybe_sweep(self) -> None:
        """Sweep one batch when due, adapting to the backlog.

        A batch that comes back full means more rows are due: the next batch
        follows after a pause of :data:`_SWEEP_PAUSE` times as long as this
        one took (so sweeping takes at most about a quarter of the time), and
        its size doubles while batches stay under :data:`_SWEEP_TARGET` and
        halves when they run longer. A batch that is not full ends the run:
        the size goes back to :data:`SWEEP_BATCH`, the next one comes after
        ``sweep_interval``.
        """
        now = time.monotonic()
        if self._sweeping or now < self._next_sweep or self.sweeper is None:
            return
        self._next_sweep = now + self.settings.sweep_interval
        self._sweeping = True
        batch = self._batch
        try:
            slots = await self.sweep(batch)
        except Exception:
            # Reclaiming space is housekeeping: the caller's write succeeded.
            logger.warning("expiry sweep on %s failed", self.url, exc_info=True)
            self._batch = SWEEP_BATCH
            return
        finally:
            self._sweeping = False
        took = time.monotonic() - now
        if slots < batch:
            self._batch = SWEEP_BATCH
            return
        if took < _SWEEP_TARGET / 2:
            self._batch = min(batch * 2, SWEEP_BATCH_MAX)
        elif took > _SWEEP_TARGET * 2:
            self._batch = max(batch // 2, SWEEP_BATCH)
        self._next_sweep = time.monotonic() + took * _SWEEP_PAUSE

    async def sweep(self, batch: int = SWEEP_BATCH) -> int:
        """Delete one bounded batch of expired slots and sessions; return how many.

        On a SQLite file the batch runs in a worker thread, holding the
        store's write turn, so it never holds up the loop's readers.
        """
        sweeper = self.sweeper
        if sweeper is None:
            return 0
        count = await self._execute(
            "sweep", lambda conn: sweeper(conn, self.clock(), batch), Mode.WRITE, True, True
        )
        if count and self.inline is not None:

            async def release(conn: AsyncConnection) -> None:
                conn.release_free_pages()  # type: ignore[attr-defined]

            await self._execute("sweep", release, Mode.WRITE_ONE, True, True)
        if count:
            logger.debug("swept %d expired slots and sessions from %s", count, self.url)
        return count

    # -- schema ---------------------------------------------------------------

    async def prepare(self, operation: str, *, migrate: bool = False) -> None:
        """Check the schema version once; create or upgrade it if allowed.

        A store opened with ``create=False`` changes nothing: a missing
        database file or missing tables raise
        :class:`~unistore.errors.StoreNotFoundError`, an older schema is
        refused, and ``migrate`` is refused too. An in-memory SQLite
        database has nothing lasting to create, so the mode does not apply.
        """
        async with self._schema_lock:
            if self._ready and not migrate:
                return
            if self._read_only:
                if migrate:
                    raise ConfigurationError(
                        f"{self.where} was opened with create=False, which changes no schema; "
                        "open it with create=True to migrate"
                    )
                self._check_file()
            version = await self._execute(operation, self._read_version, Mode.READ, True)
            if version == SCHEMA_VERSION:
                self._set_ready(True)
                return
            self._check_version(version, migrate or self.settings.create_schema)
            await self._execute(operation, self._create_or_upgrade, Mode.WRITE, True)
            self._set_ready(True)

    def _set_ready(self, ready: bool) -> None:
        self._ready = ready
        self.at_once = self.inline.first if ready and self.inline is not None else _not_at_once

    @property
    def _read_only(self) -> bool:
        """Whether the schema must be left as it is (``create=False``, not in memory)."""
        return not self.settings.create and not self.memory

    def _check_file(self) -> None:
        # Checked before connecting for a clear error; the connection itself
        # opens with mode=rw, so a file removed meanwhile is not recreated.
        if self.path is not None and not os.path.exists(self.path):
            raise store_not_found(self.where, f"no database file {self.path!r}")

    def _check_version(self, version: int | None, may_change: bool) -> None:
        prefix = self.tables.prefix
        if version is not None and version > SCHEMA_VERSION:
            raise ConfigurationError(
                f"the tables with prefix {prefix!r} on {self.url} have schema version "
                f"{version}, newer than this unistore-sql understands ({SCHEMA_VERSION}); "
                "upgrade unistore-sql"
            )
        if self._read_only:
            if version is None:
                raise store_not_found(self.where, f"no unistore tables with prefix {prefix!r}")
            raise ConfigurationError(
                f"the tables with prefix {prefix!r} on {self.url} have schema version "
                f"{version}, this unistore-sql needs {SCHEMA_VERSION}, and the store was "
                "opened with create=False, which upgrades nothing; open it once with "
                "create=True (or call `await store.migrate()` on such a store)"
            )
        if may_change:
            return
        if version is None:
            raise ConfigurationError(
                f"the tables with prefix {prefix!r} do not exist on {self.url} and "
                "create_schema is off; create them with `await store.migrate()` "
                "(or open once with create_schema=True)"
            )
        raise ConfigurationError(
            f"the tables with prefix {prefix!r} on {self.url} have schema version {version}, "
            f"this unistore-sql needs {SCHEMA_VERSION}; upgrade them with "
            "`await store.migrate()` (or open once with create_schema=True)"
        )

    async def _read_version(self, conn: AsyncConnection) -> int | None:
        meta = self.tables.meta
        exists = await conn.run_sync(lambda sync: inspect(sync).has_table(meta.name))
        if not exists:
            return None
        value = await conn.scalar(select(meta.c.value).where(meta.c.key == VERSION_KEY))
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise CorruptionError(
                f"the schema version recorded in table {meta.name!r} on {self.url} is not a number"
            ) from None

    async def _create_or_upgrade(self, conn: AsyncConnection) -> None:
        await self.lock_key(conn, "schema")
        # Another process may have finished while this one waited for the lock.
        version = await self._read_version(conn)
        self._check_version(version, True)
        tables = self.tables
        if version is None:
            await conn.run_sync(tables.metadata.create_all)
            await conn.execute(
                tables.meta.insert().values(key=VERSION_KEY, value=str(SCHEMA_VERSION))
            )
            logger.info(
                "created unistore tables with prefix %r (schema %d) on %s",
                tables.prefix,
                SCHEMA_VERSION,
                self.url,
            )
            return
        while version < SCHEMA_VERSION:
            await UPGRADES[version](conn, tables)
            version += 1
            logger.info(
                "upgraded unistore tables with prefix %r to schema %d on %s",
                tables.prefix,
                version,
                self.url,
            )
        await conn.execute(
            tables.meta.update()
            .where(tables.meta.c.key == VERSION_KEY)
            .values(value=str(SCHEMA_VERSION))
        )

    async def destroy(self) -> None:
        """Drop this store's tables (its table prefix only)."""

        async def drop(conn: AsyncConnection) -> None:
            await self.lock_key(conn, "schema")
            await conn.run_sync(self.tables.metadata.drop_all)

        async with self._schema_lock:
            await self._execute("destroy", drop, Mode.WRITE, True)
            self._set_ready(False)

    async def close(self) -> None:
        if self.inline is not None:
            await self.inline.close()
        if self._owns_engine:
            await self.engine.dispose()

    async def abandon(self) -> None:
        """Let go of the pool's connections without I/O: their event loop is gone."""
        if self.inline is not None:
            self.inline.reap()
        if self._owns_engine:
            await self.engine.dispose(close=False)


async def _in_thread(unit: Awaitable[T]) -> T:
    assert inspect_.iscoroutine(unit)
    work = asyncio.ensure_future(asyncio.to_thread(run_whole, unit))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        # The thread still uses the connection: it is rolled back only once
        # the thread is done with it.
        await asyncio.wait([work])
        raise


def _not_at_once(read: OneRow, values: Sequence[Any]) -> Any:
    return LATER


@types.coroutine
def _next_turn() -> Generator[None, None, None]:
    # What asyncio.sleep(0) does: one bare yield lets the loop run the
    # others' callbacks; without its timer or a name that tests patch.
    yield


def _both(first: Callable[[], None], second: Callable[[], None]) -> Callable[[], None]:
    def release() -> None:
        try:
            first()
        finally:
            second()

    return release


def _is_memory(engine: AsyncEngine) -> bool:
    database: Any = engine.url.database
    return database in (None, "", ":memory:") or "mode=memory" in str(database)
