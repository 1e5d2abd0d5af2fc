"""Batches and prefix listings on files: one locked pass per namespace, all or none."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path

import pytest

import unistore
from unistore import CorruptionError, StoreTimeoutError
from unistore_fs import FileStore, _fsio
from unistore_fs._locks import DirLock, try_lock_dir
from unistore_fs._records import slot_file


class _Crash(BaseException):
    """Stands for the process dying at that point (nothing after it runs)."""


def _entries(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


async def test_prefix_listing_never_opens_files_the_name_rules_out(
    store: FileStore, root: Path
) -> None:
    long_a, long_b = "p" * 200 + "-a", "q" * 200 + "-b"
    for slot in ("apple", "apricot", "banana", long_a, long_b):
        await store.set("app", slot, b"v", ttl=60)
    folder = root / "ns" / "app"
    # Unreadable files: listing them would raise, so only a listing that reads them fails.
    (folder / "bad.json").write_bytes(b"{not json")
    (folder / slot_file("q" * 200 + "-bad")).write_bytes(b"{not json")
    assert await store.slots("app", "ap") == ["apple", "apricot"]
    assert await store.slots("app", "p" * 150) == [long_a]
    assert await store.slots("app", "zebra") == []
    with pytest.raises(CorruptionError):
        await store.slots("app", "b")
    with pytest.raises(CorruptionError):
        await store.slots("app", "q" * 150)


def _plant_commit(folder: Path, ns: str, slots: dict[str, bytes | None]) -> None:
    """Leave a commit journal as a crash after writing it would (nothing renamed yet)."""
    entries: list[list[str | None]] = []
    for slot, value in slots.items():
        temp = None
        if value is not None:
            temp = f".tmp-{os.urandom(8).hex()}"
            doc: dict[str, object] = {"ns": ns, "slot": slot, "kind": "scalar"}
            doc |= {"version": os.urandom(8).hex(), "expires_at": None}
            doc["value"] = base64.b64encode(value).decode()
            (folder / temp).write_text(json.dumps(doc))
        entries.append([temp, slot_file(slot)])
    (folder / ".journal").write_text(json.dumps(entries))


async def test_get_many_never_sees_half_a_commit(store: FileStore, root: Path) -> None:
    await store.set_many("app", {"a": b"old", "b": b"old", "c": b"old"}, ttl=60)
    _plant_commit(root / "ns" / "app", "app", {"a": b"new", "b": b"new", "c": None})
    assert await store.get_many("app", ["a", "b", "c", "a"]) == [b"new", b"new", None, b"new"]
    assert ".journal" not in _entries(root / "ns" / "app")


async def test_get_many_reads_under_the_namespace_lock(root: Path) -> None:
    async with unistore.connect(f"file://{root}", lock_timeout=0.2) as store:
        await store.set("app", "a", b"v", ttl=60)
        parent = os.open(root / "ns", os.O_RDONLY)
        try:
            held = try_lock_dir(parent, "app", create=False)
        finally:
            os.close(parent)
        assert isinstance(held, DirLock)
        try:
            # A writer holds the namespace: a batch read waits for it rather than mixing.
            with pytest.raises(StoreTimeoutError, match="lock_timeout"):
                await store.get_many("app", ["a"])
        finally:
            held.release()
        assert await store.get_many("app", ["a"]) == [b"v"]


@pytest.mark.parametrize("crash_at", ["before the journal", "after the journal"])
async def test_a_crash_in_set_many_leaves_all_or_nothing(
    root: Path, monkeypatch: pytest.MonkeyPatch, crash_at: str
) -> None:
    url = f"file://{root}"
    async with unistore.connect(url) as store:
        await store.set_many("app", {"a": b"old", "b": b"old"}, ttl=60)
        await store.set("app", "c", b"old", ttl=60)
    with monkeypatch.context() as patch:
        import unistore_fs._nsdir as nsdir

        real_write_atomic = _fsio.write_atomic

        def write_atomic(dir_fd: int, name: str, data: bytes, *, sync: bool) -> None:
            if name == nsdir.JOURNAL and crash_at == "before the journal":
                raise _Crash
            real_write_atomic(dir_fd, name, data, sync=sync)

        def apply(*args: object, **kwargs: object) -> None:
            raise _Crash

        patch.setattr(nsdir, "write_atomic", write_atomic)
        patch.setattr(nsdir, "_apply", apply)
        async with unistore.connect(url) as store:
            with pytest.raises(_Crash):
                await store.set_many("app", {"a": b"new", "b": b"new", "c": b"new"}, ttl=None)
    expected = b"new" if crash_at == "after the journal" else b"old"
    async with unistore.connect(url) as store:
        assert await store.get_many("app", ["a", "b", "c"]) == [expected] * 3
        assert await store.delete_many("app", ["a", "b", "missing"]) == 2
        assert await store.get_many("app", ["a", "b", "c"]) == [None, None, expected]
    assert not [name for name in _entries(root / "ns" / "app") if name.startswith(".journal")]


async def test_delete_many_counts_live_slots_and_removes_expired_files(
    store: FileStore, root: Path
) -> None:
    await store.set("app", "live", b"v", ttl=60)
    await store.hset("app", "hash", {"f": b"v"}, ttl=None)
    await store.set("app", "stale", b"v", ttl=0.01)
    await store.set("app", "other", b"v", ttl=60)
    await asyncio.sleep(0.03)
    assert await store.delete_many("app", ["live", "hash", "stale", "missing"]) == 2
    assert _entries(root / "ns" / "app") == [".lock", "other.json"]
