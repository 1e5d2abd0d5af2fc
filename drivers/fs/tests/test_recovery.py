"""What a crash leaves behind is ignored by readers and repaired by the next writer."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from unistore import CorruptionError
from unistore.protocols import SlotKind
from unistore_fs import FileStore
from unistore_fs._records import SlotRecord, encode_record


def _append_bytes(path: Path, data: bytes) -> None:
    with path.open("ab") as fh:
        fh.write(data)


def _read_bytes(path: Path) -> bytes:
    return path.read_bytes()


def _write_bytes(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def _rename(source: Path, target: Path) -> None:
    source.rename(target)


def _listdir(path: Path) -> list[str]:
    return sorted(os.listdir(path))


@pytest.mark.parametrize("tail", [b'"torn', b'"uncommitted"\n', b'"a"\n"b'])
async def test_a_torn_log_tail_is_ignored_then_repaired(
    store: FileStore, root: Path, tail: bytes
) -> None:
    await store.create_session("s")
    await store.append_messages("s", ['"one"', '"two"'], expected_length=0)
    log = root / "sessions" / "s" / "messages.jsonl"
    _append_bytes(log, tail)
    assert await store.read_messages("s") == ['"one"', '"two"']
    assert await store.read_messages("s", last=1) == ['"two"']
    await store.append_messages("s", ['"three"'], expected_length=2)
    assert await store.read_messages("s") == ['"one"', '"two"', '"three"']
    assert _read_bytes(log) == b'"one"\n"two"\n"three"\n'


def _slot_bytes(ns: str, slot: str, value: bytes) -> bytes:
    record = SlotRecord(SlotKind.SCALAR, time.time() + 60, os.urandom(8).hex(), value=value)
    return encode_record(ns, slot, record)


@pytest.mark.parametrize("already_renamed", [0, 1, 2])
async def test_an_interrupted_multi_slot_commit_is_finished(
    store: FileStore, root: Path, already_renamed: int
) -> None:
    await store.set("app", "a", b"old", ttl=60)
    await store.set("app", "b", b"old", ttl=60)
    await store.set("app", "c", b"doomed", ttl=60)
    folder = root / "ns" / "app"
    entries: list[list[str | None]] = []
    for slot in ("a", "b"):
        temp = f".tmp-{slot}{os.urandom(4).hex()}"
        _write_bytes(folder / temp, _slot_bytes("app", slot, b"new"))
        entries.append([temp, f"{slot}.json"])
    entries.append([None, "c.json"])
    for source, target in entries[:already_renamed]:
        assert source is not None
        assert target is not None
        _rename(folder / source, folder / target)
    _write_bytes(folder / ".journal", json.dumps(entries).encode())
    # A reader finishes the commit before reading: never half of it.
    assert await store.get("app", "a") == b"new"
    assert await store.get("app", "b") == b"new"
    assert await store.get("app", "c") is None
    assert ".journal" not in _listdir(folder)


async def test_a_corrupt_journal_is_reported(store: FileStore, root: Path) -> None:
    await store.set("app", "a", b"old", ttl=60)
    _write_bytes(root / "ns" / "app" / ".journal", b'[["../../escape", "x.json"]]')
    with pytest.raises(CorruptionError):
        await store.set("app", "a", b"new", ttl=60)


async def test_a_torn_index_line_is_skipped_then_repaired(store: FileStore, root: Path) -> None:
    await store.create_session("one")
    index = root / "session-index" / "updates.jsonl"
    _append_bytes(index, b'{"t": 1, "id": "to')
    assert [r.id for r in (await store.list_sessions()).items] == ["one"]
    await store.create_session("two")
    assert [r.id for r in (await store.list_sessions()).items] == ["two", "one"]
    assert _read_bytes(index).endswith(b"\n")


async def test_an_index_line_whose_metadata_never_landed_is_ignored(
    store: FileStore, root: Path
) -> None:
    first = await store.create_session("one")
    await store.create_session("two")
    # As if a write of "one" crashed between its index line and its metadata.
    index = root / "session-index" / "updates.jsonl"
    _append_bytes(index, json.dumps({"t": 2**52, "id": "one"}).encode() + b"\n")
    page = await store.list_sessions()
    assert [r.id for r in page.items] == ["two", "one"]
    assert page.items[1].updated_at == first.updated_at


async def test_a_session_folder_without_metadata_does_not_exist(
    store: FileStore, root: Path
) -> None:
    await store.create_session("warm-up")
    half = root / "sessions" / "half"
    half.mkdir()
    _write_bytes(half / "messages.jsonl", b'"left over"\n')
    assert await store.get_session("half") is None
    assert not await store.delete_session("warm-up-missing")
    await store.create_session("half")
    assert await store.read_messages("half") == []
    assert _listdir(half) == [".lock", "meta.json"]


async def test_stray_temporaries_and_old_logs_are_tidied(store: FileStore, root: Path) -> None:
    await store.set("app", "a", b"v", ttl=60)
    _write_bytes(root / "ns" / "app" / ".tmp-deadbeef", b"half a value")
    await store.create_session("s")
    await store.append_messages("s", ['"a"', '"b"'], expected_length=0)
    session = root / "sessions" / "s"
    _write_bytes(session / ".tmp-cafe", b"half a meta")
    _write_bytes(session / "messages.7.jsonl", b"an abandoned generation\n")
    await store.replace_messages("s", 1, ['"c"'], expected_length=2)
    assert _listdir(session) == [".lock", "messages.1.jsonl", "meta.json"]
    assert await store.read_messages("s") == ['"a"', '"c"']
    await store.touch("app", ttl=60)
    await store.sweep()
    assert ".tmp-deadbeef" not in _listdir(root / "ns" / "app")


async def test_purge_removes_even_unreadable_slot_files(store: FileStore, root: Path) -> None:
    from unistore import CorruptionError

    await store.set("app", "good", b"v", ttl=60)
    _write_bytes(root / "ns" / "app" / "bad.json", b"{not json")
    with pytest.raises(CorruptionError):
        await store.get("app", "bad")
    with pytest.raises(CorruptionError):
        await store.slots("app")
    assert await store.purge("app") == 1
    assert await store.slots("app") == []


async def test_a_log_that_is_not_utf8_is_reported_as_corruption(
    store: FileStore, root: Path
) -> None:
    await store.create_session("s")
    await store.append_messages("s", ['"ab"'], expected_length=0)
    _write_bytes(root / "sessions" / "s" / "messages.jsonl", b'"\xff\xfe"\n')
    with pytest.raises(CorruptionError):
        await store.read_messages("s")


@pytest.mark.parametrize(
    ("field", "value"),
    [("base", 5), ("forks", [1]), ("log", "messages\x00.jsonl"), ("label", ["x"])],
)
async def test_impossible_session_metadata_is_reported_as_corruption(
    store: FileStore, root: Path, field: str, value: object
) -> None:
    await store.create_session("s")
    meta = root / "sessions" / "s" / "meta.json"
    doc = json.loads(_read_bytes(meta))
    doc[field] = value
    _write_bytes(meta, json.dumps(doc).encode())
    with pytest.raises(CorruptionError):
        await store.read_messages("s")
