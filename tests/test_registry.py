from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from importlib.metadata import EntryPoint
from typing import Any

import pytest

import unistore
from unistore import (
    InvalidOptionError,
    Option,
    Store,
    StoreURL,
    UnknownSchemeError,
    _registry,
)
from unistore._memory import MemoryStore


@pytest.fixture
def clean_registry() -> Iterator[None]:
    yield
    for scheme in ("toy", "toy2", "broken", "memory"):
        unistore.unregister(scheme)


async def test_connect_memory_through_the_entry_point() -> None:
    driver = unistore.get_driver("memory")
    assert driver.name == "memory"
    assert "memory" in unistore.available_schemes()
    async with unistore.connect("memory://") as store:
        assert isinstance(store, MemoryStore)
        await store.set("ns", "slot", b"v", ttl=5)
        assert await store.get("ns", "slot") == b"v"
    assert store.closed


async def test_named_memory_stores_share_data_and_unnamed_do_not() -> None:
    a = unistore.connect("memory://registry-test")
    b = unistore.connect("memory://registry-test")
    c = unistore.connect("memory://")
    async with a, b, c:
        await a.set("ns", "k", b"1", ttl=5)
        assert await b.get("ns", "k") == b"1"
        assert await c.get("ns", "k") is None
        await a.delete("ns", "k")


def test_unknown_known_scheme_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    # A registry that sees no installed driver, as on a machine without unistore-redis.
    monkeypatch.setattr(_registry, "entry_points", lambda **kw: [])
    with pytest.raises(UnknownSchemeError, match="pip install unistore-redis") as info:
        _registry._Registry().get("redis")
    assert info.value.package == "unistore-redis"
    assert info.value.scheme == "redis"


def test_unknown_scheme_lists_installed_ones() -> None:
    with pytest.raises(UnknownSchemeError, match=r"installed schemes:.*memory"):
        unistore.connect("nosuchdriver://x")


def _toy_factory(url: StoreURL, options: Mapping[str, Any]) -> Store:
    store = MemoryStore(StoreURL.parse("memory://"))
    store.options = dict(options)  # type: ignore[attr-defined]
    return store


TOY_OPTIONS = (
    Option("pool_size", int, default=10, doc="pool"),
    Option("name", str, default="x"),
    Option("token", str, default=None, secret=True),
)


def test_register_and_options(clean_registry: None) -> None:
    unistore.register("toy", _toy_factory, options=TOY_OPTIONS)
    store = unistore.connect("toy://h?pool_size=5")
    assert store.options == {"pool_size": 5, "name": "x", "token": None}  # type: ignore[attr-defined]
    # keywords win over the URL query
    store = unistore.connect("toy://h?pool_size=5", pool_size=7, name="n")
    assert store.options["pool_size"] == 7  # type: ignore[attr-defined]
    assert store.options["name"] == "n"  # type: ignore[attr-defined]


def test_unknown_options_are_errors(clean_registry: None) -> None:
    unistore.register("toy", _toy_factory, options=TOY_OPTIONS)
    with pytest.raises(InvalidOptionError, match=r"unknown option 'poolsize'.*known options"):
        unistore.connect("toy://h?poolsize=5")
    with pytest.raises(InvalidOptionError, match="unknown option 'colour'"):
        unistore.connect("toy://h", colour="red")


def test_badly_typed_option_is_an_error_without_secret_values(clean_registry: None) -> None:
    unistore.register("toy", _toy_factory, options=(*TOY_OPTIONS, Option("n", int, secret=True)))
    with pytest.raises(InvalidOptionError, match="'abc' for option 'pool_size'"):
        unistore.connect("toy://h?pool_size=abc")
    with pytest.raises(InvalidOptionError) as info:
        unistore.connect("toy://h?n=hunter2")
    assert "hunter2" not in str(info.value)


def test_manual_registration_wins_and_unregister_restores(clean_registry: None) -> None:
    unistore.register("memory", _toy_factory)
    assert unistore.get_driver("memory").open is _toy_factory
    unistore.unregister("memory")
    assert unistore.get_driver("memory").name == "memory"


def test_a_plugin_that_fails_to_import_is_logged_and_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    broken = EntryPoint(
        name="broken", value="unistore_no_such_module_xyz", group="unistore.drivers"
    )
    real = _registry.entry_points

    def fake(**kw: Any) -> list[EntryPoint]:
        if kw.get("name") == "broken":
            return [broken]
        return list(real(**kw))

    monkeypatch.setattr(_registry, "entry_points", fake)
    with (
        caplog.at_level(logging.WARNING, logger="unistore.registry"),
        pytest.raises(UnknownSchemeError, match="installed but failed to load"),
    ):
        unistore.connect("broken://x")
    assert any("failed to import" in r.getMessage() for r in caplog.records)
    # the other drivers keep working
    assert unistore.get_driver("memory").name == "memory"


def test_only_the_named_driver_is_imported() -> None:
    import subprocess
    import sys

    code = (
        "import sys, unistore\n"
        "s = unistore.connect('memory://')\n"
        "bad = [m for m in ('redis', 'sqlalchemy', 'aiofiles', 'unistore_redis', 'unistore_sql',"
        " 'unistore_fs') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_store_repr_redacts(clean_registry: None) -> None:
    unistore.register("toy", _toy_factory, options=TOY_OPTIONS)
    store = unistore.connect("memory://")
    assert "memory://" in repr(store)


class _BadHookPlugin:
    """A plugin whose hook has a parameter the hook spec does not offer."""

    @staticmethod
    @unistore.hookimpl
    def unistore_driver(scheme: str, extra: int) -> None:  # pragma: no cover - never called
        return None


def test_a_plugin_with_a_bad_hook_signature_is_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # pluggy rejects it at registration, which must not escape as a pluggy error.
    bad = EntryPoint(name="broken", value="x:y", group="unistore.drivers")
    monkeypatch.setattr(EntryPoint, "load", lambda self: _BadHookPlugin)
    real = _registry.entry_points

    def fake(**kw: Any) -> list[EntryPoint]:
        return [bad] if kw.get("name") == "broken" else list(real(**kw))

    monkeypatch.setattr(_registry, "entry_points", fake)
    with (
        caplog.at_level(logging.WARNING, logger="unistore.registry"),
        pytest.raises(UnknownSchemeError, match="failed to load"),
    ):
        unistore.connect("broken://x")
    assert any("failed to import" in r.getMessage() for r in caplog.records)
    monkeypatch.undo()
    assert unistore.get_driver("memory").name == "memory"
