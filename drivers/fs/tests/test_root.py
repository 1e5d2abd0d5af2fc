"""URLs, options, the store folder and its layout, destroy()."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import unistore
from unistore import InvalidOptionError, InvalidURLError, StoreClosedError, StoreUnavailableError
from unistore_fs import FileStore


def _exists(path: Path) -> bool:
    return path.exists()


def _mkdir(path: Path) -> None:
    path.mkdir()


async def test_absolute_url_creates_the_folder_on_first_use(root: Path) -> None:
    store = unistore.connect(f"file://{root}")
    assert isinstance(store, FileStore)
    assert not _exists(root)  # opening does no I/O
    async with store:
        await store.set("app:1", "greeting", b"hi", ttl=60)
    assert (root / "VERSION").read_text().startswith("unistore-fs")
    assert (root / "ns" / "app%3a1" / "greeting.json").is_file()
    assert store.path == str(root)
    assert store.durability == "fsync"


@pytest.mark.parametrize("url", ["file:data/store", "file://./data/store", "fs:data/store"])
async def test_relative_urls_resolve_against_the_working_directory(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with unistore.connect(url) as store:
        assert isinstance(store, FileStore)
        await store.set("n", "s", b"v", ttl=60)
        monkeypatch.chdir("/")  # the root was fixed when the store was opened
        assert await store.get("n", "s") == b"v"
    assert (tmp_path / "data" / "store" / "VERSION").is_file()


async def test_a_root_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "plain-file"
    target.write_text("not a folder")
    async with unistore.connect(f"file://{target}") as store:
        with pytest.raises(StoreUnavailableError, match="not a directory"):
            await store.get("n", "s")
    assert target.read_text() == "not a folder"


async def test_a_root_below_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("x")
    async with unistore.connect(f"file://{tmp_path}/plain-file/store") as store:
        with pytest.raises(StoreUnavailableError, match="cannot"):
            await store.set("n", "s", b"v", ttl=60)


@pytest.fixture
def unwritable(tmp_path: Path) -> Iterator[Path]:
    """A folder this process cannot write to (chmod, or chattr +i when running as root)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o500)
        yield folder
        folder.chmod(0o700)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)], check=False).returncode:
        pytest.skip("running as root without chattr +i: cannot make a folder unwritable")
    yield folder
    subprocess.run([chattr, "-i", str(folder)], check=True)


async def test_an_unwritable_root_is_refused(unwritable: Path) -> None:
    async with unistore.connect(f"file://{unwritable}") as store:
        with pytest.raises(StoreUnavailableError, match="not writable"):
            await store.get("n", "s")


async def test_an_unknown_layout_version_is_refused(root: Path) -> None:
    _mkdir(root)
    (root / "VERSION").write_text("something else\n")
    async with unistore.connect(f"file://{root}") as store:
        with pytest.raises(StoreUnavailableError, match="unsupported layout"):
            await store.get("n", "s")


def test_file_urls_with_a_host_are_refused() -> None:
    with pytest.raises(InvalidURLError, match="only local paths"):
        unistore.connect("file://server/share")


@pytest.mark.parametrize(
    ("query", "attribute", "expected"),
    [
        ("durability=flush", "durability", "flush"),
        ("lock_timeout=2.5", "_lock_timeout", 2.5),
        ("sweep_every=0", "_sweep_every", 0),
        ("sweep_batch=9", "_sweep_batch", 9),
    ],
)
def test_options_from_the_query(root: Path, query: str, attribute: str, expected: object) -> None:
    store = unistore.connect(f"file://{root}?{query}")
    assert getattr(store, attribute) == expected


@pytest.mark.parametrize(
    "options",
    [
        {"durability": "sometimes"},
        {"lock_timeout": 0},
        {"lock_timeout": "soon"},
        {"sweep_every": -1},
        {"sweep_batch": 0},
        {"sweep_batch": 1.5},
        {"colour": "blue"},
    ],
)
def test_bad_options_are_refused(root: Path, options: dict[str, object]) -> None:
    with pytest.raises(InvalidOptionError):
        unistore.connect(f"file://{root}", **options)


async def test_closed_store_refuses_operations(root: Path) -> None:
    store = unistore.connect(f"file://{root}")
    await store.aclose()
    await store.aclose()
    assert isinstance(store, FileStore)
    with pytest.raises(StoreClosedError):
        await store.get("n", "s")


async def test_destroy_removes_only_what_the_store_made(root: Path) -> None:
    _mkdir(root)
    (root / "notes.txt").write_text("keep me")
    async with unistore.connect(f"file://{root}") as store:
        assert isinstance(store, FileStore)
        await store.set("n", "s", b"v", ttl=60)
        await store.create_session("s1")
        await store.destroy()
        assert sorted(os.listdir(root)) == ["notes.txt"]
        # Still usable afterwards, on a fresh layout.
        assert await store.get("n", "s") is None
        assert await store.get_session("s1") is None
        await store.set("n", "s", b"again", ttl=60)
        await store.destroy()
    (root / "notes.txt").unlink()
    async with unistore.connect(f"file://{root}") as store:
        assert isinstance(store, FileStore)
        await store.set("n", "s", b"v", ttl=60)
        await store.destroy()
    assert not _exists(root)


async def test_layout_is_browsable(store: FileStore, root: Path) -> None:
    await store.hset("shop:Cart-7", "Items", {"apple": b"3"}, ttl=60)
    await store.create_session("Chat-1", label="hello")
    await store.append_messages("Chat-1", ['{"role": "user"}'], expected_length=0)
    slot = root / "ns" / "shop%3a+cart-7" / "+items.json"
    assert '"slot": "Items"' in slot.read_text()
    session = root / "sessions" / "+chat-1"
    assert '"label": "hello"' in (session / "meta.json").read_text()
    assert (session / "messages.jsonl").read_text() == '{"role": "user"}\n'
    assert "Chat-1" in (root / "session-index" / "updates.jsonl").read_text()
