"""ConformanceSuite: every capability's tests in one class to subclass."""

from __future__ import annotations

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

__all__ = ["SESSION_SUITES", "ConformanceSuite"]

#: Every suite of the session_documents capability, for drivers that mix them in.
SESSION_SUITES = (
    SessionsSuite,
    ForksSuite,
    PopSuite,
    ExactlyOnceSuite,
    ScopesSuite,
    RetentionSuite,
)


class ConformanceSuite(
    StoreSuite,
    KeyValueSuite,
    BatchSuite,
    HashSuite,
    CounterSuite,
    TTLSuite,
    PersistentSlotsSuite,
    NamespaceLifecycleSuite,
    PrefixSuite,
    NamespaceListingSuite,
    TransactionsSuite,
    SessionsSuite,
    ForksSuite,
    PopSuite,
    ExactlyOnceSuite,
    ScopesSuite,
    RetentionSuite,
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
    subclassed one by one; a sessions driver that is not a full store takes
    ``SessionsSuite``, ``ForksSuite``, ``PopSuite``, ``ExactlyOnceSuite``,
    ``ScopesSuite`` and ``RetentionSuite`` (see :data:`SESSION_SUITES`).
    """
