"""Conformance tests of argument checks: one set of rules, and a refused call changes nothing.

Each case is a divergence users met: a driver that turned ``5`` into the slot
``"5"``, took ``ttl=True`` for one second, stored ``[("a", 1)]`` as metadata
or deleted the fields ``x`` and ``y`` for ``hdel(fields="xy")``. Every driver
must raise :class:`~unistore.errors.ValidationError` before any I/O.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from unistore.errors import ValidationError
from unistore.protocols import Capability
from unistore.testing._fixtures import SuiteFixtures
from unistore.testing._support import LONG_TTL, FullStore, IdFactory, require

__all__ = ["ValidationSuite"]

KV = Capability.KEY_VALUE
HASH = Capability.HASH
COUNTER = Capability.COUNTER
TTL = Capability.TTL
LIFECYCLE = Capability.NAMESPACE_LIFECYCLE
TX = Capability.TRANSACTIONS
SESSIONS = Capability.SESSION_DOCUMENTS

#: Ids that are not ``str``: each must be refused, never converted.
BAD_IDS: list[Any] = [5, None, b"s", True]

#: TTLs that are neither a positive finite number of seconds nor ``None`` (never expires).
BAD_TTLS: list[Any] = [True, False, 0, -1, -0.5, math.nan, math.inf, -math.inf, "5"]

#: Field lists that are not a list of names: a str would name each character.
BAD_FIELDS: list[Any] = ["xy", b"xy", "x", 5, None, [5], ["x", b"y"]]

#: Metadata that is not a JSON-compatible mapping with str keys.
BAD_METADATA: list[Any] = [[("a", 1)], "text", 5, {1: "a"}, {"f": math.nan}, {"o": object()}]


def _metadata_id(metadata: Any) -> str:
    # Stable across processes (a parallel run compares ids): no object address.
    return repr(metadata).split(" at 0x")[0]


Call = Callable[[FullStore, str], Awaitable[Any]]


def _id_calls(bad: Any) -> dict[str, Call]:
    """Every slot operation with ``bad`` as its slot name, keyed by name."""
    return {
        "get": lambda s, ns: s.get(ns, bad),
        "get_text": lambda s, ns: s.get_text(ns, bad),
        "set": lambda s, ns: s.set(ns, bad, b"v", ttl=LONG_TTL),
        "delete": lambda s, ns: s.delete(ns, bad),
        "hget": lambda s, ns: s.hget(ns, bad, "f"),
        "hget_text": lambda s, ns: s.hget_text(ns, bad, "f"),
        "hset": lambda s, ns: s.hset(ns, bad, {"f": b"v"}, ttl=LONG_TTL),
        "hset-field": lambda s, ns: s.hset(ns, "h", {bad: b"v"}, ttl=LONG_TTL),
        "hdel": lambda s, ns: s.hdel(ns, bad, ["f"]),
        "hgetall": lambda s, ns: s.hgetall(ns, bad),
        "hkeys": lambda s, ns: s.hkeys(ns, bad),
        "incr": lambda s, ns: s.incr(ns, bad, ttl=LONG_TTL),
        "get_ttl": lambda s, ns: s.get_ttl(ns, bad),
        "expire": lambda s, ns: s.expire(ns, bad, LONG_TTL),
        "slot_kind": lambda s, ns: s.slot_kind(ns, bad),
    }


_NEEDS: dict[str, tuple[Capability, ...]] = {
    "get": (KV,),
    "get_text": (KV,),
    "set": (KV,),
    "delete": (KV,),
    "hget": (HASH,),
    "hget_text": (HASH,),
    "hset": (HASH,),
    "hset-field": (HASH,),
    "hdel": (HASH,),
    "hgetall": (HASH,),
    "hkeys": (HASH,),
    "incr": (COUNTER,),
    "get_ttl": (TTL,),
    "expire": (TTL,),
    "slot_kind": (LIFECYCLE,),
}


async def _assert_untouched(store: FullStore, ns: str, names: list[str]) -> None:
    """Nothing was written: neither the slots named nor anything else of ``ns``."""
    caps = store.capabilities
    if LIFECYCLE in caps:
        assert await store.slots(ns) == [], "a refused call wrote a slot"
    for name in names:
        if KV in caps and HASH in caps and LIFECYCLE in caps:
            assert await store.slot_kind(ns, name) is None, name
        elif KV in caps:
            assert await store.get(ns, name) is None, name
        elif HASH in caps:
            assert await store.hgetall(ns, name) == {}, name


class ValidationSuite(SuiteFixtures):
    """Arguments of the wrong type or range raise ValidationError and change nothing."""

    @pytest.mark.asyncio
    @pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
    @pytest.mark.parametrize("call", list(_NEEDS))
    async def test_a_slot_name_that_is_not_str_is_refused(
        self, store: FullStore, ns: str, call: str, bad: Any
    ) -> None:
        """``set(ns, 5, ...)`` raises ValidationError; no slot ``"5"`` appears."""
        require(store, *_NEEDS[call])
        operation = _id_calls(bad)[call]
        with pytest.raises(ValidationError):
            await operation(store, ns)
        await _assert_untouched(store, ns, [str(bad), "h", "5", "s"])

    @pytest.mark.asyncio
    @pytest.mark.parametrize("bad", [5, None, b"ns"], ids=repr)
    async def test_a_namespace_that_is_not_str_is_refused(
        self, store: FullStore, ids: IdFactory, bad: Any
    ) -> None:
        """A namespace is a str too, for writes and whole-namespace operations."""
        caps = store.capabilities
        calls: list[Callable[[], Awaitable[Any]]] = []
        if KV in caps:
            calls += [lambda: store.set(bad, "s", b"v", ttl=LONG_TTL), lambda: store.get(bad, "s")]
        if HASH in caps:
            calls.append(lambda: store.hset(bad, "h", {"f": b"v"}, ttl=LONG_TTL))
        if COUNTER in caps:
            calls.append(lambda: store.incr(bad, "c", ttl=LONG_TTL))
        if LIFECYCLE in caps:
            calls += [
                lambda: store.slots(bad),
                lambda: store.touch(bad, ttl=LONG_TTL),
                lambda: store.purge(bad),
            ]
        if TX in caps:
            calls.append(lambda: store.transaction(bad, watch=["s"]).__aenter__())
        if not calls:
            pytest.skip("no capability with a namespace argument")
        for call in calls:
            with pytest.raises(ValidationError):
                await call()
        if LIFECYCLE in caps and not isinstance(bad, bytes | type(None)):
            assert await store.slots(ids.track_ns(str(bad))) == []

    @pytest.mark.asyncio
    @pytest.mark.parametrize("ttl", BAD_TTLS, ids=repr)
    async def test_a_ttl_that_is_not_positive_finite_seconds_is_refused(
        self, store: FullStore, ns: str, ttl: Any
    ) -> None:
        """``ttl=True`` is not one second; NaN, infinity and strings are refused too."""
        caps = store.capabilities
        if not caps & {KV, HASH, COUNTER}:
            pytest.skip("no capability that writes slots")
        if KV in caps:
            with pytest.raises(ValidationError):
                await store.set(ns, "s", b"v", ttl=ttl)
        if HASH in caps:
            with pytest.raises(ValidationError):
                await store.hset(ns, "h", {"f": b"v"}, ttl=ttl)
        if COUNTER in caps:
            with pytest.raises(ValidationError):
                await store.incr(ns, "c", ttl=ttl)
        await _assert_untouched(store, ns, ["s", "h", "c"])
        if KV in caps and (TTL in caps or LIFECYCLE in caps):
            await store.set(ns, "kept", b"v", ttl=100)
            if TTL in caps:
                with pytest.raises(ValidationError):
                    await store.expire(ns, "kept", ttl)
            if LIFECYCLE in caps:
                with pytest.raises(ValidationError):
                    await store.touch(ns, ttl=ttl)
            assert await store.get(ns, "kept") == b"v"
            if TTL in caps:
                left = await store.get_ttl(ns, "kept")
                assert left is not None
                assert 90 < left <= 100, f"the TTL changed to {left}"

    @pytest.mark.asyncio
    async def test_expire_and_touch_need_a_ttl(self, store: FullStore, ns: str) -> None:
        """``None`` means "never expires" for writes only: expire and touch refuse it."""
        caps = store.capabilities
        if KV not in caps or not caps & {TTL, LIFECYCLE}:
            pytest.skip("the driver declares neither ttl nor namespace_lifecycle with key_value")
        await store.set(ns, "kept", b"v", ttl=100)
        if TTL in caps:
            with pytest.raises(ValidationError, match="ttl"):
                await store.expire(ns, "kept", None)  # type: ignore[arg-type]
        if LIFECYCLE in caps:
            with pytest.raises(ValidationError, match="ttl"):
                await store.touch(ns, ttl=None)  # type: ignore[arg-type]
        assert await store.get(ns, "kept") == b"v"
        if TTL in caps:
            left = await store.get_ttl(ns, "kept")
            assert left is not None
            assert 90 < left <= 100, f"the TTL changed to {left}"

    @pytest.mark.asyncio
    @pytest.mark.parametrize("fields", BAD_FIELDS, ids=repr)
    async def test_hdel_fields_must_be_a_list_of_names(
        self, store: FullStore, ns: str, fields: Any
    ) -> None:
        """``hdel(fields="xy")`` raises and deletes nothing: not x, not y, not xy."""
        require(store, HASH)
        every = {"x": b"1", "y": b"2", "xy": b"3", "5": b"4"}
        await store.hset(ns, "h", every, ttl=LONG_TTL)
        with pytest.raises(ValidationError):
            await store.hdel(ns, "h", fields)
        assert await store.hgetall(ns, "h") == every
        if TX in store.capabilities:
            async with store.transaction(ns, watch=["h"]) as tx:
                with pytest.raises(ValidationError):
                    tx.hdel("h", fields)
                await tx.commit()
            assert await store.hgetall(ns, "h") == every

    @pytest.mark.asyncio
    async def test_queued_writes_check_their_arguments(self, store: FullStore, ns: str) -> None:
        """A transaction refuses bad slot names and TTLs as they are queued; commit writes none."""
        require(store, TX, KV, HASH)
        async with store.transaction(ns, watch=["w"]) as tx:
            with pytest.raises(ValidationError):
                tx.set(5, b"v", ttl=LONG_TTL)  # type: ignore[arg-type]
            with pytest.raises(ValidationError):
                tx.set("s", b"v", ttl=True)
            with pytest.raises(ValidationError):
                tx.hset("h", {"f": b"v"}, ttl=math.nan)
            with pytest.raises(ValidationError):
                tx.delete(None)  # type: ignore[arg-type]
            await tx.commit()
        await _assert_untouched(store, ns, ["5", "s", "h"])
        with pytest.raises(ValidationError):
            store.transaction(ns, watch="w")
        with pytest.raises(ValidationError):
            store.transaction(ns, watch=[5])  # type: ignore[list-item]

    @pytest.mark.asyncio
    @pytest.mark.parametrize("metadata", BAD_METADATA, ids=_metadata_id)
    async def test_session_metadata_must_be_a_json_mapping(
        self, store: FullStore, ids: IdFactory, metadata: Any
    ) -> None:
        """``metadata=[("a", 1)]`` raises on create, fork and update; nothing is stored."""
        require(store, SESSIONS)
        sid, parent = ids.session(), ids.session("-parent")
        with pytest.raises(ValidationError):
            await store.create_session(sid, metadata=metadata)
        assert await store.get_session(sid) is None
        await store.create_session(parent, metadata={"k": 1})
        with pytest.raises(ValidationError):
            await store.fork_session(parent, sid, metadata=metadata)
        assert await store.get_session(sid) is None
        with pytest.raises(ValidationError):
            await store.update_session(parent, metadata=metadata)
        record = await store.get_session(parent)
        assert record is not None
        assert dict(record.metadata) == {"k": 1}

    @pytest.mark.asyncio
    @pytest.mark.parametrize("bad", [5, None, b"sid"], ids=repr)
    async def test_a_session_id_that_is_not_str_is_refused(
        self, store: FullStore, bad: Any
    ) -> None:
        """Session ids are str; a refused create stores nothing."""
        require(store, SESSIONS)
        with pytest.raises(ValidationError):
            await store.create_session(bad)
        with pytest.raises(ValidationError):
            await store.get_session(bad)
        if not isinstance(bad, bytes | type(None)):
            assert await store.get_session(str(bad)) is None
