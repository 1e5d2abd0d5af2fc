"""UnistoreStore against LangGraph's InMemoryStore: same scenario, same results."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore

import unistore
from unistore.errors import NotSupportedError, ValidationError
from unistore.integrations.langgraph import UnistoreStore

ITEMS: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
    (("users", "ada"), "prefs", {"theme": "dark", "size": 3, "tags": ["a", "b"]}),
    (("users", "ada"), "memo", {"text": "likes tea", "size": 10, "meta": {"lang": "en"}}),
    (("users", "bo"), "prefs", {"theme": "light", "size": 5}),
    (("users", "bo", "work"), "memo", {"text": "standup", "size": 7, "meta": {"lang": "fr"}}),
    (("docs",), "readme", {"title": "hi", "size": 1}),
    (("docs", "v2"), "readme", {"title": "hi again", "size": 2}),
    (("teams", "x", "users"), "prefs", {"theme": "dark", "size": 4}),
]

SEARCHES: list[dict[str, Any]] = [
    {"namespace_prefix": ("users",)},
    {"namespace_prefix": ("users", "ada")},
    {"namespace_prefix": ()},
    {"namespace_prefix": ("users",), "filter": {"theme": "dark"}},
    {"namespace_prefix": (), "filter": {"size": {"$gt": 3}}},
    {"namespace_prefix": (), "filter": {"size": {"$gte": 3, "$lt": 7}}},
    {"namespace_prefix": (), "filter": {"size": {"$ne": 5}}},
    {"namespace_prefix": (), "filter": {"meta": {"lang": "fr"}}},
    {"namespace_prefix": (), "filter": {"tags": ["a", "b"]}},
    {"namespace_prefix": (), "filter": {"theme": "dark", "size": 4}},
    {"namespace_prefix": ("nobody",)},
    {"namespace_prefix": ("user",)},  # a label prefix is not a namespace prefix
]

LISTINGS: list[dict[str, Any]] = [
    {},
    {"prefix": ("users",)},
    {"prefix": ("users", "*")},
    {"suffix": ("prefs",)},
    {"suffix": ("users",)},
    {"prefix": ("*", "x")},
    {"max_depth": 1},
    {"max_depth": 2},
    {"prefix": ("users",), "max_depth": 2},
    {"limit": 2},
    {"limit": 2, "offset": 2},
    {"offset": 5},
    {"prefix": ("users",), "suffix": ("work",)},
]


def _hits(items: list[Any]) -> list[tuple[tuple[str, ...], str, dict[str, Any]]]:
    return sorted((item.namespace, item.key, item.value) for item in items)


async def _scenario(store: Any) -> list[Any]:
    seen: list[Any] = []
    for namespace, key, value in ITEMS:
        await store.aput(namespace, key, value)
    # An update and a delete.
    await store.aput(("users", "bo"), "prefs", {"theme": "dark", "size": 6})
    await store.aput(("docs", "v2"), "gone", {"x": 1})
    await store.adelete(("docs", "v2"), "gone")
    for namespace, key, _value in ITEMS:
        item = await store.aget(namespace, key)
        seen.append((item.namespace, item.key, item.value))
    seen.append(await store.aget(("docs", "v2"), "gone"))
    for search in SEARCHES:
        options = {k: v for k, v in search.items() if k != "namespace_prefix"}
        seen.append(_hits(await store.asearch(search["namespace_prefix"], **options, limit=50)))
    # Paging: pages are disjoint, of the right sizes, and cover everything.
    pages = [await store.asearch((), limit=3, offset=offset) for offset in (0, 3, 6, 9)]
    seen.append([len(page) for page in pages])
    seen.append(_hits([item for page in pages for item in page]))
    for listing in LISTINGS:
        seen.append(await store.alist_namespaces(**listing))
    # The same reads and a write through one batch, sync and async.
    ops = [
        GetOp(("users", "ada"), "prefs"),
        SearchOp(("docs",), None, 10, 0),
        ListNamespacesOp((MatchCondition("prefix", ("users",)),), None, 10, 0),
        PutOp(("batch",), "k", {"v": 1}),
        GetOp(("batch",), "k"),  # a batch reads before its puts apply
    ]
    results = await store.abatch(ops)
    seen.append(
        [
            results[0].value,
            _hits(results[1]),
            results[2],
            results[3],
            results[4],
        ]
    )
    seen.append((await store.aget(("batch",), "k")).value)
    return seen


async def test_the_scenario_gives_what_the_in_memory_store_gives(store_url: str) -> None:
    expected = await _scenario(InMemoryStore())
    async with UnistoreStore(store_url) as store:
        assert await _scenario(store) == expected


def test_the_blocking_api_matches_too() -> None:
    reference, ours = InMemoryStore(), UnistoreStore("memory://")
    try:
        for store in (reference, ours):
            store.put(("a", "b"), "k", {"n": 1})
            store.put(("a",), "k", {"n": 2})
        for store in (reference, ours):
            assert store.get(("a", "b"), "k").value == {"n": 1}  # type: ignore[union-attr]
        assert _hits(ours.search(("a",))) == _hits(reference.search(("a",)))
        assert ours.list_namespaces() == reference.list_namespaces()
        assert ours.batch([GetOp(("a",), "k")])[0].value == {"n": 2}  # type: ignore[union-attr]
    finally:
        ours.close()


async def test_search_orders_by_last_update_and_keeps_created_at() -> None:
    async with UnistoreStore("memory://") as store:
        for key in ("a", "b", "c"):
            await store.aput(("ns",), key, {"k": key})
        created = (await store.aget(("ns",), "a")).created_at  # type: ignore[union-attr]
        await store.aput(("ns",), "a", {"k": "a2"})
        order = [item.key for item in await store.asearch(("ns",))]
        assert order == ["a", "c", "b"]
        item = await store.aget(("ns",), "a")
        assert item is not None
        assert item.created_at == created
        assert item.updated_at > created


HOSTILE_LABELS = [
    "*",
    "a:b",
    "a",
    "b",
    "a/b",
    "%",
    "%3A",
    "%2F",
    "{x}",
    "\\",
    "~",
    "\n",
    "é",
    "x" * 300,
]


async def test_hostile_labels_and_prefixes_never_collide(store_url: str) -> None:
    async with unistore.connect(store_url) as backing:
        store, other = UnistoreStore(backing), UnistoreStore(backing, prefix="langgraph.store:x")
        namespaces = [(label,) for label in HOSTILE_LABELS] + [
            ("a", "b"),
            ("a:b", "c"),
            ("a", "b:c"),
            ("a/b", "c"),
            ("a", "b/c"),
        ]
        for index, namespace in enumerate(namespaces):
            await store.aput(namespace, "k", {"i": index})
        await other.aput(("x",), "k", {"i": -1})
        for index, namespace in enumerate(namespaces):
            item = await store.aget(namespace, "k")
            assert item is not None
            assert item.value == {"i": index}
            assert item.namespace == namespace
        assert sorted(await store.alist_namespaces(limit=100)) == sorted(namespaces)
        under_a = await store.asearch(("a",))
        assert sorted(item.namespace for item in under_a) == sorted(
            [("a",), ("a", "b"), ("a", "b:c"), ("a", "b/c")]
        )
        assert [item.value for item in await store.asearch(("*",))] == [{"i": 0}]
        assert [item.value for item in await other.asearch(())] == [{"i": -1}]
        assert await other.aget(("a",), "k") is None


async def test_bad_input_raises_errors_that_name_the_problem() -> None:
    async with UnistoreStore("memory://") as store:
        for bad in [("a.b",), ("",), ("a\x00",)]:
            with pytest.raises(InvalidNamespaceError):
                await store.aput(bad, "k", {"v": 1})
            with pytest.raises(ValidationError):  # the same error is unistore's too
                await store.abatch([PutOp(bad, "k", {"v": 1})])
        with pytest.raises(ValidationError, match="root label"):
            await store.abatch([PutOp(("langgraph",), "k", {"v": 1})])
        with pytest.raises(ValidationError, match="JSON"):
            await store.aput(("a",), "k", {"v": object()})
        with pytest.raises(ValidationError, match="key"):
            await store.aput(("a",), "", {"v": 1})
        with pytest.raises(ValidationError, match="ttl"):
            await store.aput(("a",), "k", {"v": 1}, ttl=-1)
        with pytest.raises(ValidationError, match="unknown operation"):
            await store.abatch(["get"])  # type: ignore[list-item]
        # A rejected batch wrote nothing, not even its valid first put.
        with pytest.raises(ValidationError):
            await store.abatch([PutOp(("ok",), "k", {"v": 1}), PutOp(("a.b",), "k", {"v": 1})])
        assert await store.aget(("ok",), "k") is None
    with pytest.raises(NotSupportedError, match="vector index"):
        UnistoreStore("memory://", index={"dims": 3, "embed": "fake"})


async def test_ttl_is_in_minutes_and_reads_refresh_it() -> None:
    async with unistore.connect("memory://") as backing:
        store = UnistoreStore(backing, ttl={"default_ttl": 2.0})
        await store.aput(("t",), "default", {"v": 1})
        await store.aput(("t",), "own", {"v": 1}, ttl=1.0)
        await store.aput(("t",), "never", {"v": 1}, ttl=None)
        ns = "langgraph.store:t/"
        assert await backing.get_ttl(ns, "default") == pytest.approx(120, abs=2)
        assert await backing.get_ttl(ns, "own") == pytest.approx(60, abs=2)
        assert await backing.get_ttl(ns, "never") == math.inf
        await backing.expire(ns, "own", 5)
        await store.aget(("t",), "own", refresh_ttl=False)
        assert await backing.get_ttl(ns, "own") == pytest.approx(5, abs=2)
        await store.aget(("t",), "own")
        assert await backing.get_ttl(ns, "own") == pytest.approx(60, abs=2)
        await backing.expire(ns, "own", 5)
        await store.asearch(("t",))
        assert await backing.get_ttl(ns, "own") == pytest.approx(60, abs=2)
        # An expired item is gone from reads and its namespace from listings.
        await backing.expire(ns, "own", 0.05)
        await backing.delete(ns, "default")
        await backing.delete(ns, "never")
        await asyncio.sleep(0.1)
        assert await store.aget(("t",), "own") is None
        assert await store.alist_namespaces() == []
