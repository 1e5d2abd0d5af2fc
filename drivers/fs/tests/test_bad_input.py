"""Badly typed arguments are refused before any file is touched."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from unistore import ValidationError
from unistore_fs import FileStore

BAD_CALLS: dict[str, Callable[[FileStore], Awaitable[Any]]] = {
    "get ns": lambda s: s.get(1, "x"),  # type: ignore[arg-type]
    "set slot": lambda s: s.set("n", None, b"v", ttl=5),  # type: ignore[arg-type]
    "hset slot": lambda s: s.hset("n", None, {"f": b"v"}, ttl=5),  # type: ignore[arg-type]
    "hdel field": lambda s: s.hdel("n", "", [1]),  # type: ignore[list-item]
    "incr slot": lambda s: s.incr("n", None, ttl=5),  # type: ignore[arg-type]
    "slots ns": lambda s: s.slots(b"n"),  # type: ignore[arg-type]
    "purge ns": lambda s: s.purge(None),  # type: ignore[arg-type]
    "create id": lambda s: s.create_session(None),  # type: ignore[arg-type]
    "append id": lambda s: s.append_messages(None, ['"x"'], expected_length=1),  # type: ignore[arg-type]
    "get_session id": lambda s: s.get_session(None),  # type: ignore[arg-type]
    "delete_session id": lambda s: s.delete_session(None),  # type: ignore[arg-type]
    "fork parent id": lambda s: s.fork_session(None, "c"),  # type: ignore[arg-type]
    "list cursor": lambda s: s.list_sessions(cursor=123),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("call", BAD_CALLS.values(), ids=BAD_CALLS.keys())
async def test_non_str_ids_are_refused_and_never_alias_the_empty_id(
    store: FileStore, call: Callable[[FileStore], Awaitable[Any]]
) -> None:
    # None used to be encoded like "" and overwrite the files of the empty id.
    await store.set("n", "", b"kept", ttl=60)
    await store.hset("n", "h", {"f": b"v"}, ttl=60)
    await store.create_session("")
    await store.append_messages("", ['"kept"'], expected_length=0)
    with pytest.raises(ValidationError):
        await call(store)
    assert await store.get("n", "") == b"kept"
    assert await store.hgetall("n", "h") == {"f": b"v"}
    assert await store.read_messages("") == ['"kept"']
    assert await store.slots("n") == ["", "h"]


async def test_transaction_refuses_non_bytes_values_and_non_str_names(store: FileStore) -> None:
    async with store.transaction("n", watch=["a"]) as tx:
        with pytest.raises(ValidationError):
            tx.set("a", 3, ttl=5)  # type: ignore[arg-type]  # bytes(3) would be b"\0\0\0"
        with pytest.raises(ValidationError):
            tx.hset("a", {"f": 2}, ttl=5)  # type: ignore[dict-item]
        with pytest.raises(ValidationError):
            tx.delete(None)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            tx.hdel("a", "f")
    with pytest.raises(ValidationError):
        async with store.transaction("n", watch=[None]):  # type: ignore[list-item]
            pass
