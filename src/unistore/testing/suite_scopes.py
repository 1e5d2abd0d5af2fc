"""Conformance tests of session scopes: ``(scope, id)`` is a session's identity.

A scope is opaque text and a security boundary: a session addressed with
another scope is exactly a missing session (no hint that it exists), a
listing shows one scope, a fork lives in its parent's scope, and no scope is
ever read as a pattern, a path or a key separator.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from unistore.errors import SessionExistsError, SessionNotFoundError, ValidationError
from unistore.protocols import Capability, SessionRecord
from unistore.testing._fixtures import SuiteFixtures
from unistore.testing._support import (
    FullStore,
    IdFactory,
    collect_sessions,
    listed_ids,
    require,
)
from unistore.testing.suite_sessions import msgs

__all__ = ["HOSTILE_SCOPES", "ScopesSuite"]

SESSIONS = Capability.SESSION_DOCUMENTS

#: Scopes that break stores which build globs, paths, LIKE patterns or keys from them.
HOSTILE_SCOPES: dict[str, str] = {
    "star": "*",
    "percent": "%",
    "underscore": "_",
    "question": "?",
    "slash": "/",
    "a-slash-b": "a/b",
    "dot": ".",
    "dotdot": "..",
    "dotdot-x": "../x",
    "backslash": "\\",
    "colon": ":",
    "braces": "{x}",
    "space": " ",
    "newline": "\n",
    "lower-a": "a",
    "upper-a": "A",
    "e-acute": "\u00e9",
    "e-combining": "e\u0301",
    "emoji": "\U0001f600",
    "max-code-point": "\U0010ffff",
    "1024-chars": "s" * 1024,
    "1024-chars-other-end": "s" * 1023 + "t",
}

#: Scopes the public check refuses before any I/O.
BAD_SCOPES: dict[str, Any] = {
    "empty": "",
    "nul": "\x00",
    "nul-inside": "a\x00b",
    "1025-chars": "s" * 1025,
    "int": 5,
    "bytes": b"scope",
    "list": ["a"],
}

#: Where the session lives and the scope it is asked in: None is the default scope,
#: "A" and "B" two scopes of the test.
DIRECTIONS: dict[str, tuple[str | None, str | None]] = {
    "default-asked-in-A": (None, "A"),
    "A-asked-in-default": ("A", None),
    "A-asked-in-B": ("A", "B"),
}

Op = Callable[[FullStore, str, str, str | None], Awaitable[Any]]

#: Every call that addresses one session, with (store, session id, child id, scope).
OPS: dict[str, Op] = {
    "read_messages": lambda s, sid, child, scope: s.read_messages(sid, scope=scope),
    "read_last": lambda s, sid, child, scope: s.read_messages(sid, last=1, scope=scope),
    "append": lambda s, sid, child, scope: s.append_messages(sid, msgs("x"), scope=scope),
    "append_expected": lambda s, sid, child, scope: s.append_messages(
        sid, msgs("x"), expected_length=2, scope=scope
    ),
    "append_token": lambda s, sid, child, scope: s.append_messages(
        sid, msgs("x"), token="scope-token", scope=scope
    ),
    "replace": lambda s, sid, child, scope: s.replace_messages(
        sid, 0, msgs("x"), expected_length=2, scope=scope
    ),
    "pop": lambda s, sid, child, scope: s.pop_messages(sid, 1, scope=scope),
    "update": lambda s, sid, child, scope: s.update_session(sid, label="x", scope=scope),
    "fork": lambda s, sid, child, scope: s.fork_session(sid, child, scope=scope),
}


async def _session(
    store: FullStore, ids: IdFactory, sid: str, scope: str | None, *names: str, **kw: Any
) -> SessionRecord:
    """Create ``sid`` in ``scope`` (tracked for cleanup) holding ``msgs(*names)``."""
    ids.track_session(sid, scope)
    await store.create_session(sid, scope=scope, **kw)
    if names:
        await store.append_messages(sid, msgs(*names), expected_length=0, scope=scope)
    record = await store.get_session(sid, scope=scope)
    assert record is not None
    return record


def _normalised(text: str, **names: str) -> str:
    for placeholder, name in names.items():
        text = text.replace(name, f"<{placeholder}>")
    return text


class ScopesSuite(SuiteFixtures):
    """Scopes: identity, not-found for the wrong scope, listing, forks, opaque text."""

    @pytest.mark.asyncio
    async def test_the_same_id_in_two_scopes_is_two_sessions(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """Creating, writing, forking and deleting one of them leaves the others alone."""
        require(store, SESSIONS)
        a, b = ids.scope("-a"), ids.scope("-b")
        sid, child = ids.session(), ids.session("-child")
        await _session(store, ids, sid, None, "d1", label="default")
        await _session(store, ids, sid, a, "a1", "a2", label="in a", metadata={"s": "a"})
        await _session(store, ids, sid, b, label="in b")
        with pytest.raises(SessionExistsError):
            await store.create_session(sid, scope=a)
        assert await store.append_messages(sid, msgs("a3"), scope=a) == 3
        assert await store.replace_messages(sid, 0, msgs("b1"), expected_length=0, scope=b) == 1
        assert await store.pop_messages(sid, scope=None) == msgs("d1")
        await store.update_session(sid, label="in a, updated", scope=a)
        expected = {
            None: ("default", {}, []),
            a: ("in a, updated", {"s": "a"}, msgs("a1", "a2", "a3")),
            b: ("in b", {}, msgs("b1")),
        }
        for scope, (label, metadata, messages) in expected.items():
            record = await store.get_session(sid, scope=scope)
            assert record is not None, scope
            assert (record.label, dict(record.metadata), record.scope) == (label, metadata, scope)
            assert record.message_count == len(messages), scope
            assert await store.read_messages(sid, scope=scope) == messages, scope
        ids.track_session(child, a)
        ids.track_session(child, b)
        await _session(store, ids, child, None, "taken in the default scope")
        fork = await store.fork_session(sid, child, at=2, scope=a)
        assert (fork.scope, fork.parent_id, fork.fork_point) == (a, sid, 2)
        assert await store.read_messages(child, scope=a) == msgs("a1", "a2")
        assert await store.read_messages(child) == msgs("taken in the default scope")
        assert await store.delete_session(sid, scope=a) is True
        assert await store.get_session(sid, scope=a) is None
        assert await store.read_messages(sid, scope=b) == msgs("b1")
        assert await store.read_messages(sid) == []
        assert await store.read_messages(child, scope=a) == msgs("a1", "a2")

    @pytest.mark.asyncio
    @pytest.mark.parametrize("direction", list(DIRECTIONS))
    @pytest.mark.parametrize("op", list(OPS))
    async def test_a_session_asked_in_another_scope_is_not_found(
        self, store: FullStore, ids: IdFactory, op: str, direction: str
    ) -> None:
        """The wrong scope raises exactly what a missing id raises and changes nothing."""
        require(store, SESSIONS)
        scopes = {None: None, "A": ids.scope("-a"), "B": ids.scope("-b")}
        home, asked = (scopes[k] for k in DIRECTIONS[direction])
        sid, absent = ids.session("-target"), ids.session("-absent")
        child, other_child = ids.session("-child"), ids.session("-child2")
        ids.track_session(child, asked)
        ids.track_session(other_child, asked)
        before = await _session(store, ids, sid, home, "a", "b", label="kept")
        call = OPS[op]
        with pytest.raises(SessionNotFoundError) as wrong:
            await call(store, sid, child, asked)
        with pytest.raises(SessionNotFoundError) as missing:
            await call(store, absent, other_child, asked)
        said = _normalised(str(wrong.value), id=sid, child=child)
        baseline = _normalised(str(missing.value), id=absent, child=other_child)
        assert said == baseline, "the error for the wrong scope differs from a missing session's"
        assert wrong.value.session_id == sid
        if home is not None:
            assert home not in str(wrong.value), "the error names the session's real scope"
        assert await store.get_session(sid, scope=home) == before
        assert await store.read_messages(sid, scope=home) == msgs("a", "b")
        assert await store.get_session(child, scope=asked) is None
        assert await store.get_session(child, scope=home) is None

    @pytest.mark.asyncio
    @pytest.mark.parametrize("direction", list(DIRECTIONS))
    async def test_get_and_delete_in_another_scope_see_nothing(
        self, store: FullStore, ids: IdFactory, direction: str
    ) -> None:
        """get_session is None and delete_session is False, as for a missing id."""
        require(store, SESSIONS)
        scopes = {None: None, "A": ids.scope("-a"), "B": ids.scope("-b")}
        home, asked = (scopes[k] for k in DIRECTIONS[direction])
        sid = ids.session()
        before = await _session(store, ids, sid, home, "a", label="kept")
        assert await store.get_session(sid, scope=asked) is None
        assert await store.delete_session(sid, scope=asked) is False
        assert await store.get_session(sid, scope=home) == before
        assert await store.read_messages(sid, scope=home) == msgs("a")

    @pytest.mark.asyncio
    @pytest.mark.parametrize("limit", [1, 2, 50])
    async def test_a_listing_shows_one_scope_only(
        self, store: FullStore, ids: IdFactory, limit: int
    ) -> None:
        """Each scope's pages hold its own sessions, and never another scope's."""
        require(store, SESSIONS)
        a, b = ids.scope("-a"), ids.scope("-b")
        shared = ids.session("-in-a-and-b")
        owned: dict[str | None, set[str]] = {None: set(), a: {shared}, b: {shared}}
        plan = [a, None, b, a, b, None, a]
        for i, scope in enumerate(plan):
            sid = ids.session(f"-{i}")
            await _session(store, ids, sid, scope)
            owned[scope].add(sid)
        await _session(store, ids, shared, a, label="A")
        await _session(store, ids, shared, b, label="B")
        ours: set[str] = set().union(*owned.values())
        for scope, wanted in owned.items():
            seen = await listed_ids(store, scope=scope, limit=limit)
            leaked = (seen & ours) - wanted
            assert not leaked, f"scope {scope!r} lists {len(leaked)} session(s) of another scope"
            assert wanted <= seen, f"scope {scope!r} misses {len(wanted - seen)} session(s)"
        for scope, label in ((a, "A"), (b, "B")):
            (record,) = await collect_sessions(store, [shared], limit=limit, scope=scope)
            assert (record.label, record.scope) == (label, scope)

    @pytest.mark.asyncio
    async def test_a_fork_lives_in_its_parents_scope(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """The fork's record, reads and listing are in the parent's scope, nowhere else."""
        require(store, SESSIONS)
        scope = ids.scope()
        parent, child, grandchild = ids.session("-p"), ids.session("-c"), ids.session("-g")
        await _session(store, ids, parent, scope, "a", "b", "c")
        ids.track_session(child, scope)
        ids.track_session(grandchild, scope)
        record = await store.fork_session(parent, child, at=2, scope=scope)
        assert (record.id, record.scope, record.parent_id, record.fork_point) == (
            child,
            scope,
            parent,
            2,
        )
        assert await store.get_session(child, scope=scope) == record
        assert await store.get_session(child) is None
        assert await store.read_messages(child, scope=scope) == msgs("a", "b")
        assert await store.append_messages(child, msgs("x"), scope=scope) == 3
        second = await store.fork_session(child, grandchild, scope=scope)
        assert second.scope == scope
        assert await store.read_messages(grandchild, scope=scope) == msgs("a", "b", "x")
        await collect_sessions(store, [parent, child, grandchild], limit=50, scope=scope)
        assert not {child, grandchild} & await listed_ids(store), "a fork is listed by default"

    @pytest.mark.asyncio
    async def test_hostile_scopes_are_kept_apart(self, store: FullStore, ids: IdFactory) -> None:
        """One id in every hostile scope and the default one: each its own session.

        Deleting in a scope that looks like a pattern or a path removes only its own.
        """
        require(store, SESSIONS)
        sid = ids.session()
        everywhere: dict[str, str | None] = {"default": None, **HOSTILE_SCOPES}
        for name, scope in everywhere.items():
            await _session(store, ids, sid, scope, name, label=name)
        for name, scope in everywhere.items():
            record = await store.get_session(sid, scope=scope)
            assert record is not None, name
            assert (record.label, record.scope, record.message_count) == (name, scope, 1), name
            assert await store.read_messages(sid, scope=scope) == msgs(name), name
        for name, scope in everywhere.items():
            (record,) = await collect_sessions(store, [sid], limit=50, scope=scope)
            assert record.label == name, f"scope {name} lists another scope's session"
        doomed = {"star", "percent", "underscore", "question", "dot", "dotdot", "slash"}
        for name in sorted(doomed):
            assert await store.delete_session(sid, scope=HOSTILE_SCOPES[name]) is True, name
        for name, scope in everywhere.items():
            record = await store.get_session(sid, scope=scope)
            if name in doomed:
                assert record is None, f"deleted in scope {name}, still there"
            else:
                assert record is not None, f"deleting another scope removed scope {name}'s"
                assert await store.read_messages(sid, scope=scope) == msgs(name), name

    @pytest.mark.asyncio
    @pytest.mark.parametrize("bad", list(BAD_SCOPES.values()), ids=list(BAD_SCOPES))
    async def test_an_invalid_scope_is_refused_and_touches_nothing(
        self, store: FullStore, ids: IdFactory, bad: Any
    ) -> None:
        """Empty, NUL, over 1024 characters or not a str: ValidationError on every call."""
        require(store, SESSIONS)
        sid, parent, child = ids.session(), ids.session("-p"), ids.session("-c")
        before = await _session(store, ids, parent, None, "a", label="kept")
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "create_session": lambda: store.create_session(sid, scope=bad),
            "fork_session": lambda: store.fork_session(parent, child, scope=bad),
            "append_messages": lambda: store.append_messages(parent, msgs("x"), scope=bad),
            "replace_messages": lambda: store.replace_messages(
                parent, 0, [], expected_length=1, scope=bad
            ),
            "pop_messages": lambda: store.pop_messages(parent, scope=bad),
            "read_messages": lambda: store.read_messages(parent, scope=bad),
            "get_session": lambda: store.get_session(parent, scope=bad),
            "list_sessions": lambda: store.list_sessions(scope=bad),
            "update_session": lambda: store.update_session(parent, label="x", scope=bad),
            "delete_session": lambda: store.delete_session(parent, scope=bad),
        }
        for name, call in calls.items():
            with pytest.raises(ValidationError, match="scope"):
                await call()
            assert await store.get_session(parent) == before, f"{name} changed the session"
        assert await store.read_messages(parent) == msgs("a")
        assert await store.get_session(sid) is None
        assert await store.get_session(child) is None
        if isinstance(bad, str) and len(bad) > 1024:
            # Not cut to the longest valid scope and created there.
            assert await store.get_session(sid, scope=bad[:1024]) is None

    @pytest.mark.asyncio
    async def test_the_record_carries_its_scope(self, store: FullStore, ids: IdFactory) -> None:
        """create, get, list, update and fork records name the scope (None: the default)."""
        require(store, SESSIONS)
        scope, sid, child = ids.scope("/x"), ids.session(), ids.session("-c")
        created = await store.create_session(sid, scope=scope)
        ids.track_session(sid, scope)
        assert created.scope == scope
        fetched = await store.get_session(sid, scope=scope)
        assert fetched is not None
        assert fetched.scope == scope
        (listed,) = await collect_sessions(store, [sid], limit=50, scope=scope)
        assert listed.scope == scope
        assert (await store.update_session(sid, label="x", scope=scope)).scope == scope
        ids.track_session(child, scope)
        assert (await store.fork_session(sid, child, scope=scope)).scope == scope
        plain = ids.session("-default")
        ids.track_session(plain)
        assert (await store.create_session(plain)).scope is None
        fetched = await store.get_session(plain, scope=None)
        assert fetched is not None
        assert fetched.scope is None

    @pytest.mark.asyncio
    async def test_iter_scopes_yields_every_scope_in_use(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """Each scope holding a live session is yielded once; the default one as None."""
        require(store, SESSIONS)
        base = ids.scope()
        scopes = [base, base + "/..", "%" + base, base + "*"]
        for i, scope in enumerate([None, *scopes]):
            await _session(store, ids, ids.session(f"-{i}"), scope)
        yielded = [scope async for scope in store.iter_scopes()]
        assert len(yielded) == len(set(yielded)), "a scope was yielded twice"
        assert all(s is None or (isinstance(s, str) and s) for s in yielded), yielded[:5]
        missing = {None, *scopes} - set(yielded)
        assert not missing, f"iter_scopes missed {sorted(map(repr, missing))}"
