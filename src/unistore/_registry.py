"""The driver registry: URL scheme -> driver, through pluggy and entry points.

Drivers are pluggy plugins published in the entry-point group
``unistore.drivers``, one entry per URL scheme (and per alias). A driver
declares its schemes and aliases once, on its :class:`~unistore.protocols.Driver`;
the registry indexes drivers by that declaration. An entry is loaded only when
a URL names its scheme, so ``import unistore`` imports no driver and no client
library; the known table (:mod:`unistore._known`) answers what must be known
before then (aliases of the shipped drivers, the distribution to install). A
plugin that fails to import is logged and skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any

import pluggy

from unistore._capabilities import full_store
from unistore._known import KNOWN_SCHEMES, canonical_scheme, known_package
from unistore._url import StoreURL
from unistore.errors import InvalidOptionError, NotSupportedError, UnknownSchemeError
from unistore.protocols import Driver, FullStore, Option, Store
from unistore.telemetry import _apply as _instrument

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


class _HookSpecs:
    """The hooks a driver plugin may implement."""

    @hookspec
    def unistore_driver(self, scheme: str) -> Driver | None:
        """Return the plugin's driver.

        The registry picks drivers by their declared ``schemes`` and
        ``aliases``, so an implementation may leave out the ``scheme``
        parameter and always return its driver. One that takes it may return
        ``None`` for a scheme it does not serve.
        """


class _Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pm = pluggy.PluginManager(PROJECT_NAME)
        self._pm.add_hookspecs(_HookSpecs)
        #: Scheme or alias -> driver, from register().
        self._manual: dict[str, Driver] = {}
        #: Scheme or alias -> driver, from the loaded plugins' declarations.
        self._found: dict[str, Driver] = {}
        self._clashes: set[tuple[str, str]] = set()

    def register(self, scheme: str, driver: Driver) -> None:
        with self._lock:
            self._manual[scheme] = driver
            for alias, target in driver.aliases.items():
                if target == scheme:
                    self._manual[alias] = driver

    def unregister(self, scheme: str) -> None:
        with self._lock:
            driver = self._manual.pop(scheme, None)
            if driver is not None:
                for alias, target in driver.aliases.items():
                    if target == scheme and self._manual.get(alias) is driver:
                        del self._manual[alias]

    def _load_entry_points(self, names: Iterable[str]) -> bool:
        """Register the plugins published under ``names``; return whether one was skipped."""
        skipped = False
        # Only reached on a miss, so a plugin installed since the last miss is seen.
        for name in names:
            for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
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
                        name,
                        exc_info=True,
                    )
                    skipped = True
        return skipped

    def _ask_plugins(self, name: str) -> Driver | None:
        """Index the registered plugins' drivers by what they declare; look ``name`` up."""
        for driver in self._pm.hook.unistore_driver(scheme=name):
            if not isinstance(driver, Driver):
                logger.warning("ignoring %r: a unistore_driver hook must return a Driver", driver)
                continue
            # A driver without declared schemes predates them: it serves what it was asked.
            for key in (*driver.schemes, *driver.aliases) if driver.schemes else (name,):
                known = self._found.setdefault(key, driver)
                if known != driver and (key, driver.name) not in self._clashes:
                    self._clashes.add((key, driver.name))
                    logger.warning(
                        "scheme %r is declared by two unistore drivers, %r and %r; using %r",
                        key,
                        known.name,
                        driver.name,
                        known.name,
                    )
        return self._found.get(name)

    def get(self, name: str) -> tuple[str, Driver]:
        """Return the scheme ``name`` stands for and its driver."""
        with self._lock:
            driver = self._manual.get(name) or self._found.get(name)
            broken = False
            if driver is None:
                driver = self._ask_plugins(name)
            if driver is None:
                # The name's own entry point, and (for a shipped alias) its scheme's.
                broken = self._load_entry_points(dict.fromkeys((name, canonical_scheme(name))))
                driver = self._ask_plugins(name)
        if driver is None:
            # Outside the lock: the message lists the schemes, which takes it.
            raise self._unknown_scheme(name, broken=broken)
        return driver.resolve_scheme(name) or name, driver

    def schemes(self) -> list[str]:
        with self._lock:
            names = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
            names |= self._manual.keys() | self._found.keys()
            aliases = {
                name
                for name in names
                if _is_alias(name, self._manual.get(name) or self._found.get(name))
            }
        return sorted(names - aliases)

    def _unknown_scheme(self, scheme: str, *, broken: bool) -> UnknownSchemeError:
        package = known_package(scheme)
        if broken:
            # "Install it" would mislead: it is installed, but cannot be loaded.
            message = (
                f"the unistore driver for {scheme!r} URLs is installed but failed to load; "
                "the 'unistore.registry' log has the reason"
            )
        elif package:
            # Both ways: the index, and a checkout (whose drivers no index has
            # until they are published), directly or through ./dev wheels.
            folder = f"./drivers/{package.removeprefix('unistore-')}"
            message = (
                f"no unistore driver for {scheme!r} URLs is installed; "
                f"install it with: pip install {package} (from a checkout of unistore: "
                f"pip install {folder}, or pip install --find-links dist {package} "
                "after ./dev wheels)"
            )
        else:
            message = (
                f"no unistore driver for {scheme!r} URLs; installed schemes: "
                f"{', '.join(self.schemes()) or 'none'}"
            )
        return UnknownSchemeError(message, scheme=scheme, package=package)


def _is_alias(name: str, driver: Driver | None) -> bool:
    if driver is not None:
        return name in driver.aliases
    # Not loaded yet: only the table knows whether a shipped name is an alias.
    row = KNOWN_SCHEMES.get(name)
    return row is not None and row.alias_of is not None


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
        scheme: The URL scheme. A ``Driver``'s aliases of that scheme are
            registered with it. Register schemes, not the shipped aliases
            (``postgres``): URL parsing turns those into their scheme first.
        factory: A :class:`~unistore.protocols.Driver`, or a callable
            ``factory(url, options) -> Store``.
        options: The options the factory accepts (ignored when ``factory`` is
            a ``Driver``, which carries its own).
    """
    scheme = scheme.lower()
    driver = (
        factory
        if isinstance(factory, Driver)
        else Driver(name=scheme, open=factory, options=options, distribution="", schemes=(scheme,))
    )
    _REGISTRY.register(scheme, driver)


def unregister(scheme: str) -> None:
    """Remove a driver added with :func:`register` (entry points are unaffected)."""
    _REGISTRY.unregister(scheme.lower())


def get_driver(scheme: str) -> Driver:
    """Return the driver for a URL scheme or alias, importing its plugin on first use.

    Raises:
        UnknownSchemeError: No installed or registered driver serves the
            scheme; the message names the distribution to install when
            unistore knows it.
    """
    return _REGISTRY.get(scheme.lower())[1]


def available_schemes() -> list[str]:
    """Return the schemes of every installed or registered driver, sorted.

    Aliases are not listed (:func:`get_driver` accepts them too), and no
    driver is imported to answer.
    """
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
            if not opt.secret:
                raise InvalidOptionError(
                    f"invalid value {value!r} for option {opt.name!r} ({where}) "
                    f"of the {driver.name} driver: {exc}"
                ) from None
        # Raised outside the handler: a secret's parser message, which may
        # quote the secret, must not ride along as __context__ either.
        raise InvalidOptionError(
            f"invalid value for option {opt.name!r} ({where}) of the {driver.name} driver"
        )

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


def _without_create(url: StoreURL, keywords: Mapping[str, Any]) -> tuple[StoreURL, dict[str, Any]]:
    """Take the ``create`` open mode out of the options, checking its value."""
    from unistore.sdk._open import CREATE_OPTION_NAME, parse_create

    given: list[tuple[str, Any]] = []
    rest = dict(keywords)
    if CREATE_OPTION_NAME in rest:
        given.append(("keyword argument", rest.pop(CREATE_OPTION_NAME)))
    if CREATE_OPTION_NAME in url.query:
        given.append(("in the URL query", url.query[CREATE_OPTION_NAME]))
        query = {k: v for k, v in url.query.items() if k != CREATE_OPTION_NAME}
        url = replace(url, query=MappingProxyType(query))
    creates = True
    for where, value in given:
        try:
            creates = creates and parse_create(value)
        except (TypeError, ValueError) as exc:
            raise InvalidOptionError(
                f"invalid value {value!r} for option 'create' ({where}): {exc}"
            ) from None
    return url, {CREATE_OPTION_NAME: creates, **rest}


def open_options(
    driver: Driver, url: StoreURL, keywords: Mapping[str, Any]
) -> tuple[StoreURL, dict[str, Any]]:
    """Resolve the options :func:`connect` passes to ``driver.open``, with the open mode.

    A driver that does not declare the ``create`` option (see
    :data:`unistore.sdk.CREATE_OPTION`) cannot promise to create nothing:
    ``create=False`` is refused for it, ``create=True`` (what it does anyway)
    is dropped.

    Returns:
        The URL to open (without a ``create`` query option the driver does
        not declare) and the typed options.

    Raises:
        InvalidOptionError: An option is unknown or badly typed.
        NotSupportedError: ``create=False`` for a driver without the open mode.
    """
    from unistore.sdk._open import CREATE_OPTION_NAME

    if any(opt.name == CREATE_OPTION_NAME for opt in driver.options):
        return url, resolve_options(driver, url, keywords)
    url, keywords = _without_create(url, keywords)
    if not keywords.pop(CREATE_OPTION_NAME):
        raise NotSupportedError(
            f"the {driver.name} driver cannot open {url} without creating what is missing: "
            "it does not declare the 'create' option (unistore.sdk.CREATE_OPTION)"
        )
    return url, resolve_options(driver, url, keywords)


#: An element of ``connect(url, wrappers=[...])``: returns a store wrapping the one given.
Wrapper = Callable[[FullStore], FullStore]


def _check_wrappers(wrappers: object) -> tuple[Wrapper, ...]:
    if isinstance(wrappers, str | bytes) or not isinstance(wrappers, Sequence):
        raise InvalidOptionError(
            "wrappers must be a list of callables store -> store "
            f"(such as Compressed.using()), got {type(wrappers).__name__}"
        )
    for index, wrapper in enumerate(wrappers):
        if not callable(wrapper):
            raise InvalidOptionError(
                f"wrappers[{index}] must be a callable store -> store "
                f"(such as Compressed.using()), got {type(wrapper).__name__}"
            )
    return tuple(wrappers)


def connect(url: str | StoreURL, *, wrappers: Sequence[Wrapper] = (), **options: Any) -> FullStore:
    """Open a store for ``url``.

    The store connects lazily; use it as ``async with connect(url) as store``
    or call ``await store.aclose()`` when done.

    ``create`` is the open mode every shipped driver accepts (as a keyword or
    in the URL query). ``True``, the default, creates what the URL names on
    first use (a database file, its tables, a folder) and upgrades an older
    schema. ``False`` creates and upgrades nothing: the store opens only if
    it exists and is current; otherwise its first operation raises
    :class:`~unistore.errors.StoreNotFoundError` (or
    :class:`~unistore.errors.ConfigurationError` for a schema that needs an
    upgrade). A third-party driver that does not declare the option refuses
    ``create=False`` with :class:`~unistore.errors.NotSupportedError`.

    ``wrappers`` wraps the driver's store in stores that transform values on
    their way through (:mod:`unistore.wrappers`), listed in the order a
    written value goes through them:
    ``wrappers=[Compressed.using(), Encrypted.using(keys=..., current=...)]``
    compresses, then encrypts (the first element is the outermost store). Each
    element is a callable taking a store and returning the store wrapping it:
    a wrapper's ``using(...)`` factory, a ``functools.partial`` or a function.
    It is not a driver option: it is never read from the URL query (keys
    never come from URLs) and never reaches the driver.

    It is typed as a :class:`~unistore.protocols.FullStore`, so every
    capability's methods type-check. Shipped drivers implement them all; a
    store declaring fewer raises
    :class:`~unistore.errors.NotSupportedError` from the methods it lacks
    (:func:`unistore.require` checks up front).

    Args:
        url: A store URL such as ``memory://``, ``sqlite:///app.db`` or
            ``redis://localhost:6379/0``.
        wrappers: Callables ``store -> store``, outermost first (see above).
        **options: Driver options; they override options of the URL query.

    Raises:
        InvalidURLError: The URL is malformed.
        UnknownSchemeError: No driver for the scheme is installed.
        InvalidOptionError: An option is unknown or badly typed, or
            ``wrappers`` is not a list of callables.
        NotSupportedError: ``create=False`` for a driver that cannot honour it.
    """
    layers = _check_wrappers(wrappers) if wrappers else ()
    parsed = StoreURL.parse(url)
    scheme, driver = _REGISTRY.get(parsed.scheme)
    if scheme != parsed.scheme:
        # An alias only the driver's declaration knows (a third party's).
        parsed = replace(parsed, scheme=scheme)
    parsed, resolved = open_options(driver, parsed, options)
    store = full_store(driver.open(parsed, resolved))
    # The last one wraps the driver's store: a written value meets the first one first.
    for wrap in reversed(layers):
        store = wrap(store)
    # Outermost, so that a span also covers the wrappers (and their errors);
    # with no instrument registered it returns the store itself.
    return _instrument(store)
