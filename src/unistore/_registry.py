"""The driver registry: URL scheme -> driver, through pluggy and entry points.

Drivers are pluggy plugins published in the entry-point group
``unistore.drivers``, one entry per URL scheme. An entry is loaded only when a
URL names its scheme, so ``import unistore`` imports no driver and no client
library. A plugin that fails to import is logged and skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

import pluggy

from unistore._url import StoreURL
from unistore.errors import InvalidOptionError, UnknownSchemeError
from unistore.protocols import Driver, Option, Store

__all__ = [
    "ENTRY_POINT_GROUP",
    "available_schemes",
    "connect",
    "get_driver",
    "hookimpl",
    "register",
    "unregister",
]

ENTRY_POINT_GROUP = "unistore.drivers"
PROJECT_NAME = "unistore"

logger = logging.getLogger("unistore.registry")

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marker for a driver plugin's hook implementations.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: Schemes shipped as separate distributions, for the "install this" hint.
KNOWN_PACKAGES: Mapping[str, str] = {
    "redis": "unistore-redis",
    "rediss": "unistore-redis",
    "sqlite": "unistore-sql",
    "postgresql": "unistore-sql",
    "file": "unistore-fs",
}


class _HookSpecs:
    """The hooks a driver plugin may implement."""

    @hookspec(firstresult=True)
    def unistore_driver(self, scheme: str) -> Driver | None:
        """Return the driver for ``scheme`` if this plugin provides it."""


class _Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pm = pluggy.PluginManager(PROJECT_NAME)
        self._pm.add_hookspecs(_HookSpecs)
        self._manual: dict[str, Driver] = {}
        self._cache: dict[str, Driver] = {}

    def register(self, scheme: str, driver: Driver) -> None:
        with self._lock:
            self._manual[scheme] = driver
            self._cache.pop(scheme, None)

    def unregister(self, scheme: str) -> None:
        with self._lock:
            self._manual.pop(scheme, None)
            self._cache.pop(scheme, None)

    def _load_entry_points(self, scheme: str) -> bool:
        """Register the plugins of ``scheme``; return whether one was skipped."""
        skipped = False
        for ep in entry_points(group=ENTRY_POINT_GROUP, name=scheme):
            try:
                plugin = ep.load()
                if not self._pm.is_registered(plugin):
                    # Also validates the hook signatures: a bad one raises here.
                    self._pm.register(plugin, name=f"{ep.value}")
            except Exception:
                # A broken driver must not take the others down with it.
                logger.warning(
                    "skipping unistore driver %r for scheme %r: it failed to import",
                    ep.value,
                    scheme,
                    exc_info=True,
                )
                skipped = True
        return skipped

    def get(self, scheme: str) -> Driver:
        with self._lock:
            if scheme in self._manual:
                return self._manual[scheme]
            if scheme in self._cache:
                return self._cache[scheme]
            driver: Driver | None = self._pm.hook.unistore_driver(scheme=scheme)
            broken = False
            if driver is None:
                broken = self._load_entry_points(scheme)
                driver = self._pm.hook.unistore_driver(scheme=scheme)
            if driver is None:
                raise _unknown_scheme(scheme, broken=broken)
            self._cache[scheme] = driver
            return driver

    def schemes(self) -> list[str]:
        names = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
        return sorted(names | set(self._manual))


def _unknown_scheme(scheme: str, *, broken: bool = False) -> UnknownSchemeError:
    package = KNOWN_PACKAGES.get(scheme)
    if broken:
        # "Install it" would mislead: it is installed, but cannot be loaded.
        message = (
            f"the unistore driver for {scheme!r} URLs is installed but failed to load; "
            "the 'unistore.registry' log has the reason"
        )
    elif package:
        message = (
            f"no unistore driver for {scheme!r} URLs is installed; "
            f"install it with: pip install {package}"
        )
    else:
        message = (
            f"no unistore driver for {scheme!r} URLs; installed schemes: "
            f"{', '.join(_REGISTRY.schemes()) or 'none'}"
        )
    return UnknownSchemeError(message, scheme=scheme, package=package)


_REGISTRY = _Registry()


def register(
    scheme: str,
    factory: Callable[[StoreURL, Mapping[str, Any]], Store] | Driver,
    *,
    options: tuple[Option, ...] = (),
) -> None:
    """Register a driver for ``scheme`` without entry-point metadata.

    A registration here wins over an installed entry point of the same scheme.

    Args:
        scheme: The URL scheme (lower case, aliases already resolved).
        factory: A :class:`~unistore.protocols.Driver`, or a callable
            ``factory(url, options) -> Store``.
        options: The options the factory accepts (ignored when ``factory`` is
            a ``Driver``, which carries its own).
    """
    driver = (
        factory
        if isinstance(factory, Driver)
        else Driver(name=scheme, open=factory, options=options, distribution="")
    )
    _REGISTRY.register(scheme.lower(), driver)


def unregister(scheme: str) -> None:
    """Remove a driver added with :func:`register` (entry points are unaffected)."""
    _REGISTRY.unregister(scheme.lower())


def get_driver(scheme: str) -> Driver:
    """Return the driver for a URL scheme, importing its plugin on first use.

    Raises:
        UnknownSchemeError: No installed or registered driver serves the scheme.
    """
    return _REGISTRY.get(scheme)


def available_schemes() -> list[str]:
    """Return every scheme an installed or registered driver declares."""
    return _REGISTRY.schemes()


def resolve_options(driver: Driver, url: StoreURL, keywords: Mapping[str, Any]) -> dict[str, Any]:
    """Merge URL query options and keyword options (keywords win), typed.

    Raises:
        InvalidOptionError: An option is unknown or its value has the wrong type.
    """
    declared = {opt.name: opt for opt in driver.options}

    def unknown(name: str, where: str) -> InvalidOptionError:
        known = ", ".join(sorted(declared)) or "none"
        return InvalidOptionError(
            f"unknown option {name!r} ({where}) for the {driver.name} driver; "
            f"known options: {known}"
        )

    def convert(opt: Option, value: Any, where: str) -> Any:
        try:
            if isinstance(value, str):
                return opt.parse(value)
            return opt.check(value) if opt.check is not None else value
        except (ValueError, TypeError) as exc:
            # A secret's value, or a parser message quoting it, must not leak.
            shown, detail = ("", "") if opt.secret else (f" {value!r}", f": {exc}")
            raise InvalidOptionError(
                f"invalid value{shown} for option {opt.name!r} ({where}) "
                f"of the {driver.name} driver{detail}"
            ) from None

    result = {name: opt.default for name, opt in declared.items()}
    for name, text in url.query.items():
        if name not in declared:
            raise unknown(name, "in the URL query")
        result[name] = convert(declared[name], text, "in the URL query")
    for name, value in keywords.items():
        if name not in declared:
            raise unknown(name, "keyword argument")
        result[name] = convert(declared[name], value, "keyword argument")
    return result


def connect(url: str | StoreURL, **options: Any) -> Store:
    """Open a store for ``url``.

    The store connects lazily; use it as ``async with connect(url) as store``
    or call ``await store.aclose()`` when done.

    Args:
        url: A store URL such as ``memory://``, ``sqlite:///app.db`` or
            ``redis://localhost:6379/0``.
        **options: Driver options; they override options of the URL query.

    Raises:
        InvalidURLError: The URL is malformed.
        UnknownSchemeError: No driver for the scheme is installed.
        InvalidOptionError: An option is unknown or badly typed.
    """
    parsed = StoreURL.parse(url)
    driver = get_driver(parsed.scheme)
    resolved = resolve_options(driver, parsed, options)
    return driver.open(parsed, resolved)
