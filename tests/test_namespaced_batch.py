"""Namespace batches and prefix listing, on every driver."""

from __future__ import annotations

from typing import Any

import pytest

from unistore import CorruptionError, NamespacedStore, Store, ValidationError


def handle(store: Store, *, decode: bool = True) -> Any:
    return NamespacedStore(store, prefix="t", default_ttl=60, decode=decode).namespace("batch")


async def test_get_many_reads_in_the_order_asked(store: Store) -> None:
    ns = handle(store)
    await ns.set_many({"a": "1", "b": "2", "c": "3"})
    await ns.hset("h", "f", "v")
    assert await ns.get_many(["c", "missing", "a", "a", "h"]) == ["3", None, "1", "1", None]
    assert await ns.get_many([]) == []


async def test_set_many_applies_one_ttl_and_replaces_any_kind(store: Store) -> None:
    ns = handle(store)
    await ns.hset("h", "f", "v")
    await ns.set_many({"h": "scalar", "x": b"\xff"}, ttl=30)
    assert await ns.get("h") == "scalar"
    left = await ns.ttl("x")
    assert left is not None
    assert 0 < left <= 30
    raw = handle(store, decode=False)
    assert await raw.get_many(["x"]) == [b"\xff"]
    with pytest.raises(CorruptionError):
        await ns.get_many(["x"])


async def test_delete_many_counts_each_existing_slot_once(store: Store) -> None:
    ns = handle(store)
    await ns.set_many({"a": "1", "b": "2"})
    await ns.hset("h", "f", "v")
    assert await ns.delete_many(["a", "a", "h", "missing"]) == 2
    assert await ns.slots() == ["b"]
    assert await ns.delete_many([]) == 0


async def test_slots_filters_by_prefix_with_plain_characters(store: Store) -> None:
    ns = handle(store)
    names = ["user:1", "user:2", "user%", "user_x", "users", "u*", "other"]
    await ns.set_many(dict.fromkeys(names, "v"))
    assert await ns.slots("user:") == ["user:1", "user:2"]
    assert await ns.slots("user%") == ["user%"]
    assert await ns.slots("user_") == ["user_x"]
    assert await ns.slots("u*") == ["u*"]
    assert await ns.slots("nothing") == []
    assert await ns.slots() == sorted(names)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ns: ns.set_many({"a": "1", "b": 2}), "values must be str or bytes"),
        (lambda ns: ns.set_many({"a": "1", "": "2"}), "slot name"),
        (lambda ns: ns.set_many([("a", "1")]), "mapping"),
        (lambda ns: ns.set_many({"a": "1"}, ttl=0), "ttl"),
        (lambda ns: ns.get_many("abc"), "sequence of slot names"),
        (lambda ns: ns.delete_many(["a", 1]), "slot name"),
        (lambda ns: ns.slots(1), "prefix"),
    ],
)
async def test_bad_batches_raise_and_write_nothing(store: Store, call: Any, message: str) -> None:
    ns = handle(store)
    await ns.set("a", "kept")
    with pytest.raises(ValidationError, match=message):
        await call(ns)
    assert await ns.get("a") == "kept"
    assert await ns.slots() == ["a"]


async def test_the_namespaced_store_still_requires_a_ttl(store: Store) -> None:
    with pytest.raises(ValidationError):
        NamespacedStore(store, prefix="t", default_ttl=None)  # type: ignore[arg-type]
