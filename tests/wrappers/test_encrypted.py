"""Encrypted: plaintext never reaches the backend; moved, tampered and unknown-key values fail."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

import unistore
from unistore import StoreURL
from unistore.errors import ConfigurationError, CorruptionError, InvalidOptionError, SlotKindError
from unistore.wrappers import Encrypted

KEY1 = bytes(range(32))
KEY2 = bytes(range(100, 132))
MARK = "PLAINTEXT-MARKER-7f3a"
KEYS = {"k1": KEY1}


def _walk(obj: Any, out: list[bytes], seen: set[int], depth: int = 0) -> None:
    """Collect every bytes/str reachable from a memory store's internals."""
    if id(obj) in seen or depth > 12:
        return
    seen.add(id(obj))
    if isinstance(obj, bytes | bytearray):
        out.append(bytes(obj))
    elif isinstance(obj, str):
        out.append(obj.encode("utf-8", "surrogatepass"))
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _walk(key, out, seen, depth + 1)
            _walk(value, out, seen, depth + 1)
    elif isinstance(obj, list | tuple | set | frozenset):
        for item in obj:
            _walk(item, out, seen, depth + 1)
    elif hasattr(obj, "__dict__") or hasattr(type(obj), "__slots__"):
        if type(obj).__module__.startswith(("asyncio", "threading", "logging")):
            return
        names = list(getattr(obj, "__dict__", {}))
        for cls in type(obj).__mro__:
            names += list(getattr(cls, "__slots__", ()))
        for name in names:
            try:
                value = getattr(obj, name)
            except AttributeError:
                continue
            _walk(value, out, seen, depth + 1)


def raw_bytes(url: str, store: Any, tmp_path: Path) -> bytes:
    """Everything the backend of ``url`` holds, read around unistore."""
    parsed = StoreURL.parse(url)
    if parsed.scheme == "memory":
        chunks: list[bytes] = []
        _walk(store, chunks, set())
        return b"\n".join(chunks)
    if parsed.scheme in ("sqlite", "file"):
        return b"\n".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    if parsed.scheme == "redis":
        import redis

        tag = parsed.query["key_prefix"]
        client = redis.Redis.from_url(
            parsed.with_options().render(hide_secrets=False).split("?")[0]
        )
        out: list[bytes] = []
        try:
            for key in client.scan_iter(match=f"*{tag}*", count=500):
                kind = client.type(key).decode()
                if kind == "string":
                    out.append(client.get(key) or b"")
                elif kind == "hash":
                    out += [k + b"=" + v for k, v in client.hgetall(key).items()]
                elif kind == "list":
                    out += client.lrange(key, 0, -1)
                elif kind == "zset":
                    out += client.zrange(key, 0, -1)
                elif kind == "set":
                    out += list(client.smembers(key))
                elif kind == "stream":
                    out += [repr(entry).encode() for entry in client.xrange(key)]
        finally:
            client.close()
        return b"\n".join(out)
    if parsed.scheme == "postgresql":
        import psycopg
        from psycopg import sql

        prefix = parsed.query["table_prefix"]
        with psycopg.connect(
            host=parsed.host, port=parsed.port, user=parsed.username,
            dbname=parsed.path.lstrip("/"), autocommit=True,
        ) as conn:  # fmt: skip
            tables = conn.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE starts_with(table_name, %s)",
                (prefix,),
            ).fetchall()
            assert tables, "no tables found under the prefix"
            rows = []
            for schema, name in tables:
                query = sql.SQL("SELECT t::text FROM {}.{} t").format(
                    sql.Identifier(schema), sql.Identifier(name)
                )
                rows += [row[0] for row in conn.execute(query)]
        return "\n".join(rows).encode()
    raise AssertionError(url)


async def _write_everything(store: Any) -> None:
    await store.set("ns", "s", f"value {MARK}".encode(), ttl=600)
    await store.set_many("ns", {"m": f"many {MARK}".encode()}, ttl=600)
    await store.hset("ns", "h", {"f": f"field {MARK}".encode()}, ttl=600)
    await store.create_session("sid", metadata={"note": f"meta {MARK}"})
    await store.append_messages("sid", [f'{{"text": "message {MARK}"}}'])


def _marks(raw: bytes) -> bool:
    return MARK.encode() in raw or base64.b64encode(MARK.encode()) in raw


async def test_plaintext_never_reaches_the_backend(store_url: str, tmp_path: Path) -> None:
    """Slot values, fields, messages and metadata: absent raw with the wrapper, present without."""
    plain_url = store_url
    async with unistore.connect(plain_url) as bare:
        await _write_everything(bare)
        assert await bare.get("ns", "s") == f"value {MARK}".encode()
        assert MARK.encode() in raw_bytes(plain_url, bare, tmp_path)
        await bare.purge("ns")
        await bare.delete_session("sid")
        destroy = getattr(bare, "destroy", None)
        if destroy is not None:
            await destroy()
    _remove_files(tmp_path)
    async with unistore.connect(plain_url) as inner:
        store = Encrypted(inner, keys=KEYS, current="k1")
        await _write_everything(store)
        assert await store.get("ns", "s") == f"value {MARK}".encode()
        assert await store.hgetall("ns", "h") == {"f": f"field {MARK}".encode()}
        assert await store.read_messages("sid") == [f'{{"text": "message {MARK}"}}']
        record = await store.get_session("sid")
        assert record is not None
        assert record.metadata == {"note": f"meta {MARK}"}
        raw = raw_bytes(plain_url, inner, tmp_path)
        assert raw  # the raw read sees the stored data
        assert not _marks(raw)


def _remove_files(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            path.unlink()


@pytest.fixture
async def pair() -> Any:
    inner = unistore.connect("memory://")
    async with inner:
        yield inner, Encrypted(inner, keys=KEYS, current="k1")


async def test_a_value_moved_to_another_slot_namespace_or_field_fails(pair: Any) -> None:
    """Associated data binds the namespace, slot, field and kind."""
    inner, store = pair
    await store.set("ns", "a", b"secret", ttl=60)
    await store.hset("ns", "h", {"f": b"secret"}, ttl=60)
    blob = await inner.get("ns", "a")
    field = await inner.hget("ns", "h", "f")
    await inner.set("ns", "b", blob, ttl=60)
    await inner.set("other", "a", blob, ttl=60)
    await inner.hset("ns", "h", {"g": field}, ttl=60)
    await inner.set("ns", "c", field, ttl=60)  # a field's ciphertext is no slot value
    for ns, slot in [("ns", "b"), ("other", "a"), ("ns", "c")]:
        with pytest.raises(CorruptionError, match="moved from another place"):
            await store.get(ns, slot)
    with pytest.raises(CorruptionError):
        await store.hget("ns", "h", "g")
    assert await store.get("ns", "a") == b"secret"


async def test_a_message_moved_to_another_scope_fails(pair: Any) -> None:
    """Messages are bound to their scope (and metadata to scope and key)."""
    inner, store = pair
    await store.create_session("a", scope="tenant-1", metadata={"x": 1, "y": 2})
    await store.append_messages("a", ['"hello"'], scope="tenant-1")
    stored = await inner.read_messages("a", scope="tenant-1")
    meta = (await inner.get_session("a", scope="tenant-1")).metadata
    await inner.create_session("b", scope="tenant-2", metadata={"x": meta["x"]})
    await inner.append_messages("b", stored, scope="tenant-2")
    with pytest.raises(CorruptionError):
        await store.read_messages("b", scope="tenant-2")
    with pytest.raises(CorruptionError):
        await store.get_session("b", scope="tenant-2")
    await inner.update_session("a", scope="tenant-1", metadata={"x": meta["y"]})
    with pytest.raises(CorruptionError):
        await store.get_session("a", scope="tenant-1")
    # A fork in the same scope shares the parent's stored messages and reads them.
    await inner.update_session("a", scope="tenant-1", metadata={})
    await store.fork_session("a", "fork", scope="tenant-1")
    assert await store.read_messages("fork", scope="tenant-1") == ['"hello"']


@pytest.mark.parametrize("cut", ["flip-body", "flip-header", "truncate", "header-only"])
async def test_tampering_raises_corruption_error(pair: Any, cut: str) -> None:
    """Any bit flip or truncation is detected."""
    inner, store = pair
    await store.set("ns", "a", b"secret value", ttl=60)
    blob = bytearray(await inner.get("ns", "a"))
    if cut == "flip-body":
        blob[-1] ^= 1
    elif cut == "flip-header":
        blob[7] ^= 0x40  # inside the nonce
    elif cut == "truncate":
        del blob[-5:]
    else:
        del blob[10:]
    await inner.set("ns", "a", bytes(blob), ttl=60)
    with pytest.raises(CorruptionError):
        await store.get("ns", "a")


async def test_an_unknown_key_id_is_named_without_key_material(pair: Any) -> None:
    """A ciphertext under a key the ring lacks names the id, never a key."""
    inner, store = pair
    other = Encrypted(inner, keys={"k9": KEY2}, current="k9")
    await other.set("ns", "a", b"secret", ttl=60)
    with pytest.raises(ConfigurationError, match="'k9'") as caught:
        await store.get("ns", "a")
    _assert_no_key(str(caught.value) + repr(caught.value.args))


def _assert_no_key(text: str) -> None:
    for key in (KEY1, KEY2):
        for form in (key.hex(), base64.b64encode(key).decode(), repr(key)[2:-1], str(list(key))):
            assert form not in text


async def test_rotation_old_keys_decrypt_the_current_one_encrypts(pair: Any) -> None:
    """Write under k1, switch to k2: reads work, new writes use k2."""
    inner, store = pair
    await store.set("ns", "old", b"one", ttl=60)
    rotated = Encrypted(inner, keys={"k2": KEY2, "k1": KEY1}, current="k2")
    assert await rotated.get("ns", "old") == b"one"
    await rotated.set("ns", "new", b"two", ttl=60)
    assert (await inner.get("ns", "new"))[5:7] == b"k2"
    assert (await inner.get("ns", "old"))[5:7] == b"k1"
    with pytest.raises(ConfigurationError, match="'k2'"):
        await store.get("ns", "new")


async def test_plain_values_read_back_and_require_encrypted_refuses_them(pair: Any) -> None:
    """Values from before encryption read as they are, unless require_encrypted."""
    inner, store = pair
    await inner.set("ns", "legacy", b"written before", ttl=60)
    assert await store.get("ns", "legacy") == b"written before"
    strict = Encrypted(inner, keys=KEYS, current="k1", require_encrypted=True)
    with pytest.raises(CorruptionError, match="unencrypted"):
        await strict.get("ns", "legacy")


async def test_slots_patterns_limit_encryption(pair: Any) -> None:
    """Only slots matching a pattern are encrypted; ciphertexts decrypt everywhere."""
    inner, _ = pair
    store = Encrypted(inner, keys=KEYS, current="k1", slots=["secret-*"], sessions=False)
    await store.set("ns", "secret-1", b"hidden", ttl=60)
    await store.set("ns", "public", b"shown", ttl=60)
    assert await inner.get("ns", "public") == b"shown"
    assert (await inner.get("ns", "secret-1")).startswith(b"\xffUE")
    await store.create_session("s")
    await store.append_messages("s", ['"plain"'])
    assert await inner.read_messages("s") == ['"plain"']


async def test_counters_stay_plain_and_incr_continues_encrypted_digits(pair: Any) -> None:
    """Digits set are encrypted; incr turns them into a plain counter and keeps the TTL."""
    inner, store = pair
    await store.set("ns", "c", b"41", ttl=600)
    assert (await inner.get("ns", "c")).startswith(b"\xffUE")
    assert await store.incr("ns", "c", ttl=5) == 42
    assert await inner.get("ns", "c") == b"42"
    assert 590 < await inner.get_ttl("ns", "c") <= 600
    await store.set("ns", "t", b"abc", ttl=60)
    with pytest.raises(SlotKindError):
        await store.incr("ns", "t", ttl=60)
    assert await store.get("ns", "t") == b"abc"


@pytest.mark.parametrize(
    ("keys", "current", "needle"),
    [
        ({"k1": KEY1[:15]}, "k1", "15 bytes"),
        ({"k1": "not base64!!"}, "k1", "base64"),
        ({"bad id": KEY1}, "bad id", "invalid key id"),
        ({"k1": KEY1}, "k2", "not among"),
        ({}, "k1", "non-empty"),
        ({"k1": 5}, "k1", "bytes or base64"),
    ],
    ids=["short-key", "bad-base64", "bad-id", "unknown-current", "no-keys", "int-key"],
)
def test_bad_keys_are_refused_without_showing_them(keys: Any, current: str, needle: str) -> None:
    """Configuration errors name the key id and the problem, never the key."""
    with pytest.raises(InvalidOptionError, match=needle) as caught:
        Encrypted(unistore.connect("memory://"), keys=keys, current=current)
    _assert_no_key(str(caught.value) + repr(caught.value.args))


def test_keys_as_base64_text_and_repr_show_ids_only() -> None:
    """Keys may be base64 text; repr and str show the key ids only."""
    text = base64.b64encode(KEY2).decode()
    store = Encrypted(unistore.connect("memory://"), keys={"k1": KEY1, "k2": text}, current="k2")
    assert store.key_ids == ("k1", "k2")
    for shown in (repr(store), str(store), repr(Encrypted.using(keys=KEYS, current="k1"))):
        _assert_no_key(shown)
        assert text not in shown
    assert "k2" in repr(store)


async def test_random_nonces_make_equal_values_differ(pair: Any) -> None:
    """The same value twice gives two different ciphertexts."""
    inner, store = pair
    await store.set("ns", "a", b"same", ttl=60)
    await store.set("ns", "b", b"same", ttl=60)
    assert await inner.get("ns", "a") != await inner.get("ns", "b")


def test_missing_cryptography_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the cryptography package the constructor says what to install."""
    import sys

    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.ciphers.aead", None)
    with pytest.raises(ConfigurationError, match=r'pip install "unistore\[encryption\]"'):
        Encrypted(unistore.connect("memory://"), keys=KEYS, current="k1")


async def test_through_connect_wrappers_the_namespaced_store_is_encrypted(tmp_path: Path) -> None:
    """``connect(url, wrappers=[Encrypted.using(...)])`` encrypts what the products write."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    async with unistore.connect(url, wrappers=[Encrypted.using(keys=KEYS, current="k1")]) as store:
        ns = unistore.NamespacedStore(store, prefix="app", default_ttl=60).namespace("u1")
        await ns.set("profile", f"name {MARK}")
        assert await ns.get("profile") == f"name {MARK}"
    assert MARK.encode() not in raw_bytes(url, None, tmp_path)
