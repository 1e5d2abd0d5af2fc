"""Compressed: the header format, the uncompressed fallback, bombs, algorithms, every driver."""

from __future__ import annotations

import base64
import json
import os
import zlib
from collections.abc import AsyncIterator

import pytest
import zstandard

import unistore
from unistore.errors import ConfigurationError, CorruptionError, InvalidOptionError
from unistore.protocols import FullStore
from unistore.wrappers import Compressed
from unistore.wrappers._compressed import HEADER, MARKER

TTL = 60.0
NS = "c"
TEXT = b"the quick brown fox jumps over the lazy dog. " * 100


@pytest.fixture
async def inner() -> AsyncIterator[FullStore]:
    async with unistore.connect("memory://") as store:
        yield store


@pytest.mark.parametrize("algorithm", ["zstd", "zlib"])
async def test_large_values_are_compressed_behind_the_header(
    inner: FullStore, algorithm: str
) -> None:
    store = Compressed(inner, algorithm, min_size=100)
    await store.set(NS, "s", TEXT, ttl=TTL)
    raw = await inner.get(NS, "s")
    assert raw is not None
    assert raw.startswith(HEADER)
    assert raw[len(HEADER)] == {"zlib": 1, "zstd": 2}[algorithm]
    assert len(raw) < len(TEXT) // 10
    payload = raw[len(HEADER) + 1 :]
    expected = zlib.decompress(payload) if algorithm == "zlib" else zstandard.decompress(payload)
    assert expected == TEXT
    assert await store.get(NS, "s") == TEXT


@pytest.mark.parametrize(
    ("size", "compressed"),
    [(0, False), (99, False), (100, True), (101, True)],
    ids=["empty", "below", "at", "above"],
)
async def test_min_size_decides_and_small_values_get_the_plain_header(
    inner: FullStore, size: int, compressed: bool
) -> None:
    store = Compressed(inner, "zlib", min_size=100)
    value = b"a" * size
    await store.set(NS, "s", value, ttl=TTL)
    raw = await inner.get(NS, "s")
    assert raw is not None
    assert raw[: len(HEADER) + 1] == HEADER + (b"\x01" if compressed else b"\x00")
    if not compressed:
        assert raw == HEADER + b"\x00" + value
    assert await store.get(NS, "s") == value


@pytest.mark.parametrize("algorithm", ["zstd", "zlib"])
async def test_incompressible_values_fall_back_to_plain(inner: FullStore, algorithm: str) -> None:
    store = Compressed(inner, algorithm, min_size=0)
    for value in (os.urandom(4096), b"\x07", b"x", b"\xff"):
        await store.set(NS, "r", value, ttl=TTL)
        assert await inner.get(NS, "r") == HEADER + b"\x00" + value, "a value that grows"
        assert await store.get(NS, "r") == value


async def test_values_without_a_header_read_back_unchanged(inner: FullStore) -> None:
    await inner.set(NS, "old", b"written before the wrapper", ttl=TTL)
    await inner.hset(NS, "h", {"f": b"old field"}, ttl=TTL)
    store = Compressed(inner, "zlib", min_size=0)
    assert await store.get(NS, "old") == b"written before the wrapper"
    assert await store.hget(NS, "h", "f") == b"old field"
    # A value that merely starts like the header is kept apart from real ones.
    await store.set(NS, "tricky", HEADER + b"\x01not zlib", ttl=TTL)
    assert await store.get(NS, "tricky") == HEADER + b"\x01not zlib"


async def test_one_algorithm_reads_what_the_other_wrote(inner: FullStore) -> None:
    await Compressed(inner, "zstd", min_size=0).set(NS, "z", TEXT, ttl=TTL)
    await Compressed(inner, "zlib", min_size=0).set(NS, "l", TEXT, ttl=TTL)
    for reader in (Compressed(inner, "zlib"), Compressed(inner, "zstd")):
        assert await reader.get_many(NS, ["z", "l"]) == [TEXT, TEXT]


@pytest.mark.parametrize("algorithm", ["zstd", "zlib"])
async def test_a_decompression_bomb_is_refused(inner: FullStore, algorithm: str) -> None:
    writer = Compressed(inner, algorithm, min_size=0)
    await writer.set(NS, "bomb", b"\x00" * 1_000_000, ttl=TTL)
    raw = await inner.get(NS, "bomb")
    assert raw is not None
    assert len(raw) < 10_000
    reader = Compressed(inner, algorithm, max_size=100_000)
    with pytest.raises(CorruptionError, match="max_size"):
        await reader.get(NS, "bomb")
    assert await Compressed(inner, algorithm, max_size=1_000_000).get(NS, "bomb") is not None


async def test_a_zstd_frame_without_a_declared_size_is_read_up_to_the_cap(
    inner: FullStore,
) -> None:
    # Frames written elsewhere may leave their size out: those are read in
    # chunks and stopped at the cap; a frame that lies about its size fails.
    unsized = zstandard.ZstdCompressor(write_content_size=False)
    big, small = b"\x00" * 1_000_000, b"abc" * 1000
    await inner.set(NS, "big", HEADER + b"\x02" + unsized.compress(big), ttl=TTL)
    await inner.set(NS, "small", HEADER + b"\x02" + unsized.compress(small), ttl=TTL)
    lying = bytearray(zstandard.ZstdCompressor().compress(small))
    lying[5] ^= 0x01  # the declared content size (single-segment frame header)
    await inner.set(NS, "lying", HEADER + b"\x02" + bytes(lying), ttl=TTL)
    reader = Compressed(inner, "zstd", max_size=100_000)
    assert await reader.get(NS, "small") == small
    with pytest.raises(CorruptionError, match="max_size"):
        await reader.get(NS, "big")
    assert await Compressed(inner, "zstd", max_size=1_000_000).get(NS, "big") == big
    with pytest.raises(CorruptionError):
        await reader.get(NS, "lying")


async def test_damaged_and_unknown_payloads_are_corruption(inner: FullStore) -> None:
    store = Compressed(inner, "zlib", min_size=0)
    cases = {
        "zlib": HEADER + b"\x01garbage",
        "truncated": HEADER + b"\x01" + zlib.compress(TEXT)[:20],
        "zstd": HEADER + b"\x02garbage",
        "method": HEADER + b"\x09data",
        "short": HEADER,
    }
    for slot, raw in cases.items():
        await inner.set(NS, slot, raw, ttl=TTL)
        with pytest.raises(CorruptionError):
            await store.get(NS, slot)
    await inner.create_session("bad")
    await inner.append_messages("bad", [json.dumps(MARKER + "zlib:!!notbase64")])
    with pytest.raises(CorruptionError):
        await store.read_messages("bad")


async def test_hash_fields_are_compressed_one_by_one(inner: FullStore) -> None:
    store = Compressed(inner, "zstd", min_size=64)
    await store.hset(NS, "h", {"big": TEXT, "small": b"tiny"}, ttl=TTL)
    raw = await inner.hgetall(NS, "h")
    assert raw["big"].startswith(HEADER + b"\x02")
    assert raw["small"] == HEADER + b"\x00tiny"
    assert await store.hgetall(NS, "h") == {"big": TEXT, "small": b"tiny"}


async def test_messages_and_metadata_stay_json(inner: FullStore) -> None:
    store = Compressed(inner, "zlib", min_size=200)
    long_message = json.dumps({"role": "user", "content": "hello " * 200})
    tricky = json.dumps(MARKER + "zlib:looks encoded")
    messages = [
        long_message,
        '"short"',
        tricky,
        json.dumps(base64.b64encode(os.urandom(300)).decode()),
    ]
    big_meta = {"notes": ["again"] * 200, "n": 1, "m": MARKER + "raw:x"}
    await store.create_session("s", metadata=big_meta)
    await store.append_messages("s", messages)
    raw = await inner.read_messages("s")
    for text in raw:
        json.loads(text)
    assert raw[0].startswith('"' + MARKER + "zlib:")
    assert len(raw[0]) < len(long_message) // 5
    assert raw[1] == '"short"'
    assert raw[2].startswith('"' + MARKER + "raw:")
    assert raw[3] == messages[3], "incompressible: stored as it is"
    assert await store.read_messages("s") == messages
    stored = await inner.get_session("s")
    assert stored is not None
    assert str(stored.metadata["notes"]).startswith(MARKER + "zlib:")
    assert stored.metadata["n"] == 1
    assert stored.metadata["m"].startswith(MARKER + "raw:")
    record = await store.get_session("s")
    assert record is not None
    assert record.metadata == big_meta
    assert await store.pop_messages("s", 2) == messages[2:]


async def test_an_old_message_without_marker_reads_unchanged(inner: FullStore) -> None:
    await inner.create_session("o", metadata={"k": "plain"})
    await inner.append_messages("o", ['{"a": 1}'])
    store = Compressed(inner, "zstd", min_size=0)
    assert await store.read_messages("o") == ['{"a": 1}']
    record = await store.get_session("o")
    assert record is not None
    assert record.metadata == {"k": "plain"}
    raw = base64.b64encode(zlib.compress(b'"x"')).decode()
    await inner.append_messages("o", [json.dumps(f"{MARKER}zlib:{raw}")])
    assert (await store.read_messages("o"))[-1] == '"x"'


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"algorithm": "lz4"}, "unknown algorithm"),
        ({"min_size": -1}, "min_size"),
        ({"min_size": True}, "min_size"),
        ({"max_size": 0}, "max_size"),
        ({"algorithm": "zlib", "level": 10}, "level"),
        ({"algorithm": "zstd", "level": 0}, "level"),
        ({"level": "3"}, "level"),
    ],
    ids=["algorithm", "negative", "bool", "max", "zlib-level", "zstd-level", "str-level"],
)
def test_bad_configuration_is_an_invalid_option(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidOptionError, match=match):
        Compressed(unistore.connect("memory://"), **kwargs)  # type: ignore[arg-type]


def test_zstd_without_its_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(ConfigurationError, match=r'pip install "unistore\[zstd\]"'):
        Compressed(unistore.connect("memory://"))
    Compressed(unistore.connect("memory://"), "zlib")


def test_repr_names_the_algorithm_and_the_inner_store() -> None:
    store = Compressed(unistore.connect("redis://:pw-secret@127.0.0.1:6379/15"), "zlib")
    assert repr(store).startswith("<Compressed zlib of <")
    assert "pw-secret" not in repr(store)


async def test_no_plaintext_reaches_any_backend(store_url: str) -> None:
    """What every driver stores is the compressed form: the value itself is not in it."""
    marker = b"PLAINTEXT-MARKER-" * 64
    async with unistore.connect(store_url, wrappers=[Compressed.using(min_size=0)]) as store:
        await store.set(NS, "s", marker, ttl=TTL)
        await store.hset(NS, "h", {"f": marker}, ttl=TTL)
        await store.create_session("p", metadata={"k": marker.decode()})
        await store.append_messages("p", [json.dumps(marker.decode())])
        inner = store.inner  # type: ignore[attr-defined]
        raw = [await inner.get(NS, "s"), *((await inner.hgetall(NS, "h")).values())]
        texts = await inner.read_messages("p")
        record = await inner.get_session("p")
        for value in raw:
            assert value is not None
            assert value.startswith(HEADER)
            assert marker not in value
            assert len(value) < len(marker) // 4
        assert len(texts) == 1
        assert texts[0].startswith('"' + MARKER)
        assert marker.decode() not in texts[0]
        assert marker.decode() not in json.dumps(record.metadata)
        assert await store.get(NS, "s") == marker
        assert await store.read_messages("p") == [json.dumps(marker.decode())]
