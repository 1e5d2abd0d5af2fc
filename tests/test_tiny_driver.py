"""The one-file example driver of the docs (docs/examples/tiny_driver.py) passes the suite.

It is loaded by path, as a reader who copied it would, registered with
``unistore.register`` and run through the whole conformance suite: the
capabilities it does not declare (sessions, namespace listing) are skipped.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import unistore
from unistore.sdk import CLOCK_OPTION
from unistore.testing import (
    SESSION_SUITES,
    ConformanceSuite,
    ManualClock,
    ValidationSuite,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "tiny_driver.py"


def load_tiny_driver() -> ModuleType:
    """Import docs/examples/tiny_driver.py as the module ``tiny_driver``."""
    loaded = sys.modules.get("tiny_driver")
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location("tiny_driver", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["tiny_driver"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", autouse=True)
def tiny_registered() -> Iterator[None]:
    unistore.register("tiny", load_tiny_driver().DRIVER)
    yield
    unistore.unregister("tiny")


class TestTinyConformance(ConformanceSuite):
    @pytest.fixture
    def store_url(self) -> str:
        return f"tiny://conformance-{uuid.uuid4().hex}"


class TestTinyConformanceRealClock(ConformanceSuite):
    """The expiry tests once more with real sleeps, for the clock-less path of the suite."""

    manual_clock = False

    @pytest.fixture
    def store_url(self) -> str:
        return f"tiny://real-clock-{uuid.uuid4().hex}"


async def test_the_suite_connects_it_with_a_manual_clock() -> None:
    clock = ManualClock(1_000.0)
    async with unistore.connect("tiny://", clock=clock) as store:
        await store.set("ns", "s", b"v", ttl=10)
        assert await store.get_ttl("ns", "s") == 10.0
        clock.advance(9.5)
        assert await store.get("ns", "s") == b"v"
        clock.advance(0.5)
        assert await store.get("ns", "s") is None


async def test_named_stores_share_data_and_nameless_ones_do_not() -> None:
    name = f"tiny://share-{uuid.uuid4().hex}"
    async with unistore.connect(name) as one, unistore.connect(name) as two:
        await one.set("ns", "s", b"v", ttl=10)
        assert await two.get("ns", "s") == b"v"
    async with unistore.connect("tiny://") as one, unistore.connect("tiny://") as two:
        await one.set("ns", "s", b"v", ttl=10)
        assert await two.get("ns", "s") is None


def _tiny_with_sessions() -> type[Any]:
    """The tiny store plus generic sessions, as docs/writing-a-driver.md shows."""
    tiny = load_tiny_driver()

    # The mixin is a SessionDocumentsBase: the capability is derived from it.
    class TinySessionStore(unistore.KVSessionDocumentsMixin, tiny.TinyStore):  # type: ignore[misc]
        pass

    return TinySessionStore


class TestTinyWithGenericSessions(
    *SESSION_SUITES,
    ValidationSuite,
):
    """KVSessionDocumentsMixin gives a hash + transactions driver the sessions capability."""

    @pytest.fixture
    def store_url(self) -> Iterator[str]:
        cls = _tiny_with_sessions()
        unistore.register(
            "tiny-sessions",
            lambda url, options: cls(url, clock=options["clock"]),
            options=(CLOCK_OPTION,),
        )
        yield f"tiny-sessions://sessions-{uuid.uuid4().hex}"
        unistore.unregister("tiny-sessions")


async def test_slots_without_ttl_never_expire() -> None:
    clock = ManualClock(1_000.0)
    async with unistore.connect("tiny://", clock=clock) as store:
        await store.set_many("ns", {"a": b"1", "b": b"2"}, ttl=None)
        await store.hset("ns", "h", {"f": b"v"}, ttl=None)
        assert await store.get_ttl("ns", "a") == math.inf
        clock.advance(1e9)
        assert await store.get_many("ns", ["a", "h", "b", "gone"]) == [b"1", None, b"2", None]
        assert await store.slots("ns", "a") == ["a"]
        assert await store.delete_many("ns", ["a", "h", "gone"]) == 2
        assert await store.slots("ns") == ["b"]
