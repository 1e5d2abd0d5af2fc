"""The shipped drivers' schemes, known before any driver is imported.

A driver declares its schemes and aliases once, on its
:class:`~unistore.protocols.Driver`. This table mirrors the declarations of
the drivers unistore ships (fsspec's ``known_implementations`` plays the same
part), for the two questions that must be answered without importing a
driver: which scheme an alias stands for when a URL is parsed, and which
distribution to install for a scheme no installed driver serves. A test
(``tests/test_registry.py``) checks that every installed shipped driver
declares exactly what its rows say, so the table cannot drift from the
declarations it mirrors.

A third party's driver needs no row: its entry points name its schemes (and
aliases), and the registry reads its declaration once it is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["KNOWN_SCHEMES", "KnownScheme", "canonical_scheme", "known_package"]


@dataclass(frozen=True, slots=True)
class KnownScheme:
    """One row of the known-schemes table.

    Attributes:
        distribution: The distribution whose driver serves the scheme.
        alias_of: For an alias, the scheme it stands for; ``None`` for a scheme.
    """

    distribution: str
    alias_of: str | None = None


#: Scheme or alias -> its row, sorted by name (a test keeps it so).
KNOWN_SCHEMES: Mapping[str, KnownScheme] = MappingProxyType(
    {
        "file": KnownScheme("unistore-fs"),
        "fs": KnownScheme("unistore-fs", alias_of="file"),
        "memory": KnownScheme("unistore"),
        "postgres": KnownScheme("unistore-sql", alias_of="postgresql"),
        "postgresql": KnownScheme("unistore-sql"),
        "redis": KnownScheme("unistore-redis"),
        "rediss": KnownScheme("unistore-redis"),
        "sqlite": KnownScheme("unistore-sql"),
        "sqlite3": KnownScheme("unistore-sql", alias_of="sqlite"),
    }
)


def canonical_scheme(scheme: str) -> str:
    """Return the scheme a known alias stands for, or ``scheme`` itself."""
    row = KNOWN_SCHEMES.get(scheme)
    return row.alias_of if row is not None and row.alias_of is not None else scheme


def known_package(scheme: str) -> str | None:
    """Return the distribution to install for a shipped scheme or alias, else ``None``."""
    row = KNOWN_SCHEMES.get(scheme)
    return row.distribution if row is not None else None
