"""ConformanceSuite: every capability's tests in one class to subclass."""

from __future__ import annotations

from unistore.testing.suite_counter import CounterSuite
from unistore.testing.suite_forks import ForksSuite
from unistore.testing.suite_hash import HashSuite
from unistore.testing.suite_isolation import IsolationSuite
from unistore.testing.suite_kv import KeyValueSuite
from unistore.testing.suite_lifecycle import NamespaceLifecycleSuite
from unistore.testing.suite_listing import NamespaceListingSuite
from unistore.testing.suite_sessions import SessionsSuite
from unistore.testing.suite_store import StoreSuite
from unistore.testing.suite_transactions import TransactionsSuite
from unistore.testing.suite_ttl import TTLSuite
from unistore.testing.suite_validation import ValidationSuite

__all__ = ["ConformanceSuite"]


class ConformanceSuite(
    StoreSuite,
    KeyValueSuite,
    HashSuite,
    CounterSuite,
    TTLSuite,
    NamespaceLifecycleSuite,
    NamespaceListingSuite,
    TransactionsSuite,
    SessionsSuite,
    ForksSuite,
    IsolationSuite,
    ValidationSuite,
):
    """The whole driver conformance suite, as a pytest test class base.

    Subclass it in a driver's tests and give it the store URL::

        from unistore.testing import ConformanceSuite

        class TestMyDriver(ConformanceSuite):
            @pytest.fixture
            def store_url(self) -> str:
                return "mydriver://localhost/test"

            @pytest.fixture
            def store_options(self) -> dict[str, Any]:
                return {"pool_size": 2}

    Every test opens ``unistore.connect(store_url, **store_options)``, works in
    namespaces and session ids of its own, removes them afterwards, and skips
    (naming the capability) when the store does not declare what it needs. The
    capability mixins (``KeyValueSuite``, ``TransactionsSuite``, ...) can also be
    subclassed one by one.
    """
