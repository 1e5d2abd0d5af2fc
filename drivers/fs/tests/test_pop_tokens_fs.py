"""Pops and idempotency tokens on files: no copy, whole states for readers, durable tokens."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest

import unistore
from unistore import SessionConflictError
from unistore_fs import FileStore, _session_log, _session_ops


def _meta(root: Path, folder: str) -> dict[str, object]:
    data = json.loads((root / "sessions" / folder / "meta.json").read_text())
    assert isinstance(data, dict)
    return data


async def test_a_pop_lowers_the_committed_length_without_copying(
    store: FileStore, root: Path
) -> None:
    await store.create_session("s")
    await store.append_messages("s", ["a", "b", "c"])
    assert await store.pop_messages("s", 2) == ["b", "c"]
    meta = _meta(root, "s")
    assert (meta["log"], meta["log_size"], meta["count"]) == ("messages.jsonl", 2, 1)
    assert await store.read_messages("s") == ["a"]
    assert await store.append_messages("s", ["d"]) == 2
    assert (root / "sessions" / "s" / "messages.jsonl").read_bytes() == b"a\nd\n"
    assert await store.pop_messages("s", 5) == ["a", "d"]
    assert await store.pop_messages("s") == []


async def test_popping_below_a_fork_point_changes_no_other_session(
    store: FileStore, root: Path
) -> None:
    await store.create_session("p")
    await store.append_messages("p", ["0", "1", "2", "3"])
    await store.fork_session("p", "f", at=3)
    await store.fork_session("p", "g", at=3)
    await store.append_messages("f", ["f3"])
    assert await store.pop_messages("f", 2) == ["2", "f3"]
    assert _meta(root, "f")["base"] == "p"  # still sharing what it kept
    assert await store.read_messages("f") == ["0", "1"]
    assert await store.read_messages("g") == ["0", "1", "2"]
    assert await store.read_messages("p") == ["0", "1", "2", "3"]
    assert await store.pop_messages("f", 2) == ["0", "1"]
    assert _meta(root, "f")["base"] is None
    assert _meta(root, "p")["forks"] == ["g"]
    # The parent popping below the siblings' point gives them their copy first.
    assert await store.pop_messages("p", 3) == ["1", "2", "3"]
    assert await store.read_messages("g") == ["0", "1", "2"]
    assert _meta(root, "g")["base"] is None
    assert await store.append_messages("p", ["x"]) == 2
    assert await store.read_messages("g") == ["0", "1", "2"]


@pytest.mark.parametrize("last", [None, 3])
async def test_a_reader_overtaken_by_a_pop_and_an_append_reads_again(
    store: FileStore, monkeypatch: pytest.MonkeyPatch, last: int | None
) -> None:
    await store.create_session("base")
    await store.append_messages("base", ["b0", "b1"])
    await store.fork_session("base", "s")
    await store.append_messages("s", ["k2", "k3", "k4"])
    after = ["b0", "b1", "k2", "a much longer message than the popped ones"]
    stale = threading.Event()
    edited = threading.Event()
    real_read_range = _session_log.read_range

    def paused_read_range(*args: Any) -> list[bytes]:
        if not stale.is_set():
            stale.set()  # the reader holds the metadata of before the edit
            assert edited.wait(10)
        return real_read_range(*args)

    monkeypatch.setattr(_session_ops, "read_range", paused_read_range)
    reader = asyncio.ensure_future(store.read_messages("s", last=last))
    assert await asyncio.to_thread(stale.wait, 10)
    # The pop lowers the committed end; the append then rewrites the bytes past it.
    assert await store.pop_messages("s", 2) == ["k3", "k4"]
    await store.append_messages("s", after[3:], expected_length=3)
    edited.set()
    assert await reader == (after if last is None else after[-last:])


async def test_tokens_are_kept_with_the_session_and_survive_a_restart(root: Path) -> None:
    url = f"file://{root}"
    async with unistore.connect(url) as store:
        await store.create_session("s")
        assert await store.append_messages("s", ["a"], token="req-1") == 1
        assert await store.append_messages("s", ["b"], token="req-2", expected_length=1) == 2
        await store.fork_session("s", "f")
    tokens = _meta(root, "s")["tokens"]
    assert tokens == {"req-1": 1, "req-2": 2}
    assert _meta(root, "f")["tokens"] == {}
    async with unistore.connect(url) as store:
        # The retry is recognised before the (now stale) length check.
        assert await store.append_messages("s", ["b"], token="req-2", expected_length=1) == 2
        assert await store.read_messages("s") == ["a", "b"]
        # A fork does not inherit its parent's tokens.
        assert await store.append_messages("f", ["b"], token="req-2") == 3
        with pytest.raises(SessionConflictError):
            await store.append_messages("s", ["c"], token="req-3", expected_length=1)
        assert "req-3" not in _meta(root, "s")["tokens"]  # type: ignore[operator]


async def test_only_the_latest_hundred_tokens_are_kept(store: FileStore, root: Path) -> None:
    await store.create_session("s")
    for n in range(105):
        await store.append_messages("s", [str(n)], token=f"t{n}")
    tokens = _meta(root, "s")["tokens"]
    assert isinstance(tokens, dict)
    assert list(tokens) == [f"t{n}" for n in range(5, 105)]
    assert await store.append_messages("s", ["again"], token="t104") == 105
    assert await store.append_messages("s", ["again"], token="t0") == 106
