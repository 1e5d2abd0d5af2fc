"""Idempotency tokens as stored, and writes whose reply the connection lost."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import text

from unistore.errors import SessionConflictError, StoreUnavailableError
from unistore.sdk import TOKENS_KEPT
from unistore_sql import SQLStore


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


async def rows(store: SQLStore, sql: str, **params: Any) -> list[Any]:
    async with store.engine.connect() as conn:
        result = await conn.execute(text(sql.format(p=store.table_prefix)), params)
        return list(result.all())


async def tokens_of(store: SQLStore, session_id: str) -> list[str]:
    found = await rows(
        store, "SELECT token FROM {p}tokens WHERE sid_key = :k ORDER BY n", k=digest(session_id)
    )
    return [bytes(r.token).decode() for r in found]


async def test_a_known_token_wins_over_the_length_check(store: SQLStore) -> None:
    await store.create_session("s")
    assert await store.append_messages("s", ['"a"'], expected_length=0, token="t1") == 1
    assert await store.append_messages("s", ['"a"'], expected_length=0, token="t1") == 1
    assert await store.replace_messages("s", 0, ['"b"'], expected_length=1, token="t2") == 1
    assert await store.replace_messages("s", 0, ['"b"'], expected_length=1, token="t2") == 1
    assert await store.append_messages("s", ['"c"'], token="t3") == 2
    assert await store.append_messages("s", ['"c"'], token="t3") == 2
    assert await store.read_messages("s") == ['"b"', '"c"']
    with pytest.raises(SessionConflictError):
        await store.append_messages("s", ['"d"'], expected_length=0, token="t4")
    assert await tokens_of(store, "s") == ["t1", "t2", "t3"]


async def test_tokens_belong_to_one_session_of_one_scope(store: SQLStore) -> None:
    await store.create_session("s")
    await store.create_session("s", scope="other")
    await store.append_messages("s", ['"a"', '"b"'], token="t")
    assert await store.append_messages("s", ['"x"'], token="t", scope="other") == 1
    # A fork does not inherit its parent's tokens.
    await store.fork_session("s", "f")
    assert await store.append_messages("f", ['"y"'], token="t") == 3
    assert await store.read_messages("f") == ['"a"', '"b"', '"y"']


async def test_the_log_keeps_the_latest_tokens_only(store: SQLStore) -> None:
    await store.create_session("s")
    extra = 30
    for i in range(TOKENS_KEPT + extra):
        await store.append_messages("s", [f'"{i}"'], token=f"t{i}")
    kept = await tokens_of(store, "s")
    assert kept == [f"t{i}" for i in range(extra, TOKENS_KEPT + extra)]
    # Every kept token is recognised; a forgotten one applies anew.
    assert await store.append_messages("s", ['"again"'], token=f"t{extra}") == extra + 1
    assert await store.append_messages("s", ['"again"'], token="t0") == TOKENS_KEPT + extra + 1
    assert len(await tokens_of(store, "s")) == TOKENS_KEPT
    assert await store.delete_session("s")
    assert await tokens_of(store, "s") == []


# -- lost replies (PostgreSQL) --------------------------------------------------------------


class LoseCommitReplies:
    """Kills the server connection right after COMMIT succeeded, ``times`` times.

    The server has applied the transaction; the client sees its connection
    die before it learns so, exactly as when a reply is lost on the network.
    Only the reply goes: the backend really ends (``pg_terminate_backend`` on
    itself), the data is really committed.
    """

    def __init__(self, store: SQLStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.left = 0
        self.lost = 0
        dialect = store.engine.dialect
        commit = dialect.do_commit

        def do_commit(dbapi_connection: Any) -> None:
            commit(dbapi_connection)
            if self.left > 0:
                self.left -= 1
                self.lost += 1
                cursor = dbapi_connection.cursor()
                cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")

        monkeypatch.setattr(dialect, "do_commit", do_commit)

    def arm(self, times: int) -> None:
        self.left = times


@pytest.fixture
def lose_replies(store: SQLStore, monkeypatch: pytest.MonkeyPatch) -> LoseCommitReplies:
    return LoseCommitReplies(store, monkeypatch)


pg_only = pytest.mark.parametrize(
    "backend", [pytest.param("postgresql", marks=pytest.mark.postgres)]
)


@pg_only
async def test_an_append_with_a_token_is_stored_once_after_a_lost_reply(
    store: SQLStore, lose_replies: LoseCommitReplies
) -> None:
    await store.create_session("s")
    # The driver itself may repeat a write with a token: the repeat finds it.
    lose_replies.arm(1)
    assert await store.append_messages("s", ['"m1"'], token="t1") == 1
    assert lose_replies.lost == 1
    # Lost twice (the driver's repeat too): the caller sees it and retries.
    lose_replies.arm(2)
    with pytest.raises(StoreUnavailableError):
        await store.append_messages("s", ['"m2"'], token="t2")
    assert await store.append_messages("s", ['"m2"'], token="t2") == 2
    assert await store.read_messages("s") == ['"m1"', '"m2"']
    assert await store.append_messages("s", ['"m1"'], token="t1") == 1
    assert await store.read_messages("s") == ['"m1"', '"m2"']


@pg_only
async def test_an_expected_length_append_with_a_token_retries_without_conflict(
    store: SQLStore, lose_replies: LoseCommitReplies
) -> None:
    await store.create_session("s")
    lose_replies.arm(2)
    with pytest.raises(StoreUnavailableError):
        await store.append_messages("s", ['"m"'], expected_length=0, token="t")
    # The write landed: the length is 1 now, yet the retry is no conflict.
    assert await store.append_messages("s", ['"m"'], expected_length=0, token="t") == 1
    lose_replies.arm(1)
    assert await store.replace_messages("s", 0, ['"r"'], expected_length=1, token="r") == 1
    assert await store.read_messages("s") == ['"r"']


@pg_only
async def test_an_append_without_a_token_is_never_repeated(
    store: SQLStore, lose_replies: LoseCommitReplies
) -> None:
    await store.create_session("s")
    lose_replies.arm(1)
    with pytest.raises(StoreUnavailableError, match="may have been applied"):
        await store.append_messages("s", ['"m"'])
    assert await store.read_messages("s") == ['"m"']
    lose_replies.arm(1)
    with pytest.raises(StoreUnavailableError, match="may have been applied"):
        await store.append_messages("s", ['"n"'], expected_length=1)
    assert await store.read_messages("s") == ['"m"', '"n"']
