"""Hostile ids and planted links: nothing is read or written outside the store folder."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path

import pytest

import unistore
from unistore import CorruptionError
from unistore.testing import HOSTILE_IDS
from unistore_fs import FileStore

TRAVERSAL = (
    "..",
    "../outside",
    "../../outside",
    "/",
    "/tmp/outside",
    "/etc/passwd",
    "./.",
    "a/../../b",
    "..\\..\\outside",
    "C:\\Windows",
    "\x00../x",
    ".lock",
    ".journal",
    "meta.json",
    "messages.jsonl",
    "VERSION",
)


def _snapshot(top: Path) -> dict[str, float]:
    return {
        str(path): path.lstat().st_mtime
        for path in top.rglob("*")
        if not path.is_relative_to(top / "store")
    }


def _names_under(top: Path) -> list[str]:
    return [part for path in top.rglob("*") for part in path.relative_to(top).parts]


def _prepare_outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    return outside


@pytest.mark.parametrize("hostile", TRAVERSAL, ids=range(len(TRAVERSAL)))
async def test_traversal_ids_stay_inside_the_root(
    store: FileStore, tmp_path: Path, hostile: str
) -> None:
    _prepare_outside(tmp_path)
    before = _snapshot(tmp_path)
    await store.set(hostile, hostile, b"v", ttl=60)
    await store.hset(hostile, "h", {hostile: b"f"}, ttl=60)
    await store.set("plain", hostile, b"w", ttl=60)
    assert await store.get(hostile, hostile) == b"v"
    assert await store.hgetall(hostile, "h") == {hostile: b"f"}
    assert await store.slots(hostile) == sorted([hostile, "h"])
    await store.create_session(hostile, label=hostile)
    await store.append_messages(hostile, ['"m"'], expected_length=0)
    await store.fork_session(hostile, hostile + "-fork")
    assert await store.read_messages(hostile + "-fork") == ['"m"']
    assert await store.delete_session(hostile)
    assert await store.read_messages(hostile + "-fork") == ['"m"']
    assert _snapshot(tmp_path) == before
    assert await store.purge(hostile) == 2
    assert await store.get("plain", hostile) == b"w"


async def test_hostile_ids_of_the_suite_map_to_short_safe_names(
    store: FileStore, root: Path
) -> None:
    for index, hostile in enumerate(HOSTILE_IDS):
        await store.set(hostile, hostile, str(index).encode(), ttl=60)
        await store.create_session(hostile)
    for index, hostile in enumerate(HOSTILE_IDS):
        assert await store.get(hostile, hostile) == str(index).encode()
        assert await store.slots(hostile) == [hostile]
    for name in _names_under(root):
        assert len(name.encode()) <= 128
        assert name not in (".", "..")
        assert "\\" not in name
        assert name.isascii()
        assert name.isprintable()


async def test_names_differing_only_by_case_never_share_a_file(
    store: FileStore, root: Path
) -> None:
    variants = ["user", "User", "USER", "uSeR"]
    for index, name in enumerate(variants):
        await store.set(name, name, str(index).encode(), ttl=60)
        await store.set("case", name, str(index).encode(), ttl=60)
        await store.create_session(name, label=name)
    for index, name in enumerate(variants):
        assert await store.get(name, name) == str(index).encode()
        assert await store.get("case", name) == str(index).encode()
        record = await store.get_session(name)
        assert record is not None
        assert record.label == name
    for folder in (root / "ns", root / "ns" / "case", root / "sessions"):
        if folder.is_dir():
            names = [entry.name.casefold() for entry in folder.iterdir()]
            assert len(names) == len(set(names))


async def test_very_long_ids_fit_in_file_names(store: FileStore, root: Path) -> None:
    long_ns = "ns-" + "\U0001f600" * 3000
    long_slot = "slot-" + "x" * 10_000
    long_session = "session-" + "/" * 10_000
    await store.set(long_ns, long_slot, b"v", ttl=60)
    await store.set(long_ns, long_slot + "y", b"w", ttl=60)
    await store.create_session(long_session)
    await store.fork_session(long_session, long_session + "z")
    assert await store.get(long_ns, long_slot) == b"v"
    assert await store.slots(long_ns) == [long_slot, long_slot + "y"]
    assert {r.id for r in (await store.list_sessions()).items} == {
        long_session,
        long_session + "z",
    }
    assert max(len(name.encode()) for name in _names_under(root)) <= 128


def _plant(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


async def test_symlinked_namespace_folder_is_never_followed(
    store: FileStore, root: Path, tmp_path: Path
) -> None:
    outside = _prepare_outside(tmp_path)
    await store.set("warm-up", "s", b"v", ttl=60)
    _plant(root / "ns" / "victim", outside)
    with pytest.raises(CorruptionError, match="symbolic link"):
        await store.get("victim", "secret")
    with pytest.raises(CorruptionError, match="symbolic link"):
        await store.set("victim", "secret", b"overwritten", ttl=60)
    with pytest.raises(CorruptionError, match="symbolic link"):
        await store.purge("victim")
    await store.sweep()
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "secret"


async def test_symlinked_slot_file_is_never_followed(
    store: FileStore, root: Path, tmp_path: Path
) -> None:
    outside = _prepare_outside(tmp_path)
    await store.set("app", "other", b"v", ttl=60)
    _plant(root / "ns" / "app" / "victim.json", outside / "secret.txt")
    with pytest.raises(CorruptionError):
        await store.get("app", "victim")
    with pytest.raises(CorruptionError):
        await store.hset("app", "victim", {"f": b"x"}, ttl=60)
    # A plain write replaces the link itself, never the file it points to.
    await store.set("app", "victim", b"mine", ttl=60)
    assert await store.get("app", "victim") == b"mine"
    assert await store.slots("app") == ["other", "victim"]
    assert (outside / "secret.txt").read_text() == "secret"


async def test_symlinked_lock_file_is_refused(store: FileStore, root: Path, tmp_path: Path) -> None:
    outside = _prepare_outside(tmp_path)
    await store.set("app", "s", b"v", ttl=60)
    (root / "ns" / "app" / ".lock").unlink()
    _plant(root / "ns" / "app" / ".lock", outside / "secret.txt")
    with pytest.raises(CorruptionError):
        await store.set("app", "s", b"w", ttl=60)
    assert (outside / "secret.txt").read_text() == "secret"


async def test_symlinked_session_parts_are_never_followed(
    store: FileStore, root: Path, tmp_path: Path
) -> None:
    outside = _prepare_outside(tmp_path)
    (outside / "meta.json").write_text("{}")
    _plant(root / "sessions" / "victim", outside)
    with pytest.raises(CorruptionError):
        await store.get_session("victim")
    with pytest.raises(CorruptionError):
        await store.create_session("victim")
    await store.create_session("s")
    await store.append_messages("s", ['"one"'], expected_length=0)
    log = root / "sessions" / "s" / "messages.jsonl"
    log.unlink()
    _plant(log, outside / "secret.txt")
    with pytest.raises(CorruptionError):
        await store.append_messages("s", ['"two"'], expected_length=1)
    with pytest.raises(CorruptionError):
        await store.read_messages("s")
    assert (outside / "secret.txt").read_text() == "secret"
    assert sorted(p.name for p in outside.iterdir()) == ["meta.json", "secret.txt"]


async def test_hard_linked_log_is_not_appended_to(
    store: FileStore, root: Path, tmp_path: Path
) -> None:
    outside = _prepare_outside(tmp_path)
    await store.create_session("s")
    await store.append_messages("s", ['"one"'], expected_length=0)
    log = root / "sessions" / "s" / "messages.jsonl"
    os.link(log, outside / "linked.jsonl")
    with pytest.raises(CorruptionError):
        await store.append_messages("s", ['"two"'], expected_length=1)
    assert (outside / "linked.jsonl").read_text() == '"one"\n'


async def test_a_fifo_planted_as_a_slot_does_not_hang(store: FileStore, root: Path) -> None:
    await store.set("app", "other", b"v", ttl=60)
    os.mkfifo(root / "ns" / "app" / "victim.json")
    with pytest.raises(CorruptionError):
        await store.get("app", "victim")
    assert await store.slots("app") == ["other"]


async def test_a_symlinked_layout_folder_is_refused(root: Path, tmp_path: Path) -> None:
    outside = _prepare_outside(tmp_path)
    _plant(root / "ns", outside)
    async with unistore.connect(f"file://{root}") as opened:
        with pytest.raises(CorruptionError):
            await opened.get("n", "s")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


async def test_a_fifo_planted_as_a_message_log_does_not_hang(store: FileStore, root: Path) -> None:
    await store.create_session("s")
    await store.append_messages("s", ['"one"'], expected_length=0)
    log = root / "sessions" / "s" / "messages.jsonl"
    log.unlink()
    os.mkfifo(log)
    append = asyncio.ensure_future(store.append_messages("s", ['"two"'], expected_length=1))
    done, _ = await asyncio.wait([append], timeout=5)
    if not done:
        # Give the blocked open() its peer so that the worker thread can finish.
        os.close(os.open(log, os.O_RDONLY | os.O_NONBLOCK))
        with contextlib.suppress(Exception):
            await append
        pytest.fail("appending to a planted FIFO blocked while holding the session lock")
    with pytest.raises(CorruptionError):
        append.result()


async def test_a_journal_naming_a_path_is_refused(
    store: FileStore, root: Path, tmp_path: Path
) -> None:
    outside = _prepare_outside(tmp_path)
    await store.set("app", "other", b"v", ttl=60)
    folder = root / "ns" / "app"
    (folder / ".tmp-x").mkdir()
    escape = ".tmp-x/../../../../outside/secret.txt"
    (folder / ".journal").write_text(json.dumps([[escape, "victim.json"]]))
    with pytest.raises(CorruptionError):
        await store.get("app", "victim")
    assert (outside / "secret.txt").read_text() == "secret"
    assert not (folder / "victim.json").exists()
