"""Helpers shared by the conformance suite modules."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, Protocol

import pytest

import unistore
from unistore.protocols import (
    TTL,
    Capability,
    Counter,
    Hash,
    KeyValue,
    NamespaceLifecycle,
    SessionDocuments,
    SessionRecord,
    Store,
    Transactions,
)

__all__ = [
    "HOSTILE_IDS",
    "LONG_TTL",
    "FullStore",
    "IdFactory",
    "Reconnect",
    "assert_utc",
    "collect_sessions",
    "listed_ids",
    "require",
    "walk_sessions",
]

#: TTL of writes that must outlive the test (seconds). Leftovers expire on their own.
LONG_TTL = 60.0

_TEN_KB = ("unistore-0123456789/:*?[]{}%" * 400)[:10240]

#: Ids that break stores which build globs, paths, SQL or keys from raw strings.
HOSTILE_IDS: tuple[str, ...] = (
    "*",
    "?",
    "[",
    "]",
    "[a-z]",
    ":",
    "::",
    "{",
    "}",
    "{tag}",
    "/",
    "\\",
    ".",
    "..",
    "../x",
    "./x",
    "%",
    "%2F",
    "%00",
    "_",
    "'",
    '"',
    "--",
    "\x00",
    "\n",
    "\r\n",
    "\t",
    " ",
    "A",
    "a",
    "\u00e9",
    "e\u0301",
    "\U0001f600",
    "a:b",
    "a:*",
    "a/b",
    _TEN_KB,
    _TEN_KB[:-1] + "!",
)


class FullStore(
    Store,
    KeyValue,
    Hash,
    Counter,
    TTL,
    NamespaceLifecycle,
    Transactions,
    SessionDocuments,
    Protocol,
):
    """A store with every capability: how the suite types the store it tests.

    The suite calls :func:`require` before it uses a capability, so a store that
    declares fewer capabilities is never asked for the missing methods.
    """


def require(store: Store, *capabilities: Capability) -> None:
    """Skip the running test unless ``store`` declares every capability given.

    Args:
        store: The store under test.
        *capabilities: The capabilities the test needs.
    """
    declared = store.capabilities
    missing = [cap.value for cap in capabilities if cap not in declared]
    if missing:
        pytest.skip(f"the {store.url.scheme} driver does not declare {', '.join(missing)}")


class IdFactory:
    """Hands out unique namespaces, session ids and scopes, and remembers them for cleanup.

    Attributes:
        namespaces: The namespaces to purge.
        sessions: The sessions of the default scope to delete.
        scoped: The ``(scope, session id)`` pairs of other scopes to delete.
    """

    def __init__(self) -> None:
        self.run = uuid.uuid4().hex
        self.namespaces: list[str] = []
        self.sessions: list[str] = []
        self.scoped: list[tuple[str, str]] = []
        self._count = 0

    def _next(self) -> str:
        self._count += 1
        return f"{self.run}-{self._count}"

    def ns(self, suffix: str = "") -> str:
        """Return a fresh namespace (``conformance:<unique>`` + ``suffix``)."""
        return self.track_ns(f"conformance:{self._next()}{suffix}")

    def session(self, suffix: str = "") -> str:
        """Return a fresh session id (``conformance-<unique>`` + ``suffix``)."""
        return self.track_session(f"conformance-{self._next()}{suffix}")

    def track_ns(self, ns: str) -> str:
        """Remember a namespace the test writes to, so that cleanup purges it."""
        if ns not in self.namespaces:
            self.namespaces.append(ns)
        return ns

    def scope(self, suffix: str = "") -> str:
        """Return a fresh scope (``conformance-scope-<unique>`` + ``suffix``)."""
        return f"conformance-scope-{self._next()}{suffix}"

    def track_session(self, session_id: str, scope: str | None = None) -> str:
        """Remember a session the test creates (in ``scope``), so that cleanup deletes it."""
        if scope is None:
            if session_id not in self.sessions:
                self.sessions.append(session_id)
        elif (scope, session_id) not in self.scoped:
            self.scoped.append((scope, session_id))
        return session_id

    async def cleanup(self, store: FullStore) -> None:
        """Purge the namespaces and delete the sessions handed out (where supported)."""
        if Capability.NAMESPACE_LIFECYCLE in store.capabilities:
            for ns in self.namespaces:
                await store.purge(ns)
        if Capability.SESSION_DOCUMENTS in store.capabilities:
            # Children first keeps the work of drivers that materialise forks small.
            for session_id in reversed(self.sessions):
                await store.delete_session(session_id)
            for scope, session_id in reversed(self.scoped):
                await store.delete_session(session_id, scope=scope)


Reconnect = Callable[[], AbstractAsyncContextManager[FullStore]]
"""Opens a second, independent store on the same URL (``async with reconnect() as s``)."""


def make_reconnect(url: str, options: dict[str, Any]) -> Reconnect:
    """Return a :data:`Reconnect` that skips when the second store shares no data."""

    @asynccontextmanager
    async def reconnect() -> AsyncIterator[FullStore]:
        other: FullStore = unistore.connect(url, **options)
        async with other:
            yield other

    return reconnect


async def skip_unless_shared(first: FullStore, second: FullStore, ns: str) -> None:
    """Skip when a write through ``first`` is invisible through ``second``.

    A nameless ``memory://`` store, for example, is private to its connection.
    """
    require(first, Capability.KEY_VALUE)
    await first.set(ns, "conformance-probe", b"probe", ttl=LONG_TTL)
    seen = await second.get(ns, "conformance-probe")
    await first.delete(ns, "conformance-probe")
    if seen != b"probe":
        pytest.skip("two connections to this URL do not share data")


def assert_utc(moment: datetime) -> None:
    """Assert that ``moment`` is timezone-aware and in UTC."""
    assert moment.tzinfo is not None, f"{moment!r} is naive"
    assert moment.utcoffset() == timedelta(0), f"{moment!r} is not UTC"


def sort_key(record: SessionRecord) -> tuple[datetime, str]:
    """The listing order key: newest first means descending on this."""
    return (record.updated_at, record.id)


async def collect_sessions(
    store: FullStore,
    wanted: Iterable[str],
    *,
    limit: int,
    to_the_end: bool = False,
    scope: str | None = None,
) -> list[SessionRecord]:
    """Walk the ``list_sessions`` pages of ``scope`` until every wanted id was seen.

    Other sessions of a shared store may appear in between; they are checked for
    order, duplicates and scope but otherwise ignored.

    Returns:
        The records of the wanted sessions, in listing order.
    """
    targets = set(wanted)
    found: list[SessionRecord] = []
    async with aclosing(walk_sessions(store, limit=limit, scope=scope)) as records:
        async for record in records:
            if record.id in targets:
                found.append(record)
            if not to_the_end and targets <= {r.id for r in found}:
                break
    missing = targets - {r.id for r in found}
    assert not missing, f"{len(missing)} session(s) never listed"
    return found


async def walk_sessions(
    store: FullStore, *, limit: int, scope: str | None = None
) -> AsyncGenerator[SessionRecord, None]:
    """Yield every record ``list_sessions`` lists in ``scope``, page by page.

    Each page is checked: at most ``limit`` items, newest first across pages,
    no id twice, and every record of the scope asked.
    """
    seen: set[str] = set()
    cursor: str | None = None
    previous: SessionRecord | None = None
    for _ in range(100_000):
        page = await store.list_sessions(scope=scope, limit=limit, cursor=cursor)
        assert len(page.items) <= limit, f"page of {len(page.items)} items for limit={limit}"
        for record in page.items:
            assert record.id not in seen, f"session {record.id[:40]!r} listed twice"
            assert record.scope == scope, (
                f"listing scope {_shown(scope)} returned a record of scope {_shown(record.scope)}"
            )
            seen.add(record.id)
            if previous is not None:
                assert sort_key(previous) > sort_key(record), (
                    f"listing not newest first: {previous.id[:40]!r} "
                    f"({previous.updated_at}) before {record.id[:40]!r} ({record.updated_at})"
                )
            previous = record
            yield record
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
    raise AssertionError("the listing never ended (100000 pages)")


async def listed_ids(store: FullStore, *, scope: str | None = None, limit: int = 100) -> set[str]:
    """Return the ids of every session listed in ``scope`` (walking every page)."""
    return {record.id async for record in walk_sessions(store, limit=limit, scope=scope)}


def _shown(scope: str | None) -> str:
    return "None" if scope is None else repr(scope[:40])


async def gather(*calls: Awaitable[Any]) -> list[Any]:
    """Run awaitables concurrently and return their results in order."""
    return list(await asyncio.gather(*calls))
