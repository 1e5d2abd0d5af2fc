"""Conformance tests of exactly-once writes: unconditional appends and idempotency tokens.

An append without ``expected_length`` never conflicts: concurrent writers all
land, each once. A write with a ``token`` that the session already applied
(one of its latest 100 at least) returns that write's length and changes
nothing, whatever ``expected_length`` says now.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from unistore.errors import SessionConflictError, ValidationError
from unistore.protocols import Capability
from unistore.testing._fixtures import SuiteFixtures
from unistore.testing._support import FullStore, IdFactory, Reconnect, require
from unistore.testing.suite_sessions import msgs

__all__ = ["ExactlyOnceSuite"]

SESSIONS = Capability.SESSION_DOCUMENTS

#: How many of a session's latest tokens every driver remembers, at least.
TOKENS_KEPT = 100

#: Tokens the public check refuses: empty, not ASCII, not printable, too long, not str.
BAD_TOKENS: dict[str, Any] = {
    "empty": "",
    "non-ascii": "caf\u00e9",
    "emoji": "\U0001f600",
    "newline": "a\nb",
    "nul": "a\x00b",
    "del": "\x7f",
    "201-chars": "t" * 201,
    "int": 5,
    "bytes": b"token",
}

#: Tokens at the edges of what is accepted.
GOOD_TOKENS = (
    "t" * 200,
    " ",
    "~!@#$%^&*()[]{}:;'\"\\/<>?,.`|=+-_",
    "550e8400-e29b-41d4-a716-446655440000",
)


class ExactlyOnceSuite(SuiteFixtures):
    """Unconditional appends and idempotency tokens."""

    async def _session(self, store: FullStore, ids: IdFactory, *names: str) -> str:
        sid = ids.session()
        await store.create_session(sid, label="kept", metadata={"k": 1})
        if names:
            await store.append_messages(sid, msgs(*names), expected_length=0)
        return sid

    @pytest.mark.asyncio
    async def test_an_unconditional_append_returns_the_new_length(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """Without expected_length an append lands whatever the length, on a fork too."""
        require(store, SESSIONS)
        sid = await self._session(store, ids)
        assert await store.append_messages(sid, msgs("a")) == 1
        assert await store.append_messages(sid, msgs("b", "c")) == 3
        assert await store.append_messages(sid, []) == 3
        assert await store.read_messages(sid) == msgs("a", "b", "c")
        child = ids.session("-child")
        await store.fork_session(sid, child, at=2)
        assert await store.append_messages(child, msgs("x")) == 3
        assert await store.read_messages(child) == msgs("a", "b", "x")
        assert await store.read_messages(sid) == msgs("a", "b", "c")

    @pytest.mark.asyncio
    async def test_concurrent_unconditional_appends_all_land_once(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """20 concurrent appends of two messages: no conflict, none lost, none doubled.

        Each append's two messages stay together, and the length it returned
        ends right after them.
        """
        require(store, SESSIONS)
        sid = await self._session(store, ids)
        writers = 20

        def pair(i: int) -> list[str]:
            return [json.dumps({"writer": i, "part": part}) for part in (1, 2)]

        lengths = await asyncio.gather(
            *(store.append_messages(sid, pair(i)) for i in range(writers))
        )
        assert sorted(lengths) == list(range(2, 2 * writers + 1, 2)), lengths
        stored = await store.read_messages(sid)
        assert len(stored) == 2 * writers, f"{len(stored)} messages for {2 * writers} written"
        assert sorted(stored) == sorted(m for i in range(writers) for m in pair(i))
        for i, length in enumerate(lengths):
            assert stored[length - 2 : length] == pair(i), f"writer {i}'s append was split"
        record = await store.get_session(sid)
        assert record is not None
        assert record.message_count == 2 * writers

    @pytest.mark.asyncio
    async def test_a_repeated_token_returns_the_earlier_length_and_changes_nothing(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """A retry is recognised before any length check, and writes no label either."""
        require(store, SESSIONS)
        sid = await self._session(store, ids)
        assert await store.append_messages(sid, msgs("a"), token="t1") == 1
        assert await store.append_messages(sid, msgs("b", "c"), expected_length=1, token="t2") == 3
        before = await store.get_session(sid)
        assert await store.append_messages(sid, msgs("a"), token="t1") == 1
        assert await store.append_messages(sid, msgs("b", "c"), expected_length=1, token="t2") == 3
        stale = await store.append_messages(
            sid, msgs("a"), expected_length=0, token="t1", label="changed", metadata={"k": 2}
        )
        assert stale == 1
        assert await store.read_messages(sid) == msgs("a", "b", "c")
        assert await store.get_session(sid) == before, "a repeated token changed the record"

    @pytest.mark.asyncio
    async def test_a_token_belongs_to_one_session(self, store: FullStore, ids: IdFactory) -> None:
        """The same token applies on another session, the same id in another scope, a fork."""
        require(store, SESSIONS)
        first = await self._session(store, ids, "a")
        second = await self._session(store, ids)
        assert await store.append_messages(first, msgs("b"), token="shared") == 2
        assert await store.append_messages(second, msgs("x"), token="shared") == 1
        assert await store.read_messages(second) == msgs("x")
        scope = ids.scope()
        ids.track_session(first, scope)
        await store.create_session(first, scope=scope)
        assert await store.append_messages(first, msgs("y"), token="shared", scope=scope) == 1
        assert await store.read_messages(first, scope=scope) == msgs("y")
        child = ids.session("-child")
        await store.fork_session(first, child)
        assert await store.append_messages(child, msgs("c"), token="shared") == 3
        assert await store.read_messages(child) == msgs("a", "b", "c")
        assert await store.read_messages(first) == msgs("a", "b")

    @pytest.mark.asyncio
    async def test_the_latest_100_tokens_are_remembered(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """After 150 tokened appends, each of the latest 100 is still recognised.

        Older ones may be forgotten; they are not retried.
        """
        require(store, SESSIONS)
        sid = await self._session(store, ids)
        total = TOKENS_KEPT + 50
        for i in range(total):
            assert await store.append_messages(sid, msgs(str(i)), token=f"tok-{i}") == i + 1
        for i in range(total - TOKENS_KEPT, total):
            expected = 0 if i % 2 else None
            again = await store.append_messages(
                sid, msgs(str(i)), expected_length=expected, token=f"tok-{i}"
            )
            assert again == i + 1, f"token {i + 1 - total} of the latest {TOKENS_KEPT} forgotten"
        assert len(await store.read_messages(sid)) == total

    @pytest.mark.asyncio
    async def test_a_repeated_token_on_replace_is_a_no_op(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """replace_messages with a token it applied returns that length; tokens span write kinds."""
        require(store, SESSIONS)
        sid = await self._session(store, ids, "a", "b", "c")
        assert await store.replace_messages(sid, 1, msgs("x"), expected_length=3, token="r") == 2
        assert await store.append_messages(sid, msgs("y")) == 3
        before = await store.get_session(sid)
        assert await store.replace_messages(sid, 1, msgs("x"), expected_length=3, token="r") == 2
        assert await store.replace_messages(sid, 0, [], expected_length=9, token="r") == 2
        assert await store.append_messages(sid, msgs("z"), token="r") == 2
        assert await store.read_messages(sid) == msgs("a", "x", "y")
        assert await store.get_session(sid) == before

    @pytest.mark.asyncio
    async def test_a_token_returns_its_recorded_length_after_later_writes(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """The length returned is the one the write produced, even after a pop shortened it."""
        require(store, SESSIONS)
        sid = await self._session(store, ids)
        assert await store.append_messages(sid, msgs("a"), token="t1") == 1
        assert await store.append_messages(sid, msgs("b", "c"), token="t2") == 3
        assert await store.pop_messages(sid) == msgs("c")
        assert await store.append_messages(sid, msgs("b", "c"), token="t2") == 3
        assert await store.read_messages(sid) == msgs("a", "b")

    @pytest.mark.asyncio
    async def test_a_refused_write_does_not_remember_its_token(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """A conflict writes nothing, its token included: the corrected write applies."""
        require(store, SESSIONS)
        sid = await self._session(store, ids, "a")
        with pytest.raises(SessionConflictError):
            await store.append_messages(sid, msgs("b"), expected_length=0, token="t")
        with pytest.raises(SessionConflictError):
            await store.replace_messages(sid, 0, msgs("b"), expected_length=5, token="t")
        assert await store.append_messages(sid, msgs("b"), expected_length=1, token="t") == 2
        assert await store.read_messages(sid) == msgs("a", "b")

    @pytest.mark.asyncio
    async def test_concurrent_retries_of_one_token_apply_once(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """Ten concurrent sends of one tokened append, among other appends: it lands once."""
        require(store, SESSIONS)
        sid = await self._session(store, ids)
        retries = [store.append_messages(sid, msgs("once"), token="same") for _ in range(10)]
        others = [store.append_messages(sid, msgs(f"other-{i}")) for i in range(5)]
        results = await asyncio.gather(*retries, *others)
        stored = await store.read_messages(sid)
        assert stored.count(msgs("once")[0]) == 1, "a tokened append landed more than once"
        assert len(stored) == 6
        assert len(set(results[:10])) == 1, f"retries returned different lengths {results[:10]}"
        assert stored[results[0] - 1] == msgs("once")[0]

    @pytest.mark.asyncio
    async def test_tokens_are_stored_with_the_session(
        self, store: FullStore, ids: IdFactory, reconnect: Reconnect
    ) -> None:
        """A retry through another connection is recognised: tokens are data, not a cache."""
        require(store, SESSIONS)
        sid = await self._session(store, ids)
        assert await store.append_messages(sid, msgs("a"), token="t") == 1
        async with reconnect() as other:
            if await other.get_session(sid) is None:
                pytest.skip("two connections to this URL do not share data")
            assert await other.append_messages(sid, msgs("a"), token="t") == 1
        assert await store.read_messages(sid) == msgs("a")

    @pytest.mark.asyncio
    @pytest.mark.parametrize("bad", list(BAD_TOKENS.values()), ids=list(BAD_TOKENS))
    async def test_an_invalid_token_is_refused_and_writes_nothing(
        self, store: FullStore, ids: IdFactory, bad: Any
    ) -> None:
        """Empty, non-ASCII, unprintable, over 200 characters or not a str: ValidationError."""
        require(store, SESSIONS)
        sid = await self._session(store, ids, "a")
        before = await store.get_session(sid)
        with pytest.raises(ValidationError, match="token"):
            await store.append_messages(sid, msgs("b"), token=bad)
        with pytest.raises(ValidationError, match="token"):
            await store.append_messages(sid, msgs("b"), expected_length=1, token=bad)
        with pytest.raises(ValidationError, match="token"):
            await store.replace_messages(sid, 0, msgs("b"), expected_length=1, token=bad)
        assert await store.read_messages(sid) == msgs("a")
        assert await store.get_session(sid) == before

    @pytest.mark.asyncio
    async def test_tokens_at_the_edges_are_accepted(self, store: FullStore, ids: IdFactory) -> None:
        """200 characters, a blank, punctuation and a UUID are tokens, recognised on retry."""
        require(store, SESSIONS)
        sid = await self._session(store, ids)
        for i, token in enumerate(GOOD_TOKENS):
            assert await store.append_messages(sid, msgs(str(i)), token=token) == i + 1
        for i, token in enumerate(GOOD_TOKENS):
            assert await store.append_messages(sid, msgs(str(i)), token=token) == i + 1, token
        assert len(await store.read_messages(sid)) == len(GOOD_TOKENS)
