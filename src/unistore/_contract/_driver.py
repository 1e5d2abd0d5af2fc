"""How a driver presents itself to the registry, and the full store a shipped driver is."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from unistore._contract._sessions import SessionDocuments
from unistore._contract._slots import (
    TTL,
    Counter,
    Hash,
    KeyValue,
    NamespaceLifecycle,
    NamespaceListing,
    Store,
    Transactions,
)
from unistore._url import StoreURL


@runtime_checkable
class FullStore(
    Store,
    KeyValue,
    Hash,
    Counter,
    TTL,
    NamespaceLifecycle,
    NamespaceListing,
    Transactions,
    SessionDocuments,
    Protocol,
):
    """A store with every capability: the type :func:`unistore.connect` returns.

    Every shipped driver implements all of them, so code written against
    ``connect()`` type-checks without casts. A third-party store declaring
    fewer capabilities is handed out behind a thin proxy whose methods of an
    undeclared capability raise :class:`~unistore.errors.NotSupportedError`
    naming it; use :func:`unistore.require` to check a capability up front
    and get the narrower type.
    """


@dataclass(frozen=True, slots=True)
class Option:
    """An option a driver accepts from the URL query or as a keyword.

    Attributes:
        name: The option name (``pool_size``).
        parse: Turns the query-string text into the typed value; keyword
            values of another type than ``str`` are passed through ``check``.
        default: The value when not given.
        doc: One line for ``unistore info`` and the docs.
        check: Validates a keyword value; returns it (possibly converted) or
            raises ``ValueError``/``TypeError``. Defaults to ``parse`` for
            strings and identity otherwise.
        secret: The value must never be printed (tokens, passwords).
    """

    name: str
    parse: Callable[[str], Any]
    default: Any = None
    doc: str = ""
    check: Callable[[Any], Any] | None = None
    secret: bool = False


def _keyword_only(text: str) -> Any:
    raise ValueError("this option can only be given as a keyword argument")


KEYWORD_ONLY: Callable[[str], Any] = _keyword_only
"""An :attr:`Option.parse` for options that cannot come from a URL (objects)."""


@dataclass(frozen=True, slots=True)
class Driver:
    """A driver as the registry sees it.

    A driver plugin returns one of these from its ``unistore_driver`` hook
    implementation (or passes it to :func:`unistore.register`). Its
    ``schemes`` and ``aliases`` are the one declaration of the URLs it
    serves: the registry, :func:`unistore.available_schemes` and URL alias
    resolution all read it. Publish one ``unistore.drivers`` entry point per
    scheme (and per alias), so that a URL imports only the driver it names.

    Attributes:
        name: Short name (``"redis"``).
        open: Factory ``open(url, options) -> Store``. It must not do I/O:
            stores connect lazily. ``options`` holds every declared option,
            parsed and with defaults filled in. ``url.scheme`` is always one
            of ``schemes``, never an alias.
        options: The options the driver accepts; any other is an error.
        distribution: The distribution that ships the driver (for ``info``
            and for the "install it" hint).
        schemes: The URL schemes the driver serves, lower case
            (``("redis", "rediss")``). Empty only for drivers written before
            schemes were declared: they serve the scheme they were found by.
        aliases: Other names for those schemes, alias -> scheme
            (``{"postgres": "postgresql"}``).

    Raises:
        ValueError: An alias names no declared scheme or shadows one.
    """

    name: str
    open: Callable[[StoreURL, Mapping[str, Any]], Store]
    options: tuple[Option, ...] = ()
    distribution: str = ""
    schemes: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        given: object = self.schemes
        if isinstance(given, str):
            # ("redis") is a str, not a tuple: each letter would become a scheme.
            raise TypeError(f"driver {self.name!r}: schemes must be a tuple of str")
        schemes = tuple(scheme.lower() for scheme in self.schemes)
        aliases = {alias.lower(): target.lower() for alias, target in self.aliases.items()}
        for alias, target in aliases.items():
            if target not in schemes:
                raise ValueError(
                    f"driver {self.name!r}: alias {alias!r} names {target!r}, "
                    "which is not one of its schemes"
                )
            if alias in schemes:
                raise ValueError(f"driver {self.name!r}: {alias!r} is both a scheme and an alias")
        # Frozen: normalised once here, so lookups never lower-case again.
        object.__setattr__(self, "schemes", schemes)
        object.__setattr__(self, "aliases", MappingProxyType(aliases))

    def resolve_scheme(self, name: str) -> str | None:
        """Return the scheme ``name`` stands for on this driver, or ``None``.

        Args:
            name: A lower-case scheme or alias.

        Returns:
            ``name`` if it is one of :attr:`schemes`, the scheme an alias
            names, or ``None`` when the driver declares neither.
        """
        if name in self.schemes:
            return name
        return self.aliases.get(name)
