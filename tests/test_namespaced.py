"""NamespacedStore / Namespace: operations, TTL discipline, checks, ownership.

Parametrised over every driver through the ``store`` and ``store_url`` fixtures.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

import unistore
from unistore import (
    Capability,
    CorruptionError,
    Namespace,
    NamespacedStore,
    NotSupportedError,
    SlotKindError,
    StoreClosedError,
    StoreURL,
    ValidationError,
)
from unistore._memory import MemoryStore

SHORT_TTL = 0.3
EXPIRED = 0.5  # sleep long enough for SHORT_TTL to pass on every driver


@pytest.fixture
def data(store: unistore.Store) -> NamespacedStore[str]:
    return NamespacedStore(store, prefix="t", default_ttl=60)


@pytest.fixture
def ns(data: NamespacedStore[str]) -> Namespace[str]:
    return data.namespace("session-1")


# -- scalars ----------------------------------------------------------------------


async def test_set_get_delete(ns: Namespace[str]) -> None:
    assert await ns.get("basket-id") is None
    await ns.set("basket-id", "7")
    assert await ns.get("basket-id") == "7"
    await ns.set("basket-id", "naïve ✓")
    assert await ns.get("basket-id") == "naïve ✓"
    assert await ns.delete("basket-id") is True
    assert await ns.delete("basket-id") is False
    assert await ns.get("basket-id") is None


async def test_bytes_written_are_read_back_as_text(ns: Namespace[str]) -> None:
    await ns.set("s", b"plain")
    assert await ns.get("s") == "plain"


async def test_set_replaces_a_hash(ns: Namespace[str]) -> None:
    await ns.hset("slot", "f", "v")
    await ns.set("slot", "scalar")
    assert await ns.get("slot") == "scalar"


async def test_slot_names_may_be_odd(ns: Namespace[str]) -> None:
    odd = ["*", "a:b", "../x", "{x}", "x\x00y", "é", "s" * NamespacedStore.MAX_SLOT_LENGTH]
    for i, slot in enumerate(odd):
        await ns.set(slot, str(i))
    for i, slot in enumerate(odd):
        assert await ns.get(slot) == str(i)
    assert await ns.slots() == sorted(odd)


# -- hashes -----------------------------------------------------------------------


async def test_hash_operations(ns: Namespace[str]) -> None:
    assert await ns.hgetall("basket") == {}
    assert await ns.hkeys("basket") == []
    assert await ns.hget("basket", "item-1") is None
    assert await ns.hset("basket", "item-1", '{"sku": "A", "qty": 2}') == 1
    assert await ns.hset("basket", {"item-2": "b", "item-3": b"c"}) == 2
    assert await ns.hset("basket", {"item-1": "a", "item-4": "d"}) == 1
    assert await ns.hget("basket", "item-1") == "a"
    assert await ns.hgetall("basket") == {
        "item-1": "a",
        "item-2": "b",
        "item-3": "c",
        "item-4": "d",
    }
    assert sorted(await ns.hkeys("basket")) == ["item-1", "item-2", "item-3", "item-4"]
    assert await ns.hdel("basket", "item-1", "item-2", "missing") == 2
    assert await ns.hgetall("basket") == {"item-3": "c", "item-4": "d"}


async def test_emptied_hash_disappears(ns: Namespace[str]) -> None:
    await ns.hset("h", "f", "v")
    assert await ns.hdel("h", "f") == 1
    assert await ns.slots() == []
    assert await ns.hdel("h", "f") == 0


async def test_hash_field_names_may_be_odd(ns: Namespace[str]) -> None:
    fields = {"": "empty", "*": "star", "a:b": "colon", "x\x00y": "nul"}
    await ns.hset("h", fields)
    assert await ns.hgetall("h") == fields


async def test_slot_kind_errors(ns: Namespace[str]) -> None:
    await ns.set("scalar", "not a number")
    await ns.hset("hash", "f", "v")
    with pytest.raises(SlotKindError):
        await ns.get("hash")
    with pytest.raises(SlotKindError):
        await ns.hset("scalar", "f", "v")
    with pytest.raises(SlotKindError):
        await ns.incr("scalar")
    with pytest.raises(SlotKindError):
        await ns.incr("hash")


# -- counters ---------------------------------------------------------------------


async def test_incr(ns: Namespace[str]) -> None:
    assert await ns.incr("ids") == 1
    assert await ns.incr("ids") == 2
    assert await ns.incr("ids", 10) == 12
    assert await ns.incr("ids", -2) == 10
    assert await ns.get("ids") == "10"
    assert await ns.incr("other", 5) == 5


async def test_a_new_counter_gets_the_default_ttl(ns: Namespace[str]) -> None:
    await ns.incr("ids")
    left = await ns.ttl("ids")
    assert left is not None
    assert 0 < left <= 60


# -- TTL discipline ---------------------------------------------------------------


async def test_every_write_carries_the_default_ttl(ns: Namespace[str]) -> None:
    await ns.set("s", "v")
    await ns.hset("h", "f", "v")
    await ns.incr("c")
    for slot in ("s", "h", "c"):
        left = await ns.ttl(slot)
        assert left is not None
        assert 55 < left <= 60
    assert await ns.ttl("absent") is None


async def test_per_call_ttl_in_seconds_or_timedelta(ns: Namespace[str]) -> None:
    await ns.set("a", "v", ttl=10)
    await ns.set("b", "v", ttl=timedelta(minutes=5))
    await ns.hset("h", "f", "v", ttl=2.5)
    a, b, h = await ns.ttl("a"), await ns.ttl("b"), await ns.ttl("h")
    assert a is not None
    assert 5 < a <= 10
    assert b is not None
    assert 295 < b <= 300
    assert h is not None
    assert 0 < h <= 2.5


async def test_default_ttl_as_timedelta(store: unistore.Store) -> None:
    handle = NamespacedStore(store, prefix="t", default_ttl=timedelta(seconds=30)).namespace("x")
    assert handle._ttl == 30.0
    await handle.set("s", "v")
    left = await handle.ttl("s")
    assert left is not None
    assert 25 < left <= 30


async def test_each_slot_kind_expires(ns: Namespace[str]) -> None:
    # Only the state after the sleep is asserted: on a loaded machine the
    # short-lived slots may already be gone right after being written.
    await ns.set("keeper", "v")
    await ns.set("scalar", "v", ttl=SHORT_TTL)
    assert await ns.hset("hash", "f", "v", ttl=SHORT_TTL) == 1
    assert await ns.hset("hash-mapping", {"f": "v", "g": "w"}, ttl=SHORT_TTL) == 2
    assert await ns.incr("counter", ttl=SHORT_TTL) == 1
    await asyncio.sleep(EXPIRED)
    assert await ns.slots() == ["keeper"]
    for slot in ("counter", "hash", "hash-mapping", "scalar"):
        assert await ns.ttl(slot) is None
    assert await ns.get("scalar") is None
    assert await ns.get("counter") is None
    assert await ns.hgetall("hash") == {}
    assert await ns.hget("hash-mapping", "f") is None
    assert await ns.incr("counter") == 1


async def test_the_default_ttl_expires_slots(store: unistore.Store) -> None:
    ns = NamespacedStore(store, prefix="t", default_ttl=SHORT_TTL).namespace("x")
    await ns.set("s", "v")
    await ns.hset("h", "f", "v")
    await ns.incr("c")
    await asyncio.sleep(EXPIRED)
    assert await ns.slots() == []


async def test_hset_reapplies_the_ttl_to_the_whole_hash(ns: Namespace[str]) -> None:
    await ns.hset("longer", "a", "1", ttl=5)
    await ns.hset("longer", "b", "2", ttl=60)
    left = await ns.ttl("longer")
    assert left is not None
    assert 55 < left <= 60
    await ns.hset("shorter", "a", "1", ttl=60)
    await ns.hset("shorter", "b", "2", ttl=SHORT_TTL)
    await asyncio.sleep(EXPIRED)
    assert await ns.hgetall("shorter") == {}
    assert await ns.hgetall("longer") == {"a": "1", "b": "2"}


async def test_an_existing_counter_keeps_its_expiry(ns: Namespace[str]) -> None:
    await ns.incr("c", ttl=5)
    await ns.incr("c", ttl=60)
    left = await ns.ttl("c")
    assert left is not None
    assert 0 < left <= 5


async def test_touch_reapplies_the_ttl(ns: Namespace[str]) -> None:
    await ns.set("s", "v", ttl=5)
    await ns.hset("h", "f", "v", ttl=5)
    await ns.incr("c", ttl=5)
    assert await ns.touch(ttl=30) == 3
    for slot in ("s", "h", "c"):
        left = await ns.ttl(slot)
        assert left is not None
        assert 25 < left <= 30
    assert await ns.touch(ttl=SHORT_TTL) == 3
    await asyncio.sleep(EXPIRED)
    assert await ns.slots() == []
    assert await ns.touch() == 0


async def test_touch_uses_the_default_ttl(ns: Namespace[str]) -> None:
    await ns.set("s", "v", ttl=5)
    assert await ns.touch() == 1
    left = await ns.ttl("s")
    assert left is not None
    assert 55 < left <= 60


# -- lifecycle --------------------------------------------------------------------


async def test_purge_deletes_only_this_namespace(data: NamespacedStore[str]) -> None:
    mine, other = data.namespace("mine"), data.namespace("other")
    await mine.set("s", "v")
    await mine.hset("h", "f", "v")
    await mine.incr("c")
    await other.set("s", "kept")
    assert await mine.slots() == ["c", "h", "s"]
    assert await mine.purge() == 3
    assert await mine.slots() == []
    assert await mine.purge() == 0
    assert await other.get("s") == "kept"


async def test_prefixes_keep_stores_apart(store: unistore.Store) -> None:
    a = NamespacedStore(store, prefix="app", default_ttl=60).namespace("x")
    b = NamespacedStore(store, prefix="app-2", default_ttl=60).namespace("x")
    await a.set("s", "a")
    await b.set("s", "b")
    assert await a.purge() == 1
    assert await b.get("s") == "b"


async def test_handles_are_cheap_and_equivalent(data: NamespacedStore[str]) -> None:
    await data.namespace("s").set("slot", "v")
    handle = data.namespace("s")
    assert await handle.get("slot") == "v"
    assert handle.id == "s"
    assert handle.store_namespace == "t:s"
    assert not hasattr(handle, "__dict__")
    assert repr(handle) == "<Namespace 't:s'>"
    assert "prefix='t'" in repr(data)


# -- binary values ----------------------------------------------------------------


async def test_decode_false_reads_bytes(store: unistore.Store) -> None:
    raw = NamespacedStore(store, prefix="t", default_ttl=60, decode=False)
    assert raw.decode is False
    ns = raw.namespace("x")
    blob = bytes(range(256))
    await ns.set("s", blob)
    await ns.set("t", "text")
    await ns.hset("h", {"a": blob, "b": "é"})
    assert await ns.get("s") == blob
    assert await ns.get("t") == b"text"
    assert await ns.hget("h", "a") == blob
    assert await ns.hgetall("h") == {"a": blob, "b": "é".encode()}
    assert await ns.get("absent") is None


async def test_text_store_refuses_binary_values(ns: Namespace[str]) -> None:
    await ns.set("s", b"\xff\xfesecret")
    await ns.hset("h", "f", b"\xffsecret")
    for read in (ns.get("s"), ns.hget("h", "f"), ns.hgetall("h")):
        with pytest.raises(CorruptionError, match="decode=False") as info:
            await read
        assert "secret" not in str(info.value)
        assert info.value.__cause__ is None


# -- argument checks --------------------------------------------------------------

BAD_CALLS: list[Any] = [
    pytest.param(lambda ns: ns.set("", "v"), "slot", id="empty-slot"),
    pytest.param(lambda ns: ns.set(5, "v"), "int", id="int-slot"),
    pytest.param(lambda ns: ns.set(None, "v"), "NoneType", id="none-slot"),
    pytest.param(lambda ns: ns.set(["s"], "v"), "list", id="list-slot"),
    pytest.param(lambda ns: ns.set("s" * 1025, "v"), "1024", id="long-slot"),
    pytest.param(lambda ns: ns.get(""), "slot", id="get-empty-slot"),
    pytest.param(lambda ns: ns.get(b"s"), "bytes", id="get-bytes-slot"),
    pytest.param(lambda ns: ns.delete(""), "slot", id="delete-empty-slot"),
    pytest.param(lambda ns: ns.hgetall(""), "slot", id="hgetall-empty-slot"),
    pytest.param(lambda ns: ns.hkeys(""), "slot", id="hkeys-empty-slot"),
    pytest.param(lambda ns: ns.ttl(""), "slot", id="ttl-empty-slot"),
    pytest.param(lambda ns: ns.hget("h", 5), "int", id="hget-int-field"),
    pytest.param(lambda ns: ns.set("s", 5), "int", id="int-value"),
    pytest.param(lambda ns: ns.set("s", None), "NoneType", id="none-value"),
    pytest.param(lambda ns: ns.set("s", 1.5), "float", id="float-value"),
    pytest.param(lambda ns: ns.set("s", bytearray(b"x")), "bytearray", id="bytearray-value"),
    pytest.param(lambda ns: ns.set("s", {"a": 1}), "dict", id="dict-value"),
    pytest.param(lambda ns: ns.set("s", "\ud800"), "UTF-8", id="lone-surrogate"),
    pytest.param(lambda ns: ns.set("s", "v", ttl=0), "positive", id="zero-ttl"),
    pytest.param(lambda ns: ns.set("s", "v", ttl=-1), "positive", id="negative-ttl"),
    pytest.param(lambda ns: ns.set("s", "v", ttl=math.nan), "positive", id="nan-ttl"),
    pytest.param(lambda ns: ns.set("s", "v", ttl=math.inf), "positive", id="inf-ttl"),
    pytest.param(lambda ns: ns.set("s", "v", ttl=True), "bool", id="bool-ttl"),
    pytest.param(lambda ns: ns.set("s", "v", ttl="10"), "str", id="str-ttl"),
    pytest.param(lambda ns: ns.set("s", "v", ttl=timedelta(0)), "positive", id="zero-delta"),
    pytest.param(lambda ns: ns.hset("h", "f"), "value", id="hset-no-value"),
    pytest.param(lambda ns: ns.hset("h", {}), "at least one", id="hset-empty-mapping"),
    pytest.param(lambda ns: ns.hset("h", {1: "v"}), "int", id="hset-int-field"),
    pytest.param(lambda ns: ns.hset("h", {"f": 1}), "int", id="hset-int-value"),
    pytest.param(lambda ns: ns.hset("h", {"a": "v", "b": None}), "NoneType", id="hset-one-bad"),
    pytest.param(lambda ns: ns.hset("h", "f", 1), "int", id="hset-field-int-value"),
    pytest.param(lambda ns: ns.hset("h", 5, "v"), "int", id="hset-int-field-name"),
    pytest.param(lambda ns: ns.hset("h", ["f"]), "list", id="hset-list"),
    pytest.param(lambda ns: ns.hset("h", {"f": "v"}, "x"), "mapping", id="hset-mapping-and-value"),
    pytest.param(lambda ns: ns.hset("h", "f", "v", ttl=0), "positive", id="hset-zero-ttl"),
    pytest.param(lambda ns: ns.hset("", "f", "v"), "slot", id="hset-empty-slot"),
    pytest.param(lambda ns: ns.hdel("h"), "at least one", id="hdel-no-field"),
    pytest.param(lambda ns: ns.hdel("h", 1), "int", id="hdel-int-field"),
    pytest.param(lambda ns: ns.incr("c", 1.5), "float", id="incr-float"),
    pytest.param(lambda ns: ns.incr("c", True), "bool", id="incr-bool"),
    pytest.param(lambda ns: ns.incr("c", "1"), "str", id="incr-str"),
    pytest.param(lambda ns: ns.incr("c", ttl=-5), "positive", id="incr-negative-ttl"),
    pytest.param(lambda ns: ns.incr("", 1), "slot", id="incr-empty-slot"),
    pytest.param(lambda ns: ns.touch(ttl=0), "positive", id="touch-zero-ttl"),
]


@pytest.fixture
async def memory_ns() -> AsyncIterator[Namespace[str]]:
    async with NamespacedStore("memory://", prefix="t", default_ttl=60) as data:
        yield data.namespace("session-1")


@pytest.mark.parametrize(("call", "needle"), BAD_CALLS)
async def test_bad_arguments_raise_before_any_write(
    memory_ns: Namespace[str], call: Callable[[Namespace[Any]], Awaitable[Any]], needle: str
) -> None:
    await memory_ns.hset("h", "keep", "v")
    with pytest.raises(ValidationError, match=needle):
        await call(memory_ns)
    assert await memory_ns.slots() == ["h"]
    assert await memory_ns.hgetall("h") == {"keep": "v"}


async def test_bad_arguments_write_nothing_on_any_driver(ns: Namespace[str]) -> None:
    await ns.hset("h", "keep", "v")
    for param in BAD_CALLS:
        call, _ = param.values
        with pytest.raises(ValidationError):
            await call(ns)
    assert await ns.slots() == ["h"]
    assert await ns.hgetall("h") == {"keep": "v"}


@pytest.mark.parametrize(
    "namespace_id",
    ["", 5, None, b"bytes", "x" * (NamespacedStore.MAX_ID_LENGTH + 1)],
    ids=["empty", "int", "none", "bytes", "too-long"],
)
def test_bad_namespace_ids(namespace_id: Any) -> None:
    data = NamespacedStore("memory://", prefix="t", default_ttl=60)
    with pytest.raises(ValidationError, match="namespace id"):
        data.namespace(namespace_id)


def test_the_longest_namespace_id_is_accepted() -> None:
    long_id = "x" * NamespacedStore.MAX_ID_LENGTH
    data = NamespacedStore("memory://", prefix="t", default_ttl=60)
    assert data.namespace(long_id).id == long_id


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"prefix": ""}, "prefix"),
        ({"prefix": "a:b"}, "prefix"),
        ({"prefix": "a b"}, "prefix"),
        ({"prefix": "a_b"}, "prefix"),
        ({"prefix": "café"}, "prefix"),
        ({"prefix": "app\n"}, "prefix"),
        ({"prefix": "a" * 65}, "prefix"),
        ({"prefix": 5}, "prefix"),
        ({"default_ttl": 0}, "positive"),
        ({"default_ttl": -1.0}, "positive"),
        ({"default_ttl": math.nan}, "positive"),
        ({"default_ttl": "60"}, "ttl"),
        ({"default_ttl": None}, "ttl"),
        ({"logger": "unistore"}, "logger"),
        ({"decode": "yes"}, "decode"),
    ],
)
def test_bad_construction(kwargs: dict[str, Any], needle: str) -> None:
    arguments: dict[str, Any] = {"prefix": "app", "default_ttl": 60, **kwargs}
    store = unistore.connect("memory://")
    with pytest.raises(ValidationError, match=needle):
        NamespacedStore(store, **arguments)


def test_prefix_rules_accept_letters_digits_dashes() -> None:
    store = unistore.connect("memory://")
    for prefix in ("app", "A-1", "-", "x" * 64, "2024-shop"):
        assert NamespacedStore(store, prefix=prefix, default_ttl=1).prefix == prefix


def test_a_store_argument_must_be_a_store() -> None:
    with pytest.raises(ValidationError, match="store"):
        NamespacedStore(object(), prefix="app", default_ttl=60)  # type: ignore[call-overload]


# -- capabilities -----------------------------------------------------------------


class _Limited(MemoryStore):
    """A memory store declaring fewer capabilities than it has."""


def _limited(*missing: Capability) -> MemoryStore:
    store = _Limited(StoreURL.parse("memory://"))
    store.CAPABILITIES = frozenset(Capability) - set(missing)  # type: ignore[misc]
    return store


@pytest.mark.parametrize(
    "capability",
    [Capability.KEY_VALUE, Capability.HASH, Capability.COUNTER, Capability.NAMESPACE_LIFECYCLE],
)
async def test_core_capabilities_are_checked_at_construction(capability: Capability) -> None:
    async with _limited(capability) as store:
        with pytest.raises(NotSupportedError, match=capability.value):
            NamespacedStore(store, prefix="app", default_ttl=60)


async def test_transactions_and_ttl_are_checked_when_used() -> None:
    async with _limited(Capability.TRANSACTIONS, Capability.TTL) as store:
        ns = NamespacedStore(store, prefix="app", default_ttl=60).namespace("x")
        await ns.set("s", "v")

        def never(snap: object, ops: object) -> None:
            raise AssertionError("must not run")

        with pytest.raises(NotSupportedError, match="transactions"):
            await ns.with_cas("s", never)
        with pytest.raises(NotSupportedError, match="ttl"):
            await ns.ttl("s")


# -- ownership of the store -------------------------------------------------------


async def test_a_url_is_opened_and_closed(store_url: str) -> None:
    async with NamespacedStore(store_url, prefix="app", default_ttl=60) as data:
        ns = data.namespace("x")
        await ns.set("s", "v")
        assert await ns.get("s") == "v"
        destroy = getattr(data.store, "destroy", None)
        if destroy is not None:
            await destroy()
    with pytest.raises(StoreClosedError):
        await ns.get("s")


async def test_aclose_closes_an_owned_store() -> None:
    data = NamespacedStore(StoreURL.parse("memory://"), prefix="app", default_ttl=60)
    await data.namespace("x").set("s", "v")
    await data.aclose()
    await data.aclose()
    with pytest.raises(StoreClosedError):
        await data.namespace("x").get("s")


async def test_a_store_passed_in_is_left_open(store: unistore.Store) -> None:
    async with NamespacedStore(store, prefix="app", default_ttl=60) as data:
        await data.namespace("x").set("s", "v")
    await data.aclose()
    assert data.store is store
    assert await data.namespace("x").get("s") == "v"


def test_properties() -> None:
    data = NamespacedStore(
        unistore.connect("memory://"), prefix="app", default_ttl=timedelta(hours=1)
    )
    assert data.prefix == "app"
    assert data.default_ttl == 3600.0
    assert data.decode is True
    assert data.logger.name == "unistore.namespaced"
