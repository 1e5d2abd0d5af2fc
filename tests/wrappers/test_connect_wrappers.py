"""connect(url, wrappers=[...]): order, validation, never from the URL, sync facade, products."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable
from typing import Any, ClassVar, TypeVar

import pytest

import unistore
from unistore import sync
from unistore.errors import InvalidOptionError
from unistore.protocols import FullStore
from unistore.sdk import StoreWrapper
from unistore.wrappers import Compressed
from unistore.wrappers._compressed import HEADER

T = TypeVar("T")
TTL = 60.0


class Tag(StoreWrapper):
    """Prefixes values with its tag, and records the order operations reach it."""

    seen: ClassVar[list[str]] = []

    def __init__(self, inner: FullStore, tag: bytes) -> None:
        super().__init__(inner)
        self.tag = tag

    async def _call(self, operation: str, target: str | None, call: Awaitable[T]) -> T:
        Tag.seen.append(self.tag.decode())
        return await call

    def _encode_value(self, ns: str, slot: str, value: bytes) -> bytes:
        return self.tag + value

    def _decode_value(self, ns: str, slot: str, stored: bytes) -> bytes:
        assert stored.startswith(self.tag)
        return stored[len(self.tag) :]


async def test_the_list_reads_in_the_order_a_written_value_goes_through() -> None:
    store = unistore.connect(
        "memory://", wrappers=[Tag.using(b"A"), functools.partial(Tag, tag=b"B")]
    )
    async with store:
        assert isinstance(store, Tag)
        assert store.tag == b"A"
        middle = store.inner
        assert isinstance(middle, Tag)
        assert middle.tag == b"B"
        Tag.seen.clear()
        await store.set("n", "s", b"v", ttl=TTL)
        assert Tag.seen == ["A", "B"]
        # A encodes first, so B's tag ends up outermost in what the driver holds.
        assert await middle.inner.get("n", "s") == b"BAv"
        assert await store.get("n", "s") == b"v"


async def test_a_plain_function_is_a_wrapper_too() -> None:
    def compress_all(store: FullStore) -> FullStore:
        return Compressed(store, "zlib", min_size=0)

    async with unistore.connect("memory://", wrappers=(compress_all,)) as store:
        assert isinstance(store, Compressed)


@pytest.mark.parametrize(
    "wrappers",
    [[Compressed], [Compressed.using(), "zstd"], "Compressed", Compressed.using()],
    ids=["class-ok", "str-element", "str", "not-a-list"],
)
def test_wrappers_must_be_a_list_of_callables(wrappers: Any) -> None:
    if wrappers == [Compressed]:
        # The class itself is a callable store -> store (with its defaults).
        assert isinstance(unistore.connect("memory://", wrappers=wrappers), Compressed)
        return
    with pytest.raises(InvalidOptionError, match="wrappers"):
        unistore.connect("memory://", wrappers=wrappers)


def test_wrappers_never_come_from_the_url() -> None:
    with pytest.raises(InvalidOptionError, match="unknown option 'wrappers'"):
        unistore.connect("memory://?wrappers=Compressed")


def test_no_wrappers_returns_the_driver_store_itself() -> None:
    assert not isinstance(unistore.connect("memory://", wrappers=[]), StoreWrapper)


def test_the_blocking_facade_passes_wrappers_through(store_url: str) -> None:
    if store_url == "memory://":
        store_url = f"memory://sync-{uuid.uuid4().hex}"  # shared by the two connections
    with sync.connect(store_url, wrappers=[Compressed.using("zlib", min_size=0)]) as store:
        store.set("n", "s", b"value", ttl=TTL)
        assert store.get("n", "s") == b"value"
    with sync.connect(store_url) as plain:
        raw = plain.get("n", "s")
        assert raw is not None
        assert raw.startswith(HEADER)


async def test_products_run_on_a_wrapped_store() -> None:
    store = unistore.connect("memory://", wrappers=[Compressed.using("zlib", min_size=0)])
    async with unistore.NamespacedStore(store, prefix="app", default_ttl=TTL) as data:
        basket = data.namespace("b1")
        await basket.set("owner", "ada")
        assert await basket.get("owner") == "ada"
        assert await basket.incr("visits") == 1
        assert await basket.incr("visits") == 2


@pytest.mark.skipif(
    not __import__("importlib").util.find_spec("unistore.wrappers._encrypted"),
    reason="the Encrypted wrapper is not installed",
)
async def test_compress_then_encrypt() -> None:
    from unistore.wrappers import Encrypted

    stack: list[Any] = [
        Compressed.using(min_size=0),
        Encrypted.using(keys={"k": bytes(32)}, current="k"),
    ]
    async with unistore.connect("memory://", wrappers=stack) as store:
        assert isinstance(store, Compressed)
        assert isinstance(store.inner, Encrypted)
        value = b"compressible " * 200
        await store.set("n", "s", value, ttl=TTL)
        raw = await store.inner.inner.get("n", "s")
        assert raw is not None
        assert not raw.startswith(HEADER), "the driver holds ciphertext, not the compressed form"
        assert len(raw) < len(value) // 5, "compressed before it was encrypted"
        assert await store.get("n", "s") == value
