"""Ids that look like rich markup are printed as they are, never interpreted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from unistore_test_support import make_store_url, ok, with_store


@pytest.mark.parametrize("namespace", ["[/]", "[bold]x", "a[/red]b"])
def test_ns_slots_shows_markup_like_namespaces_verbatim(tmp_path: Path, namespace: str) -> None:
    url = make_store_url("memory", tmp_path, shared=True)
    assert f"namespace {namespace!r} has no live slots" in ok("ns", "slots", url, namespace).stdout

    async def seed(store: Any) -> None:
        await store.set(namespace, "note", b"v", ttl=600)

    with_store(url, seed)
    assert f"namespace {namespace}" in ok("ns", "slots", url, namespace).stdout
