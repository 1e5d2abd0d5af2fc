"""UnistoreByteStore and UnistoreStore beyond the standard suite.

Namespaces and keys are opaque (hostile text never reaches another
namespace), TTLs reach the store, bad input raises unistore errors naming
what was wrong before anything is written, and secrets stay out of reprs.
"""

from __future__ import annotations

import asyncio
import importlib
import math
import sys
import threading

import pytest

import unistore
from unistore.errors import CorruptionError, EventLoopError, ValidationError
from unistore.integrations.langchain import UnistoreByteStore, UnistoreStore

HOSTILE = ["*", "?", "[a]", "a:b", "{tag}", "../x", "..", "%", "_", "a\x00b", "\n", "x" * 10_000]


async def test_hostile_namespaces_never_meet(store: unistore.Store) -> None:
    # Namespaces are at most 1024 characters; keys may be longer.
    names = [*HOSTILE[:-1], "x" * 1024, "a", "default"]
    stores = [UnistoreByteStore(store, namespace=name) for name in names]
    for index, kv in enumerate(stores):
        await kv.amset([("k", str(index).encode()), (f"own-{index}", b"x")])
    for index, kv in enumerate(stores):
        assert await kv.amget(["k"]) == [str(index).encode()]
        assert [key async for key in kv.ayield_keys()] == sorted(["k", f"own-{index}"])
    # Deleting everything of one namespace leaves every other one whole.
    await stores[0].amdelete(["k", "own-0"])
    assert [key async for key in stores[0].ayield_keys()] == []
    assert await stores[1].amget(["k", "own-1"]) == [b"1", b"x"]


async def test_hostile_keys_and_prefixes_are_plain_text(store: unistore.Store) -> None:
    kv = UnistoreByteStore(store, namespace="keys")
    await kv.amset([(key, key.encode("utf-8", "surrogatepass")) for key in HOSTILE])
    assert await kv.amget(HOSTILE) == [key.encode() for key in HOSTILE]
    assert sorted([key async for key in kv.ayield_keys()]) == sorted(HOSTILE)
    # A prefix is a prefix, never a pattern.
    assert [key async for key in kv.ayield_keys(prefix="*")] == ["*"]
    assert [key async for key in kv.ayield_keys(prefix="%")] == ["%"]
    assert [key async for key in kv.ayield_keys(prefix="[")] == ["[a]"]
    assert [key async for key in kv.ayield_keys(prefix=".")] == ["..", "../x"]
    assert [key async for key in kv.ayield_keys(prefix="nothing")] == []


async def test_byte_and_json_stores_share_a_namespace_as_json_text(store: unistore.Store) -> None:
    data = UnistoreStore(store, namespace="shared")
    raw = UnistoreByteStore(store, namespace="shared")
    await data.amset([("doc", {"title": "Tür", "tags": ("a", "b"), 1: None})])
    assert await raw.amget(["doc"]) == ['{"title":"Tür","tags":["a","b"],"1":null}'.encode()]
    # Tuples come back as lists and non-str keys as strings: JSON's own rules.
    assert await data.amget(["doc"]) == [{"title": "Tür", "tags": ["a", "b"], "1": None}]
    await raw.amset([("junk", b"\xff not json")])
    with pytest.raises(CorruptionError, match="'junk' holds a value that is not JSON"):
        await data.amget(["doc", "junk"])


async def test_json_store_keeps_lone_surrogates_and_refuses_what_json_cannot_hold(
    store: unistore.Store,
) -> None:
    data = UnistoreStore(store)
    await data.amset([("s", "a\ud800b")])
    assert await data.amget(["s"]) == ["a\ud800b"]
    for bad in (float("nan"), math.inf, {1, 2}, b"bytes", object()):
        with pytest.raises(ValidationError, match="key 'bad' is not JSON-serialisable"):
            await data.amset([("ok", 1), ("bad", bad)])
    # The failed batches wrote nothing, not even their valid pairs.
    assert await data.amget(["ok", "bad"]) == [None, None]


async def test_mset_of_a_key_twice_keeps_the_last_value(store: unistore.Store) -> None:
    kv = UnistoreByteStore(store)
    await kv.amset([("k", b"1"), ("k", b"2")])
    assert await kv.amget(["k"]) == [b"2"]


async def test_ttl_reaches_every_key_written(store: unistore.FullStore) -> None:
    expiring = UnistoreByteStore(store, namespace="ttl", ttl=100)
    forever = UnistoreByteStore(store, namespace="forever")
    await expiring.amset([("a", b"1"), ("b", b"2")])
    await forever.amset([("a", b"1")])
    for slot in ("a", "b"):
        left = await store.get_ttl("langchain:ttl", slot)
        assert left is not None
        assert 90 < left <= 100
    assert await store.get_ttl("langchain:forever", "a") == math.inf
    assert expiring.ttl == 100.0
    assert forever.ttl is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"namespace": ""}, "namespace must be 1 to 1024 characters"),
        ({"namespace": "x" * 1025}, "namespace must be 1 to 1024 characters"),
        ({"namespace": 7}, "namespace must be a str, got int"),
        ({"ttl": 0}, "ttl must be positive and finite"),
        ({"ttl": -1.0}, "ttl must be positive and finite"),
        ({"ttl": "10"}, "ttl must be seconds"),
        ({"ttl": True}, "ttl must be seconds"),
    ],
)
def test_bad_arguments_are_refused_before_opening_anything(
    kwargs: dict[str, object], message: str
) -> None:
    for cls in (UnistoreByteStore, UnistoreStore):
        with pytest.raises(ValidationError, match=message):
            cls("memory://", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="takes a store URL or an open unistore store"):
        UnistoreByteStore(42)  # type: ignore[arg-type]


async def test_bad_calls_name_what_was_wrong_and_write_nothing(store: unistore.Store) -> None:
    kv = UnistoreByteStore(store)
    with pytest.raises(ValidationError, match="value of key 'b' must be bytes, got str"):
        await kv.amset([("a", b"1"), ("b", "text")])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="a key must be a str, got int"):
        await kv.amset([(1, b"1")])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match=r"must be a \(key, value\) pair"):
        await kv.amset([("a", b"1", b"2")])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="key_value_pairs must be a sequence"):
        await kv.amset({"a": b"1"})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="keys must be a sequence of str, got str"):
        await kv.amget("abc")
    with pytest.raises(ValidationError, match="a key must be a str, got bytes"):
        await kv.amdelete([b"a"])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="prefix must be a str or None, got int"):
        [key async for key in kv.ayield_keys(prefix=1)]  # type: ignore[arg-type]
    assert [key async for key in kv.ayield_keys()] == []
    # Empty batches are fine and cost nothing.
    assert await kv.amget([]) == []
    await kv.amset([])
    await kv.amdelete([])


def test_blocking_api_from_threads_and_successive_loops(store_url: str) -> None:
    with UnistoreByteStore(store_url, namespace="threads") as kv:

        def write(n: int) -> None:
            kv.mset([(f"k{n:02d}", str(n).encode())])

        workers = [threading.Thread(target=write, args=(n,)) for n in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        # Two event loops, one after the other, as a blocking runner makes them.
        assert asyncio.run(kv.amget(["k00", "k07"])) == [b"0", b"7"]
        assert sorted(asyncio.run(_keys(kv))) == [f"k{n:02d}" for n in range(8)]
        kv.mdelete(["k00"])
        assert kv.mget(["k00", "k01"]) == [None, b"1"]
        assert list(kv.yield_keys(prefix="k0")) == [f"k0{n}" for n in range(1, 8)]
    assert kv.store.closed  # type: ignore[attr-defined]


async def _keys(kv: UnistoreByteStore) -> list[str]:
    return [key async for key in kv.ayield_keys()]


async def test_a_borrowed_store_stays_open_and_refuses_blocking_calls_on_its_loop() -> None:
    async with unistore.connect("memory://") as store:
        kv = UnistoreByteStore(store)
        await kv.amset([("a", b"1")])
        with pytest.raises(EventLoopError, match="async methods of UnistoreByteStore"):
            kv.mget(["a"])
        # From a worker thread the blocking API is served by the store's loop.
        assert await asyncio.to_thread(kv.mget, ["a"]) == [b"1"]
        await kv.aclose()
        assert await store.get("langchain:default", "a") == b"1"


def test_repr_names_the_namespace_and_hides_the_password() -> None:
    kv = UnistoreByteStore("redis://:s3cret-pw@127.0.0.1:6379/0", namespace="emb")
    try:
        assert "s3cret-pw" not in repr(kv)
        assert repr(kv) == "UnistoreByteStore(namespace='emb', store=redis://:***@127.0.0.1:6379/0)"
    finally:
        kv.close()


def test_import_without_langchain_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name.startswith(("unistore.integrations.langchain", "unistore.integrations._langchain")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "langchain_core", None)
    with pytest.raises(ImportError, match=r'pip install "unistore\[langchain\]"'):
        importlib.import_module("unistore.integrations.langchain")


def test_import_unistore_does_not_import_langchain() -> None:
    import subprocess

    code = "import sys, unistore; print('langchain_core' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
