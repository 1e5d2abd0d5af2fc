"""The driver conformance suite, shipped as a pytest plugin.

A driver runs it by subclassing :class:`ConformanceSuite` with a ``store_url``
fixture, or without any code::

    pytest --pyargs unistore.testing --unistore-url "mydriver://..."

The names below are imported on first use, so that loading the pytest plugin
(``unistore.testing.plugin``) in every pytest run of an environment costs
nothing and needs neither pytest-asyncio nor a store.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unistore.testing._clock import ManualClock, pass_a_long_time, pass_time
    from unistore.testing._fixtures import SuiteFixtures
    from unistore.testing._suite import SESSION_SUITES, ConformanceSuite
    from unistore.testing._support import (
        HOSTILE_IDS,
        LONG_TTL,
        FullStore,
        IdFactory,
        Reconnect,
        require,
    )
    from unistore.testing.suite_batch import BatchSuite
    from unistore.testing.suite_counter import CounterSuite
    from unistore.testing.suite_exactly_once import ExactlyOnceSuite
    from unistore.testing.suite_forks import ForksSuite
    from unistore.testing.suite_hash import HashSuite
    from unistore.testing.suite_isolation import IsolationSuite
    from unistore.testing.suite_kv import KeyValueSuite
    from unistore.testing.suite_lifecycle import NamespaceLifecycleSuite
    from unistore.testing.suite_listing import NamespaceListingSuite
    from unistore.testing.suite_persistent import PersistentSlotsSuite
    from unistore.testing.suite_pop import PopSuite
    from unistore.testing.suite_prefix import PrefixSuite
    from unistore.testing.suite_retention import RetentionSuite
    from unistore.testing.suite_scopes import ScopesSuite
    from unistore.testing.suite_sessions import SessionsSuite
    from unistore.testing.suite_store import StoreSuite
    from unistore.testing.suite_transactions import TransactionsSuite
    from unistore.testing.suite_ttl import TTLSuite
    from unistore.testing.suite_validation import ValidationSuite

__all__ = [
    "SESSION_SUITES",
    "BatchSuite",
    "ConformanceSuite",
    "CounterSuite",
    "ExactlyOnceSuite",
    "ForksSuite",
    "FullStore",
    "HOSTILE_IDS",
    "HashSuite",
    "IdFactory",
    "IsolationSuite",
    "KeyValueSuite",
    "LONG_TTL",
    "ManualClock",
    "NamespaceLifecycleSuite",
    "NamespaceListingSuite",
    "PersistentSlotsSuite",
    "PopSuite",
    "PrefixSuite",
    "Reconnect",
    "RetentionSuite",
    "ScopesSuite",
    "SessionsSuite",
    "StoreSuite",
    "SuiteFixtures",
    "TTLSuite",
    "TransactionsSuite",
    "ValidationSuite",
    "pass_a_long_time",
    "pass_time",
    "require",
]

_HOMES = {
    "SESSION_SUITES": "_suite",
    "BatchSuite": "suite_batch",
    "ConformanceSuite": "_suite",
    "CounterSuite": "suite_counter",
    "ExactlyOnceSuite": "suite_exactly_once",
    "ForksSuite": "suite_forks",
    "FullStore": "_support",
    "HOSTILE_IDS": "_support",
    "HashSuite": "suite_hash",
    "IdFactory": "_support",
    "IsolationSuite": "suite_isolation",
    "KeyValueSuite": "suite_kv",
    "LONG_TTL": "_support",
    "ManualClock": "_clock",
    "NamespaceLifecycleSuite": "suite_lifecycle",
    "NamespaceListingSuite": "suite_listing",
    "PersistentSlotsSuite": "suite_persistent",
    "PopSuite": "suite_pop",
    "PrefixSuite": "suite_prefix",
    "Reconnect": "_support",
    "RetentionSuite": "suite_retention",
    "ScopesSuite": "suite_scopes",
    "SessionsSuite": "suite_sessions",
    "StoreSuite": "suite_store",
    "SuiteFixtures": "_fixtures",
    "TTLSuite": "suite_ttl",
    "TransactionsSuite": "suite_transactions",
    "ValidationSuite": "suite_validation",
    "pass_a_long_time": "_clock",
    "pass_time": "_clock",
    "require": "_support",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'unistore.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"unistore.testing.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
