"""StoreWrapper: every operation delegated through one hook, values through the transforms."""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any, TypeVar

import pytest

import unistore
from unistore.errors import (
    CorruptionError,
    DriverError,
    SlotKindError,
    StoreClosedError,
    TransactionConflictError,
    ValidationError,
)
from unistore.protocols import FullStore, Transaction
from unistore.sdk import StoreWrapper, WrappedTransaction

T = TypeVar("T")
TTL = 60.0


class Spy(StoreWrapper):
    """An identity wrapper that records what goes through ``_call``."""

    def __init__(self, inner: FullStore) -> None:
        super().__init__(inner)
        self.calls: list[tuple[str, str | None]] = []

    async def _call(self, operation: str, target: str | None, call: Awaitable[T]) -> T:
        self.calls.append((operation, target))
        return await call


class Toy(StoreWrapper):
    """A reversible toy transform with a header, tagged by what it transforms."""

    def _encode_value(self, ns: str, slot: str, value: bytes) -> bytes:
        return b"V|" + value[::-1]

    def _decode_value(self, ns: str, slot: str, stored: bytes) -> bytes:
        if not stored.startswith(b"V|"):
            raise ValueError("no header")
        return stored[2:][::-1]

    def _encode_field(self, ns: str, slot: str, field: str, value: bytes) -> bytes:
        return b"F|" + field.encode() + b"|" + value[::-1]

    def _decode_field(self, ns: str, slot: str, field: str, stored: bytes) -> bytes:
        head = b"F|" + field.encode() + b"|"
        if not stored.startswith(head):
            raise CorruptionError("field moved")
        return stored[len(head) :][::-1]

    def _encode_message(self, scope: str | None, text: str) -> str:
        return json.dumps({"toy": text[::-1], "scope": scope})

    def _decode_message(self, scope: str | None, text: str) -> str:
        stored = json.loads(text)
        assert stored["scope"] == scope
        return str(stored["toy"])[::-1]

    def _encode_metadata(self, scope: str | None, metadata: Mapping[str, Any]) -> dict[str, Any]:
        return {key: ["toy", value] for key, value in metadata.items()}

    def _decode_metadata(self, scope: str | None, metadata: Mapping[str, Any]) -> dict[str, Any]:
        return {key: value[1] for key, value in metadata.items()}


@pytest.fixture
async def inner() -> AsyncIterator[FullStore]:
    async with unistore.connect(f"memory://wrap-{uuid.uuid4().hex}") as store:
        yield store


def _protocol_methods(protocol: type) -> set[str]:
    names = set()
    for klass in protocol.__mro__:
        if klass is object or klass.__name__ in ("Protocol", "Generic"):
            continue
        for name, member in vars(klass).items():
            if callable(member) and (not name.startswith("_") or name in ("__aenter__",)):
                names.add(name)
    return names


# One call per FullStore method: (method, args, kwargs, the target _call sees).
_NS = "n"
CALLS: dict[str, tuple[tuple[Any, ...], dict[str, Any], str | None]] = {
    "get": ((_NS, "s"), {}, _NS),
    "get_text": ((_NS, "s"), {}, _NS),
    "set": ((_NS, "s", b"v"), {"ttl": TTL}, _NS),
    "delete": ((_NS, "gone"), {}, _NS),
    "get_many": ((_NS, ["s"]), {}, _NS),
    "set_many": ((_NS, {"m": b"v"}), {"ttl": TTL}, _NS),
    "delete_many": ((_NS, ["gone"]), {}, _NS),
    "hget": ((_NS, "h", "f"), {}, _NS),
    "hget_text": ((_NS, "h", "f"), {}, _NS),
    "hset": ((_NS, "h", {"f": b"v"}), {"ttl": TTL}, _NS),
    "hdel": ((_NS, "h", ["g"]), {}, _NS),
    "hgetall": ((_NS, "h"), {}, _NS),
    "hkeys": ((_NS, "h"), {}, _NS),
    "incr": ((_NS, "c"), {"ttl": TTL}, _NS),
    "get_ttl": ((_NS, "s"), {}, _NS),
    "expire": ((_NS, "s", TTL), {}, _NS),
    "slots": ((_NS,), {}, _NS),
    "slot_kind": ((_NS, "s"), {}, _NS),
    "touch": ((_NS,), {"ttl": TTL}, _NS),
    "create_session": (("s1",), {"scope": "sc", "metadata": {"k": 1}}, "sc"),
    "fork_session": (("s1", "s2"), {"scope": "sc"}, "sc"),
    "append_messages": (("s1", ['"a"', '"b"']), {"scope": "sc"}, "sc"),
    "replace_messages": (("s1", 1, ['"c"']), {"expected_length": 2, "scope": "sc"}, "sc"),
    "pop_messages": (("s1",), {"scope": "sc"}, "sc"),
    "read_messages": (("s1",), {"scope": "sc"}, "sc"),
    "get_session": (("s1",), {"scope": "sc"}, "sc"),
    "list_sessions": ((), {"scope": "sc"}, "sc"),
    "update_session": (("s1",), {"scope": "sc", "label": "x"}, "sc"),
    "delete_session": (("s2",), {"scope": "sc"}, "sc"),
    "purge": ((_NS,), {}, _NS),
}
#: Not delegated through ``_call``: lifecycle, and what returns an iterator or a transaction.
OUTSIDE_CALL = {"aclose", "__aenter__", "iter_namespaces", "iter_scopes", "transaction"}
#: Methods that ``_call`` sees as another operation: the decoding reads are the reads.
REPORTED_AS = {"get_text": "get", "hget_text": "hget"}


def test_the_wrapper_defines_every_method_of_the_contract() -> None:
    for name in _protocol_methods(FullStore):
        assert name in vars(StoreWrapper), f"StoreWrapper does not define {name}"
    for name in _protocol_methods(Transaction):
        assert name in vars(WrappedTransaction), f"WrappedTransaction does not define {name}"
    # A method added to the contract must be added to this table (and to the wrapper).
    assert _protocol_methods(FullStore) == set(CALLS) | OUTSIDE_CALL


async def test_every_operation_goes_through_call_with_its_name_and_target(
    inner: FullStore,
) -> None:
    spy = Spy(inner)
    for name, (args, kwargs, target) in CALLS.items():
        await getattr(spy, name)(*args, **kwargs)
        assert spy.calls[-1] == (REPORTED_AS.get(name, name), target), name
    assert len(spy.calls) == len(CALLS)
    await spy.set(_NS, "w", b"1", ttl=TTL)
    assert [ns async for ns in spy.iter_namespaces()] == [_NS]
    await spy.create_session("s3")
    assert spy.calls[-1] == ("create_session", None), "the default scope is None"
    assert [scope async for scope in spy.iter_scopes()] != []


async def test_transactions_go_through_call_and_the_transforms(inner: FullStore) -> None:
    class ToySpy(Toy, Spy):
        pass

    store = ToySpy(inner)
    await store.set(_NS, "a", b"abc", ttl=TTL)
    await store.hset(_NS, "h", {"f": b"xyz"}, ttl=TTL)
    store.calls.clear()
    async with store.transaction(_NS, ["a", "h"]) as tx:
        assert isinstance(tx, WrappedTransaction)
        assert await tx.get("a") == b"abc"
        assert await tx.hget("h", "f") == b"xyz"
        assert await tx.hgetall("h") == {"f": b"xyz"}
        tx.set("a", b"new", ttl=TTL)
        tx.hset("h", {"g": b"gg"}, ttl=TTL)
        tx.hdel("h", ["f"])
        tx.delete("unknown")
        await tx.commit()
    assert [op for op, _ in store.calls] == [
        "transaction.begin",
        "transaction.get",
        "transaction.hget",
        "transaction.hgetall",
        "transaction.commit",
    ]
    assert {target for _, target in store.calls} == {_NS}
    assert await inner.get(_NS, "a") == b"V|wen"
    assert await inner.hgetall(_NS, "h") == {"g": b"F|g|gg"}
    assert await store.hgetall(_NS, "h") == {"g": b"gg"}


async def test_slot_and_field_values_are_transformed_on_the_way_through(
    inner: FullStore,
) -> None:
    store = Toy(inner)
    await store.set(_NS, "s", b"hello", ttl=TTL)
    assert await inner.get(_NS, "s") == b"V|olleh"
    assert await store.get(_NS, "s") == b"hello"
    await store.set_many(_NS, {"a": b"12x", "b": bytearray(b"")}, ttl=TTL)  # type: ignore[dict-item]
    assert await inner.get_many(_NS, ["a", "b"]) == [b"V|x21", b"V|"]
    assert await store.get_many(_NS, ["a", "b", "none"]) == [b"12x", b"", None]
    assert await store.hset(_NS, "h", {"f": b"one", "g": b"two"}, ttl=TTL) == 2
    assert await inner.hget(_NS, "h", "f") == b"F|f|eno"
    assert await store.hget(_NS, "h", "f") == b"one"
    assert await store.hget(_NS, "h", "none") is None
    assert await store.hgetall(_NS, "h") == {"f": b"one", "g": b"two"}
    assert await store.hkeys(_NS, "h") == ["f", "g"]
    assert await store.slots(_NS) == ["a", "b", "h", "s"]


async def test_text_reads_decode_after_the_transform(inner: FullStore) -> None:
    class ToySpy(Toy, Spy):
        pass

    store = ToySpy(inner)
    await store.set(_NS, "s", "h\u00e9llo".encode(), ttl=TTL)
    await store.hset(_NS, "h", {"f": "\U0001f600".encode()}, ttl=TTL)
    await store.set(_NS, "c", b"41", ttl=TTL)
    store.calls.clear()
    # Reversed, the stored bytes are not UTF-8: the text is what the transform gives back.
    assert await store.get_text(_NS, "s") == "h\u00e9llo"
    assert await store.hget_text(_NS, "h", "f") == "\U0001f600"
    assert await store.get_text(_NS, "c") == "41"
    assert await store.get_text(_NS, "none") is None
    assert await store.hget_text(_NS, "h", "none") is None
    assert [op for op, _ in store.calls] == ["get", "hget", "get", "get", "hget"]
    await store.set(_NS, "bin", b"\xffsecret", ttl=TTL)
    await store.hset(_NS, "h", {"g": b"\xfesecret"}, ttl=TTL)
    for read in (store.get_text(_NS, "bin"), store.hget_text(_NS, "h", "g")):
        with pytest.raises(CorruptionError, match="offset 0") as info:
            await read
        assert "secret" not in str(info.value)
        assert info.value.__cause__ is None


async def test_canonical_integers_stay_plain_so_incr_works(inner: FullStore) -> None:
    store = Toy(inner)
    await store.set(_NS, "c", b"41", ttl=TTL)
    assert await inner.get(_NS, "c") == b"41"
    assert await store.incr(_NS, "c", ttl=TTL) == 42
    assert await store.get(_NS, "c") == b"42"
    # Not canonical: encoded, so incr refuses it like the plain store would.
    await store.set(_NS, "z", b"05", ttl=TTL)
    assert await inner.get(_NS, "z") == b"V|50"
    with pytest.raises(SlotKindError):
        await store.incr(_NS, "z", ttl=TTL)
    assert await store.get(_NS, "z") == b"05"


async def test_messages_and_metadata_are_transformed_records_decoded(inner: FullStore) -> None:
    store = Toy(inner)
    record = await store.create_session("s", scope="u1", metadata={"a": 1}, label="L")
    assert record.metadata == {"a": 1}
    assert record.label == "L"
    assert (await inner.get_session("s", scope="u1")).metadata == {"a": ["toy", 1]}  # type: ignore[union-attr]
    assert await store.append_messages("s", ['"hi"', "[1]"], scope="u1") == 2
    raw = await inner.read_messages("s", scope="u1")
    assert [json.loads(text)["toy"] for text in raw] == ['"ih"', "]1["]
    assert await store.read_messages("s", scope="u1") == ['"hi"', "[1]"]
    assert await store.read_messages("s", scope="u1", last=1) == ["[1]"]
    fork = await store.fork_session("s", "f", scope="u1", metadata={"b": "x"})
    assert fork.metadata == {"b": "x"}
    assert await store.read_messages("f", scope="u1") == ['"hi"', "[1]"]
    await store.replace_messages("f", 1, ['{"k": 2}'], expected_length=2, scope="u1")
    assert await store.pop_messages("f", scope="u1") == ['{"k": 2}']
    got = await store.get_session("s", scope="u1")
    assert got is not None
    assert got.metadata == {"a": 1}
    page = await store.list_sessions(scope="u1")
    assert sorted((r.id, str(r.metadata)) for r in page.items) == [
        ("f", "{'b': 'x'}"),
        ("s", "{'a': 1}"),
    ]
    updated = await store.update_session("s", scope="u1", metadata={"c": [1]})
    assert updated.metadata == {"c": [1]}
    await store.append_messages("s", ['"x"'], scope="u1", metadata={"d": None})
    got = await store.get_session("s", scope="u1")
    assert got is not None
    assert got.metadata == {"d": None}
    assert await store.get_session("missing", scope="u1") is None


async def test_arguments_are_checked_before_any_transform(inner: FullStore) -> None:
    store = Toy(inner)
    with pytest.raises(ValidationError, match="slot value"):
        await store.set(_NS, "s", "text", ttl=TTL)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="namespace"):
        await store.get(1, "s")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="hash value"):
        await store.hset(_NS, "h", {"f": 1}, ttl=TTL)  # type: ignore[dict-item]
    with pytest.raises(ValidationError, match="message"):
        await store.append_messages("s", [b"x"])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="metadata"):
        await store.create_session("s", metadata={"x": object()})
    with pytest.raises(ValidationError, match="scope"):
        await store.read_messages("s", scope="")
    assert await inner.slots(_NS) == []


async def test_undecodable_data_is_a_corruption_error_naming_no_value(inner: FullStore) -> None:
    store = Toy(inner)
    await inner.set(_NS, "s", b"secret-plain", ttl=TTL)
    with pytest.raises(CorruptionError, match="slot 's'") as info:
        await store.get(_NS, "s")
    assert "secret" not in str(info.value)
    await store.hset(_NS, "h", {"f": b"one"}, ttl=TTL)
    moved = await inner.hget(_NS, "h", "f")
    assert moved is not None
    await inner.hset(_NS, "h", {"g": moved}, ttl=TTL)
    with pytest.raises(CorruptionError, match="moved"):
        await store.hgetall(_NS, "h")
    await inner.create_session("p")
    await inner.append_messages("p", ['"plain"'])
    with pytest.raises(CorruptionError, match="message"):
        await store.read_messages("p")


async def test_a_failing_encoder_is_a_driver_error(inner: FullStore) -> None:
    class Broken(StoreWrapper):
        def _encode_value(self, ns: str, slot: str, value: bytes) -> bytes:
            raise RuntimeError("boom")

    with pytest.raises(DriverError, match="could not encode"):
        await Broken(inner).set(_NS, "s", b"v", ttl=TTL)
    assert await inner.get(_NS, "s") is None


async def test_it_is_a_full_store_with_the_inner_identity_and_hooks(inner: FullStore) -> None:
    store = Spy(inner)
    assert isinstance(store, FullStore)
    assert store.url == inner.url
    assert store.capabilities == inner.capabilities
    assert store.inner is inner
    assert repr(store) == f"<Spy of {inner!r}>"
    # Hooks outside the contract reach the inner store.
    assert store.simulate_concurrent_change(_NS, "w") == 0
    async with store.transaction(_NS, ["w"]) as tx:
        tx.set("w", b"x", ttl=TTL)
        assert store.simulate_concurrent_change(_NS, "w") == 1
        assert tx.conflicted  # type: ignore[attr-defined]
        with pytest.raises(TransactionConflictError):
            await tx.commit()
    with pytest.raises(AttributeError):
        _ = store._missing_private
    signature = inspect.signature(StoreWrapper._call)
    assert list(signature.parameters) == ["self", "operation", "target", "call"]


async def test_repr_keeps_secrets_redacted() -> None:
    store = Spy(unistore.connect("redis://:hunter2@127.0.0.1:6379/15"))
    try:
        assert "hunter2" not in repr(store)
        assert "hunter2" not in str(store.url)
    finally:
        await store.aclose()


async def test_closing_closes_both_and_every_operation_refuses() -> None:
    inner = unistore.connect("memory://")
    async with Spy(inner) as store:
        await store.set(_NS, "s", b"v", ttl=TTL)
    assert store.closed
    assert inner.closed  # type: ignore[attr-defined]
    await store.aclose()
    with pytest.raises(StoreClosedError):
        await store.get(_NS, "s")
    with pytest.raises(StoreClosedError):
        await store.set(_NS, "s", "not even bytes", ttl=TTL)  # type: ignore[arg-type]
    with pytest.raises(StoreClosedError):
        store.transaction(_NS, ["s"])
    with pytest.raises(StoreClosedError):
        await store.read_messages("s")


def test_using_builds_a_factory_that_hides_its_arguments() -> None:
    class Keyed(StoreWrapper):
        def __init__(self, inner: FullStore, key: bytes, *, mode: str = "a") -> None:
            super().__init__(inner)
            self.key, self.mode = key, mode

    factory = Keyed.using(b"topsecret", mode="b")
    assert "topsecret" not in repr(factory)
    assert repr(factory).endswith("Keyed.using(...)")
    wrapped = factory(unistore.connect("memory://"))
    assert isinstance(wrapped, Keyed)
    assert (wrapped.key, wrapped.mode) == (b"topsecret", "b")
