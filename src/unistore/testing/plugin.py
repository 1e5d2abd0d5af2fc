"""The pytest plugin of unistore (entry point ``pytest11``: ``unistore``).

It only adds the ``--unistore-url`` option; it imports nothing else, so it costs
nothing in pytest runs that do not use the conformance suite. With the option
(or the ``UNISTORE_URL`` environment variable) set, ``ConformanceSuite``
subclasses that do not override ``store_url`` run against that URL, and so does
``pytest --pyargs unistore.testing``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

__all__ = ["pytest_addoption"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--unistore-url``."""
    group = parser.getgroup("unistore", "unistore driver conformance suite")
    group.addoption(
        "--unistore-url",
        dest="unistore_url",
        default=None,
        metavar="URL",
        help=(
            "store URL the unistore conformance suite runs against "
            "(default: the UNISTORE_URL environment variable)"
        ),
    )
