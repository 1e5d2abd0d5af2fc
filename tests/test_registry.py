from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from importlib.metadata import EntryPoint, PackageNotFoundError, distribution, entry_points
from types import ModuleType
from typing import Any

import pytest

import unistore
from unistore import (
    Capability,
    Driver,
    InvalidOptionError,
    NotSupportedError,
    Option,
    Store,
    StoreURL,
    UnknownSchemeError,
    _registry,
)
from unistore._known import KNOWN_SCHEMES
from unistore._memory import MemoryStore
from unistore.protocols import Hash, KeyValue, SessionDocuments
from unistore.sdk import KeyValueBase


@pytest.fixture
def clean_registry() -> Iterator[None]:
    yield
    for scheme in ("toy", "toy2", "broken", "memory", "kvonly"):
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


# -- one declaration: schemes and aliases -----------------------------------------


def test_every_listed_scheme_resolves() -> None:
    schemes = unistore.available_schemes()
    assert {"memory", "sqlite", "postgresql", "redis", "rediss", "file"} <= set(schemes)
    for scheme in schemes:
        driver = unistore.get_driver(scheme)
        # A driver declaring no schemes predates declarations (shipped ones declare).
        assert not driver.schemes or scheme in driver.schemes, scheme


def test_aliases_are_not_listed_but_resolve_to_their_scheme() -> None:
    schemes = unistore.available_schemes()
    for alias, scheme in (("postgres", "postgresql"), ("sqlite3", "sqlite"), ("fs", "file")):
        assert alias not in schemes
        driver = unistore.get_driver(alias)
        assert driver.resolve_scheme(alias) == scheme
        assert StoreURL.parse(f"{alias}://h/x").scheme == scheme


def test_the_known_table_is_sorted_and_consistent() -> None:
    assert list(KNOWN_SCHEMES) == sorted(KNOWN_SCHEMES)
    for name, row in KNOWN_SCHEMES.items():
        assert name == name.lower()
        if row.alias_of is not None:
            target = KNOWN_SCHEMES[row.alias_of]
            assert target.alias_of is None, name
            assert target.distribution == row.distribution, name


def _installed(dist: str) -> bool:
    try:
        distribution(dist)
    except PackageNotFoundError:
        return False
    return True


def test_the_known_table_mirrors_the_installed_drivers_declarations() -> None:
    # The drivers' declarations are the truth; the table is their copy for
    # what must be known before a driver is imported. Any drift fails here.
    declared: dict[str, dict[str, str | None]] = {}
    for ep in entry_points(group=_registry.ENTRY_POINT_GROUP):
        driver = unistore.get_driver(ep.name)
        assert driver.resolve_scheme(ep.name) is not None, (
            f"entry point {ep.name!r} names no scheme or alias that {driver.name!r} declares"
        )
        rows = declared.setdefault(driver.distribution, {})
        rows.update(dict.fromkeys(driver.schemes))
        rows.update(driver.aliases)
    for dist in {row.distribution for row in KNOWN_SCHEMES.values()}:
        if not _installed(dist):  # pragma: no cover - the dev environment has them all
            continue
        expected = {
            name: row.alias_of for name, row in KNOWN_SCHEMES.items() if row.distribution == dist
        }
        assert declared.get(dist) == expected, dist


def test_every_declared_scheme_has_its_entry_point() -> None:
    # Lazy loading finds a driver by the entry point named after the scheme.
    names = {ep.name for ep in entry_points(group=_registry.ENTRY_POINT_GROUP)}
    for name in names:
        for declared in unistore.get_driver(name).schemes:
            assert declared in names, declared


def test_listing_schemes_imports_no_driver() -> None:
    import subprocess
    import sys

    code = (
        "import sys, unistore\n"
        "unistore.available_schemes()\n"
        "import unistore._url as u\n"
        "u.StoreURL.parse('postgres://h/db')\n"
        "print(','.join(m for m in sys.modules if m.startswith(('unistore_', 'redis',"
        " 'sqlalchemy', 'aiofiles'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_an_unknown_alias_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_registry, "entry_points", lambda **kw: [])
    with pytest.raises(UnknownSchemeError, match="pip install unistore-sql") as info:
        _registry._Registry().get("postgres")
    assert info.value.package == "unistore-sql"


def test_a_driver_declaration_is_checked() -> None:
    with pytest.raises(ValueError, match="not one of its schemes"):
        Driver(name="x", open=_toy_factory, schemes=("x",), aliases={"y": "z"})
    with pytest.raises(ValueError, match="both a scheme and an alias"):
        Driver(name="x", open=_toy_factory, schemes=("x", "y"), aliases={"y": "x"})
    with pytest.raises(TypeError, match="tuple of str"):
        Driver(name="x", open=_toy_factory, schemes="x")  # type: ignore[arg-type]
    driver = Driver(name="x", open=_toy_factory, schemes=("X",), aliases={"Ex": "X"})
    assert driver.schemes == ("x",)
    assert dict(driver.aliases) == {"ex": "x"}


def _scheme_seen(url: StoreURL, options: Mapping[str, Any]) -> Store:
    store = _toy_factory(url, options)
    store.seen = url.scheme  # type: ignore[attr-defined]
    return store


def test_a_registered_drivers_aliases_resolve(clean_registry: None) -> None:
    driver = Driver(name="toy", open=_scheme_seen, schemes=("toy",), aliases={"toy2": "toy"})
    unistore.register("toy", driver)
    assert unistore.get_driver("toy2") is driver
    assert "toy2" not in unistore.available_schemes()
    # The driver only ever sees its own scheme, whatever the URL said.
    assert unistore.connect("toy2://h").seen == "toy"  # type: ignore[attr-defined]
    unistore.unregister("toy")
    with pytest.raises(UnknownSchemeError):
        unistore.get_driver("toy2")


_THIRD_PARTY = ModuleType("unistore_third_party_plugin")


@unistore.hookimpl
def _third_party_hook() -> Driver:
    return Driver(
        name="toy",
        open=_scheme_seen,
        distribution="unistore-toy",
        schemes=("toy",),
        aliases={"toy2": "toy"},
    )


_THIRD_PARTY.unistore_driver = _third_party_hook  # type: ignore[attr-defined]


def test_a_third_party_alias_resolves_through_its_entry_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Not in the known table: the alias's entry point loads the driver,
    # whose declaration says which scheme it stands for.
    alias_ep = EntryPoint(name="toy2", value="unistore_third_party_plugin", group="g")
    monkeypatch.setattr(EntryPoint, "load", lambda self: _THIRD_PARTY)
    monkeypatch.setattr(
        _registry,
        "entry_points",
        lambda **kw: [alias_ep] if kw.get("name") in (None, "toy2") else [],
    )
    registry = _registry._Registry()
    assert registry.get("toy2")[0] == "toy"
    assert registry.get("toy")[1].distribution == "unistore-toy"
    assert registry.schemes() == ["toy"]


def test_a_legacy_hook_taking_the_scheme_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    legacy = ModuleType("unistore_legacy_plugin")
    old = Driver(name="old", open=_toy_factory)  # no declared schemes

    @unistore.hookimpl
    def unistore_driver(scheme: str) -> Driver | None:
        return old if scheme == "old" else None

    legacy.unistore_driver = unistore_driver  # type: ignore[attr-defined]
    ep = EntryPoint(name="old", value="unistore_legacy_plugin", group="g")
    monkeypatch.setattr(EntryPoint, "load", lambda self: legacy)
    monkeypatch.setattr(
        _registry, "entry_points", lambda **kw: [ep] if kw.get("name") in (None, "old") else []
    )
    registry = _registry._Registry()
    assert registry.get("old") == ("old", old)
    assert registry.schemes() == ["old"]


# -- capabilities: FullStore, require() ---------------------------------------------


class _KVOnly(KeyValueBase):
    """A third-party store that declares one capability."""

    NAME = "kvonly"

    def __init__(self, url: StoreURL) -> None:
        super().__init__(url)
        self.data: dict[tuple[str, str], bytes] = {}

    async def _get(self, ns: str, slot: str) -> bytes | None:
        return self.data.get((ns, slot))

    async def _set(self, ns: str, slot: str, value: bytes, ttl: float | None) -> None:
        self.data[ns, slot] = value

    async def _delete(self, ns: str, slot: str) -> bool:
        return self.data.pop((ns, slot), None) is not None

    async def _get_many(self, ns: str, slots: list[str]) -> list[bytes | None]:
        return [self.data.get((ns, slot)) for slot in slots]

    async def _set_many(self, ns: str, mapping: dict[str, bytes], ttl: float | None) -> None:
        self.data.update({(ns, slot): value for slot, value in mapping.items()})

    async def _delete_many(self, ns: str, slots: list[str]) -> int:
        return sum(self.data.pop((ns, slot), None) is not None for slot in slots)


async def test_a_store_declaring_less_raises_not_supported(clean_registry: None) -> None:
    made: list[_KVOnly] = []

    def factory(url: StoreURL, options: Mapping[str, Any]) -> Store:
        made.append(_KVOnly(url))
        return made[-1]

    unistore.register("kvonly", factory)
    async with unistore.connect("kvonly://") as store:
        assert not isinstance(store, _KVOnly)  # a proxy
        assert store.capabilities == {Capability.KEY_VALUE}
        await store.set("ns", "k", b"v", ttl=5)
        assert await store.get("ns", "k") == b"v"
        assert hasattr(store, "hset")  # looking a method up never raises
        with pytest.raises(NotSupportedError, match=r"\bhash\b.*hset\(\).*declares: key_value"):
            await store.hset("ns", "h", {"f": b"1"}, ttl=5)
        with pytest.raises(NotSupportedError, match="session_documents"):
            await store.read_messages("sid")
        with pytest.raises(NotSupportedError, match="namespace_listing"):
            store.iter_namespaces()
        assert unistore.require(store, KeyValue) is store
        with pytest.raises(NotSupportedError, match="does not support the hash capability"):
            unistore.require(store, Hash)
        assert "kvonly://" in repr(store)
    assert made[0].closed


async def test_a_full_store_is_returned_unwrapped_and_required_as_is() -> None:
    async with unistore.connect("memory://") as store:
        assert type(store) is MemoryStore
        assert unistore.require(store, SessionDocuments) is store


def test_require_takes_only_capability_protocols() -> None:
    store = MemoryStore(StoreURL.parse("memory://"))
    with pytest.raises(TypeError, match="capability protocol"):
        unistore.require(store, int)
