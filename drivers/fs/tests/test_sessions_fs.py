"""Sessions on files: listing index, fork chains, lock-free reads during edits."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from unistore.protocols import SessionRecord
from unistore_fs import FileStore


def _meta(root: Path, folder: str) -> dict[str, object]:
    data = json.loads((root / "sessions" / folder / "meta.json").read_text())
    assert isinstance(data, dict)
    return data


def _index_lines(root: Path) -> int:
    return len((root / "session-index" / "updates.jsonl").read_bytes().splitlines())


async def _walk(store: FileStore, limit: int) -> list[SessionRecord]:
    out: list[SessionRecord] = []
    cursor = None
    while True:
        page = await store.list_sessions(limit=limit, cursor=cursor)
        assert len(page.items) <= limit
        out.extend(page.items)
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


async def test_pages_cover_every_session_once_newest_first(
    store: FileStore, monkeypatch: pytest.MonkeyPatch, root: Path
) -> None:
    monkeypatch.setattr("unistore_fs._session_index._MIN_GROWTH", 2048)
    ids = [f"s{n:03d}" for n in range(120)]
    for sid in ids:
        await store.create_session(sid)
    for sid in ids[::3]:  # move a third of them to the top, growing the index
        await store.update_session(sid, label="touched")
    await store.delete_session("s001")
    listed = await _walk(store, limit=7)
    expected = [*reversed(ids[::3]), *reversed([s for s in ids if s not in ids[::3]])]
    expected.remove("s001")
    assert [r.id for r in listed] == expected
    keys = [(r.updated_at, r.id) for r in listed]
    assert keys == sorted(keys, reverse=True)
    # Compaction kept one line per live session (plus what was written since).
    assert _index_lines(root) < 2 * len(ids)


async def test_fork_chains_survive_deleting_and_editing_ancestors(
    store: FileStore, root: Path
) -> None:
    await store.create_session("a")
    await store.append_messages("a", ['"a0"', '"a1"', '"a2"'], expected_length=0)
    await store.fork_session("a", "b", at=2)
    await store.append_messages("b", ['"b2"', '"b3"'], expected_length=2)
    await store.fork_session("b", "c")
    await store.append_messages("c", ['"c4"'], expected_length=4)
    await store.fork_session("c", "d", at=3)
    expected = {
        "a": ['"a0"', '"a1"', '"a2"'],
        "b": ['"a0"', '"a1"', '"b2"', '"b3"'],
        "c": ['"a0"', '"a1"', '"b2"', '"b3"', '"c4"'],
        "d": ['"a0"', '"a1"', '"b2"'],
    }
    for sid, messages in expected.items():
        assert await store.read_messages(sid) == messages
        assert await store.read_messages(sid, last=2) == messages[-2:]
    # Forks are pointers: nothing was copied.
    assert (root / "sessions" / "d").is_dir()
    assert _meta(root, "d")["base"] == "c"
    assert not (root / "sessions" / "d" / "messages.jsonl").exists()
    await store.replace_messages("a", 1, ['"A1"'], expected_length=3)
    assert await store.delete_session("b")
    await store.replace_messages("c", 1, ['"C1"'], expected_length=5)
    expected["a"] = ['"a0"', '"A1"']
    expected["c"] = ['"a0"', '"C1"']
    for sid, messages in expected.items():
        if sid != "b":
            assert await store.read_messages(sid) == messages
    assert _meta(root, "d")["base"] is None
    assert _meta(root, "a")["forks"] == []


async def test_replacing_into_the_base_keeps_the_pointer(store: FileStore, root: Path) -> None:
    await store.create_session("p")
    await store.append_messages("p", ['"0"', '"1"', '"2"', '"3"'], expected_length=0)
    await store.fork_session("p", "f")
    await store.replace_messages("f", 2, ['"x"'], expected_length=4)
    assert await store.read_messages("f") == ['"0"', '"1"', '"x"']
    assert _meta(root, "f")["base"] == "p"
    await store.replace_messages("f", 0, ['"y"'], expected_length=3)
    assert await store.read_messages("f") == ['"y"']
    assert _meta(root, "f")["base"] is None
    assert _meta(root, "p")["forks"] == []
    assert await store.read_messages("p") == ['"0"', '"1"', '"2"', '"3"']


async def test_lock_free_reads_always_see_a_whole_state(store: FileStore) -> None:
    await store.create_session("base")
    await store.append_messages("base", [f'"{n}"' for n in range(50)], expected_length=0)
    await store.fork_session("base", "s")
    valid = {tuple(f'"{n}"' for n in range(50))}
    stop = asyncio.Event()

    async def editor() -> None:
        length = 50
        for round_ in range(25):
            state = [f'"{n}"' for n in range(20)] + [f'"r{round_}-{n}"' for n in range(round_)]
            valid.add(tuple(state))
            await store.replace_messages("s", 20, state[20:], expected_length=length)
            length = len(state)
        await store.delete_session("base")
        stop.set()

    async def reader() -> int:
        reads = 0
        while not stop.is_set():
            assert tuple(await store.read_messages("s")) in valid
            reads += 1
        return reads

    results = await asyncio.gather(editor(), reader(), reader())
    assert results[1] + results[2] > 0
    assert tuple(await store.read_messages("s")) in valid


async def test_appends_write_only_the_new_lines(store: FileStore, root: Path) -> None:
    await store.create_session("long")
    for n in range(100):
        await store.append_messages("long", [f'"{n}"'], expected_length=n)
    assert await store.read_messages("long", last=3) == ['"97"', '"98"', '"99"']
    log = (root / "sessions" / "long" / "messages.jsonl").read_bytes()
    assert log == b"".join(f'"{n}"\n'.encode() for n in range(100))
    assert _meta(root, "long")["log_size"] == len(log)
