"""Session scopes on files: each scope is one safely named folder, never another's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from unistore import CorruptionError, SessionNotFoundError
from unistore_fs import FileStore
from unistore_fs._names import scope_dir_name

HOSTILE_SCOPES = (
    "*",
    "%",
    "%2a",
    "a/b",
    "a%2fb",
    "..",
    ".",
    "../outside",
    "../../outside",
    "/",
    "/tmp/outside",
    "\\",
    "..\\..\\outside",
    "C:\\Windows",
    ":",
    "{}",
    "~",
    "x~0",
    ".tmp-scope",
    ".lock",
    "SCOPE",
    "sessions",
    "session-index",
    "ns",
    "con",
    "Scope",
    "scope",
    "ünïcødé",
    "e\u0301",
    "\u00e9",
    "\U0001f600",
    "\ud800",
    " ",
    "\n",
    "k" * 1024,
    "k" * 1023 + "l",
    "\U0001f600" * 1024,
)


def _outside_snapshot(top: Path) -> dict[str, float]:
    return {
        str(path): path.lstat().st_mtime
        for path in top.rglob("*")
        if not path.is_relative_to(top / "store")
    }


def _names_under(top: Path) -> list[str]:
    return [part for path in top.rglob("*") for part in path.relative_to(top).parts]


async def test_hostile_scopes_stay_inside_the_root_and_apart(
    store: FileStore, root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    before = _outside_snapshot(tmp_path)
    await store.create_session("s", label="default")
    for index, scope in enumerate(HOSTILE_SCOPES):
        await store.create_session("s", scope=scope, label=str(index))
        await store.append_messages("s", [f"m{index}"], scope=scope)
        await store.fork_session("s", "f", scope=scope)
    for index, scope in enumerate(HOSTILE_SCOPES):
        record = await store.get_session("s", scope=scope)
        assert record is not None
        assert (record.label, record.scope) == (str(index), scope)
        assert await store.read_messages("f", scope=scope) == [f"m{index}"]
        listed = (await store.list_sessions(scope=scope)).items
        assert sorted((r.id, r.label) for r in listed) == [("f", None), ("s", str(index))]
    default = await store.get_session("s")
    assert default is not None
    assert default.label == "default"
    assert {r.id for r in (await store.list_sessions()).items} == {"s"}
    assert await store.read_messages("s") == []
    scopes = [scope async for scope in store.iter_scopes()]
    assert sorted(scopes, key=repr) == sorted([None, *HOSTILE_SCOPES], key=repr)
    assert _outside_snapshot(tmp_path) == before
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    # One folder per scope, each a short, plain, printable name.
    assert len(list((root / "scopes").iterdir())) == len(HOSTILE_SCOPES)
    for name in _names_under(root):
        assert len(name.encode()) <= 128
        assert name not in (".", "..")
        assert "\\" not in name
        assert name.isascii()
        assert name.isprintable()


async def test_deleting_in_one_scope_leaves_the_others(store: FileStore) -> None:
    for scope in (None, "a", "b"):
        await store.create_session("s", scope=scope)
        await store.append_messages("s", [str(scope)], scope=scope)
    assert not await store.delete_session("s", scope="c")
    assert await store.delete_session("s", scope="a")
    with pytest.raises(SessionNotFoundError):
        await store.read_messages("s", scope="a")
    assert await store.read_messages("s") == ["None"]
    assert await store.read_messages("s", scope="b") == ["b"]


async def test_unknown_scopes_create_nothing_on_disk(store: FileStore, root: Path) -> None:
    await store.create_session("warm-up")
    assert await store.get_session("s", scope="nowhere") is None
    assert (await store.list_sessions(scope="nowhere")).items == []
    assert not await store.delete_session("s", scope="nowhere")
    with pytest.raises(SessionNotFoundError):
        await store.append_messages("s", ["m"], scope="nowhere")
    with pytest.raises(SessionNotFoundError):
        await store.fork_session("s", "t", scope="nowhere")
    assert list((root / "scopes").iterdir()) == []


async def test_long_scopes_are_hashed_and_recorded_in_full(store: FileStore, root: Path) -> None:
    first, second = "k" * 1024, "k" * 1023 + "l"
    await store.create_session("s", scope=first, label="first")
    await store.create_session("s", scope=second, label="second")
    names = {scope_dir_name(first), scope_dir_name(second)}
    assert len(names) == 2
    assert {p.name for p in (root / "scopes").iterdir()} == names
    for scope in (first, second):
        recorded = json.loads((root / "scopes" / scope_dir_name(scope) / "SCOPE").read_text())
        assert recorded == {"scope": scope}
        # The whole SHA-256, not a shortened one: two scopes must never share a folder.
        assert len(scope_dir_name(scope).rpartition("~")[2]) == 64


async def test_a_folder_recording_another_scope_is_refused(store: FileStore, root: Path) -> None:
    # As if two scopes' folder names collided: the recorded scope is checked on every use.
    await store.create_session("s", scope="victim", label="victim's")
    folder = root / "scopes" / scope_dir_name("victim")
    folder.rename(root / "scopes" / scope_dir_name("intruder"))
    with pytest.raises(CorruptionError, match="another scope"):
        await store.get_session("s", scope="intruder")
    with pytest.raises(CorruptionError, match="another scope"):
        await store.create_session("t", scope="intruder")
    assert await store.get_session("s", scope="victim") is None
    assert [scope async for scope in store.iter_scopes()] == []


async def test_a_symlinked_scope_folder_is_never_followed(
    store: FileStore, root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    (outside / "sessions").mkdir(parents=True)
    (outside / "session-index").mkdir()
    (outside / "SCOPE").write_text(json.dumps({"scope": "victim"}))
    await store.create_session("warm-up")
    (root / "scopes" / scope_dir_name("victim")).symlink_to(outside)
    with pytest.raises(CorruptionError, match="symbolic link"):
        await store.create_session("s", scope="victim")
    assert sorted(os.listdir(outside / "sessions")) == []


async def test_half_built_scope_folders_are_ignored(store: FileStore, root: Path) -> None:
    # A crash while a scope folder was built leaves a temporary folder, never a scope.
    (root / "scopes").mkdir(parents=True, exist_ok=True)
    (root / "scopes" / ".tmp-0123456789abcdef" / "sessions").mkdir(parents=True)
    await store.create_session("s", scope="real")
    assert [scope async for scope in store.iter_scopes()] == ["real"]
    assert await store.sweep() == 0
