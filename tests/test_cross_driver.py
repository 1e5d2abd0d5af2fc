"""Every driver gives the same answers: random operation sequences, compared across drivers.

Hypothesis draws sequences of slot operations, good and bad (wrong types, int
slot names, ``ttl=True``, NaN, ``hdel(fields="xy")``, non-canonical counters,
int64 overflow), over a few namespaces and slots with hostile names. Each
sequence runs on every available driver; the results and the exception
classes must be identical. TTLs are compared by presence and bounds only.

Servers come from ``UNISTORE_TEST_REDIS_URL`` / ``UNISTORE_TEST_POSTGRES_URL``;
an unreachable one drops its driver from the comparison locally and fails the
test under ``CI``. The run is derandomised, so CI sees the same sequences.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import unistore
from unistore import StoreURL, UnknownSchemeError
from unistore_test_support import DRIVERS, make_store_url

#: TTLs drawn for writes are far longer than a run, so nothing expires mid-sequence.
LONGEST_TTL = 5000.0

NAMESPACES = ["a", "*", ":", "{x}", "../", "\x00"]
SLOTS = ["s", "h", "*", ":", "{x}", "../", "\x00"]
FIELDS = ["f", "g", "x", "y", "xy", "*", ""]

GOOD_TTLS = [30, 100.5, LONGEST_TTL]
BAD_TTLS: list[Any] = [True, False, 0, -1, math.nan, math.inf, "5", None]
#: Scalars incr must accept (canonical int64) or refuse with SlotKindError.
COUNTER_TEXTS = [
    b"0",
    b"-5",
    b"12",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"05",
    b"00",
    b"-0",
    b" 7",
    b"+1",
    b"1_000",
    b"9223372036854775808",
]


@dataclass(frozen=True)
class Call:
    """One drawn operation: a store method name and its arguments."""

    method: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...] = ()

    def __repr__(self) -> str:
        kw = "".join(f", {k}={v!r}" for k, v in self.kwargs)
        return f"{self.method}({', '.join(map(repr, self.args))}{kw})"


def _call(method: str, *args: st.SearchStrategy[Any], **kwargs: st.SearchStrategy[Any]) -> Any:
    names = sorted(kwargs)
    return st.tuples(st.tuples(*args), st.tuples(*(kwargs[n] for n in names))).map(
        lambda drawn: Call(method, drawn[0], tuple(zip(names, drawn[1], strict=True)))
    )


def _calls(
    slot: st.SearchStrategy[Any],
    ttl: st.SearchStrategy[Any],
    value: st.SearchStrategy[Any],
    mapping: st.SearchStrategy[Any],
    field: st.SearchStrategy[Any],
    field_list: st.SearchStrategy[Any],
    amount: st.SearchStrategy[Any],
) -> st.SearchStrategy[Call]:
    ns = namespaces
    return st.one_of(
        _call("set", ns, slot, value, ttl=ttl),
        _call("get", ns, slot),
        _call("delete", ns, slot),
        _call("hset", ns, slot, mapping, ttl=ttl),
        _call("hget", ns, slot, field),
        _call("hdel", ns, slot, field_list),
        _call("hgetall", ns, slot),
        _call("hkeys", ns, slot),
        _call("incr", ns, slot, amount, ttl=ttl),
        _call("expire", ns, slot, ttl),
        _call("get_ttl", ns, slot),
        _call("slots", ns),
        _call("slot_kind", ns, slot),
        _call("touch", ns, ttl=ttl),
        _call("purge", ns),
    )


# Few names, the first ones likelier: sequences must meet the same slot again.
namespaces = st.sampled_from(["a", "a", "a", "*", *NAMESPACES[1:]])
good_slots = st.sampled_from(["s", "s", "h", "h", *SLOTS])
good_ttls = st.sampled_from(GOOD_TTLS)
good_values = st.one_of(st.sampled_from(COUNTER_TEXTS), st.binary(max_size=8))
good_mappings = st.dictionaries(st.sampled_from(FIELDS), st.binary(max_size=4), max_size=3)
good_fields = st.sampled_from(FIELDS)
good_field_lists = st.lists(st.sampled_from(FIELDS), max_size=3)
good_amounts = st.sampled_from([1, -1, 0, 7, 2**63 - 1, -(2**63)])

#: Calls with valid arguments only (counters may still be non-canonical or overflow).
good_calls = _calls(
    good_slots,
    good_ttls,
    good_values,
    good_mappings,
    good_fields,
    good_field_lists,
    good_amounts,
)
#: Calls where any argument may be of the wrong type or out of range.
any_calls = _calls(
    st.one_of(good_slots, st.sampled_from([5, None, b"s"])),
    st.one_of(good_ttls, st.sampled_from(BAD_TTLS)),
    st.one_of(good_values, st.sampled_from(["text", 5, None])),
    st.one_of(good_mappings, st.sampled_from([[("f", b"v")], {"f": "text"}, {5: b"v"}])),
    st.one_of(good_fields, st.just(5)),
    st.one_of(good_field_lists, st.sampled_from(["xy", "x", b"xy", 5, None, [5]])),
    st.one_of(good_amounts, st.sampled_from([2**63, -(2**63) - 1, True, 1.5, "1"])),
)
calls = st.one_of(good_calls, good_calls, good_calls, any_calls)


def _normalise(method: str, result: Any) -> Any:
    """The part of a result every driver must agree on."""
    if method == "get_ttl":
        if result is None:
            return None
        assert isinstance(result, float), f"get_ttl returned {result!r}"
        # A bound, not a value: drivers round and their clocks run on.
        return "live" if 0 < result <= LONGEST_TTL + 1 else f"out of range: {result!r}"
    if method == "hkeys":
        return sorted(result)
    return result


async def _run(store: Any, sequence: list[Call]) -> list[Any]:
    outcomes: list[Any] = []
    for call in sequence:
        try:
            result = await getattr(store, call.method)(*call.args, **dict(call.kwargs))
        except Exception as exc:
            outcomes.append(("raised", type(exc).__name__))
        else:
            outcomes.append(("returned", _normalise(call.method, result)))
    return outcomes


async def _purge_all(store: Any) -> None:
    for ns in NAMESPACES:
        await store.purge(ns)


@dataclass
class Stores:
    """The stores under comparison, opened on one event loop for the whole module."""

    loop: asyncio.AbstractEventLoop
    opened: dict[str, Any]
    missing: dict[str, str]

    def run(self, work: Callable[[Any], Any]) -> dict[str, Any]:
        async def each() -> dict[str, Any]:
            return {name: await work(store) for name, store in self.opened.items()}

        return self.loop.run_until_complete(each())


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    folder = tmp_path_factory.mktemp("cross-driver")
    loop = asyncio.new_event_loop()
    opened: dict[str, Any] = {}
    missing: dict[str, str] = {}
    try:
        for driver in DRIVERS:
            try:
                # A random key or table prefix on the servers, a file of its own otherwise.
                url = make_store_url(driver, folder, name=f"cross-{driver}")
                unistore.get_driver(StoreURL.parse(url).scheme)
            except (pytest.skip.Exception, UnknownSchemeError) as exc:
                missing[driver] = str(exc)
                continue
            store = unistore.connect(url)
            loop.run_until_complete(store.__aenter__())
            opened[driver] = store
        if len(opened) < 2:
            pytest.skip(f"fewer than two drivers to compare: {missing}")
        yield Stores(loop, opened, missing)
    finally:
        for store in opened.values():
            destroy = getattr(store, "destroy", None)
            if destroy is not None:
                loop.run_until_complete(destroy())
            loop.run_until_complete(store.aclose())
        loop.close()


def _first_difference(expected: list[Any], got: list[Any], sequence: list[Call]) -> str:
    for index, (want, have) in enumerate(zip(expected, got, strict=True)):
        if want != have:
            return f"op {index} {sequence[index]!r}: memory {want!r}, this driver {have!r}"
    return "no difference"


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(sequence=st.lists(calls, min_size=8, max_size=25))
def test_every_driver_answers_alike(stores: Stores, sequence: list[Call]) -> None:
    stores.run(_purge_all)
    try:
        results = stores.run(lambda store: _run(store, sequence))
    finally:
        stores.run(_purge_all)
    reference_name = next(iter(results))
    reference = results[reference_name]
    differences = {
        name: _first_difference(reference, outcome, sequence)
        for name, outcome in results.items()
        if outcome != reference
    }
    assert not differences, f"drivers disagree with {reference_name} on {sequence!r}: {differences}"


def test_the_comparison_covers_the_shipped_drivers(stores: Stores) -> None:
    """memory, sqlite and file need no server; redis and postgresql only when reachable."""
    assert {"memory", "sqlite", "file"} <= set(stores.opened) | set(stores.missing)
    assert "memory" in stores.opened
