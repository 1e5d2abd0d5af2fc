"""Hostile namespace ids can never reach another namespace, on any driver."""

from __future__ import annotations

import pytest

import unistore
from unistore import Namespace, NamespacedStore

HOSTILE_IDS = [
    "*",
    "**",
    "?",
    "[a-z]",
    "a",
    "b",
    "a:b",
    "a:*",
    "../x",
    "x",
    "x/..",
    "{x}",
    "{t:a}",
    "x\x00y",
    "x\x00",
    "line\nbreak",
    "%2A",
    "'; DROP TABLE slots; --",
    "k" * 10_240,
]


@pytest.fixture
def data(store: unistore.Store) -> NamespacedStore[str]:
    return NamespacedStore(store, prefix="t", default_ttl=60)


async def _fill(data: NamespacedStore[str]) -> list[Namespace[str]]:
    handles = [data.namespace(namespace_id) for namespace_id in HOSTILE_IDS]
    for i, ns in enumerate(handles):
        await ns.set("slot", f"value-{i}")
        await ns.hset("hash", "field", f"field-{i}")
        await ns.incr("counter", i + 1)
    return handles


async def _check_intact(handles: list[Namespace[str]], *, except_: set[str]) -> None:
    for i, ns in enumerate(handles):
        if ns.id in except_:
            assert await ns.slots() == []
            continue
        assert await ns.slots() == ["counter", "hash", "slot"], repr(ns)
        assert await ns.get("slot") == f"value-{i}"
        assert await ns.hgetall("hash") == {"field": f"field-{i}"}
        assert await ns.get("counter") == str(i + 1)


async def test_each_hostile_id_reads_only_its_own_slots(data: NamespacedStore[str]) -> None:
    handles = await _fill(data)
    await _check_intact(handles, except_=set())


@pytest.mark.parametrize("victim", ["*", "a", "a:b", "x\x00y", "{x}", "../x"])
async def test_purge_of_a_hostile_id_leaves_the_others_intact(
    data: NamespacedStore[str], victim: str
) -> None:
    handles = await _fill(data)
    assert await data.namespace(victim).purge() == 3
    await _check_intact(handles, except_={victim})


async def test_touch_of_a_hostile_id_touches_only_its_slots(data: NamespacedStore[str]) -> None:
    handles = await _fill(data)
    assert await data.namespace("*").touch(ttl=5) == 3
    star = await data.namespace("*").ttl("slot")
    other = await data.namespace("a").ttl("slot")
    assert star is not None
    assert star <= 5
    assert other is not None
    assert other > 50
    await _check_intact(handles, except_=set())


async def test_a_colon_in_the_id_cannot_forge_a_slot(data: NamespacedStore[str]) -> None:
    # "<prefix>:a" + slot "b:slot" and "<prefix>:a:b" + slot "slot" are two
    # different (namespace, slot) pairs, whatever a driver builds from them.
    await data.namespace("a").set("b:slot", "in a")
    await data.namespace("a:b").set("slot", "in a:b")
    assert await data.namespace("a").slots() == ["b:slot"]
    assert await data.namespace("a:b").slots() == ["slot"]
    assert await data.namespace("a:b").purge() == 1
    assert await data.namespace("a").get("b:slot") == "in a"


async def test_prefixes_and_ids_cannot_be_combined_into_each_other(
    store: unistore.Store,
) -> None:
    # The prefix cannot contain ":", so ("t", "x:y") and ("t-x", "y") differ.
    one = NamespacedStore(store, prefix="t", default_ttl=60).namespace("x:y")
    two = NamespacedStore(store, prefix="t-x", default_ttl=60).namespace("y")
    three = NamespacedStore(store, prefix="t", default_ttl=60).namespace("x")
    await one.set("s", "1")
    await two.set("s", "2")
    await three.set("y:s", "3")
    assert [await one.get("s"), await two.get("s"), await three.get("y:s")] == ["1", "2", "3"]
    assert await one.purge() == 1
    assert await two.get("s") == "2"
    assert await three.get("y:s") == "3"
