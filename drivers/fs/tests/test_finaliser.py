"""A file store dropped without aclose() closes its directories and says so."""

from __future__ import annotations

import asyncio
import gc
import os
import warnings
import weakref
from pathlib import Path

import pytest

import unistore
from unistore_fs import FileStore


def _identity(fd: int) -> tuple[int, int] | None:
    try:
        info = os.fstat(fd)
    except OSError:
        return None
    return info.st_dev, info.st_ino


async def _drop(held: list[FileStore], record: pytest.WarningsRecorder) -> None:
    # The last reference goes here (no cycle: that alone runs the finaliser),
    # and a collection catches anything a cycle would have kept. A worker
    # thread of asyncio.to_thread may still hold the bound method it just ran
    # for a moment after the await returned, so wait for that reference too;
    # then the finaliser runs in that thread, and its warning may come a moment
    # after the reference is gone: wait for the warning as well, so that it
    # cannot come after the test stopped recording.
    alive = weakref.ref(held[0])
    held.clear()
    for _ in range(500):
        gc.collect()
        if alive() is None and any(issubclass(w.category, ResourceWarning) for w in record):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the dropped store is still referenced, or its finaliser did not run")


async def test_a_dropped_store_closes_its_descriptors_and_warns(root: Path) -> None:
    store = unistore.connect(f"file://{root}")
    assert isinstance(store, FileStore)
    await store.set("n", "s", b"v", ttl=60)
    assert store._root is not None
    opened = {fd: _identity(fd) for fd in store._root.fds}
    assert len(opened) == 5  # the root, ns/, sessions/, session-index/, scopes/
    assert None not in opened.values()
    held = [store]
    del store
    with pytest.warns(ResourceWarning, match="unclosed store") as record:
        await _drop(held, record)
    # Closed: the number is free, or reused by something else than our folder.
    assert all(_identity(fd) != seen for fd, seen in opened.items())


async def test_a_closed_or_unused_store_does_not_warn(root: Path) -> None:
    used = unistore.connect(f"file://{root}")
    await used.set("n", "s", b"v", ttl=60)
    await used.aclose()
    unused = unistore.connect(f"file://{root}")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        del used, unused
        gc.collect()
    assert not [w for w in seen if issubclass(w.category, ResourceWarning)]


async def test_destroy_then_drop_closes_the_new_root_only(root: Path) -> None:
    store = unistore.connect(f"file://{root}")
    assert isinstance(store, FileStore)
    await store.set("n", "s", b"v", ttl=60)
    await store.destroy()
    await store.set("n", "s", b"w", ttl=60)
    assert store._root is not None
    opened = {fd: _identity(fd) for fd in store._root.fds}
    held = [store]
    del store
    with pytest.warns(ResourceWarning) as record:
        await _drop(held, record)
    assert all(_identity(fd) != seen for fd, seen in opened.items())
