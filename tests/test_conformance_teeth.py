"""The conformance suite has teeth: deliberately broken drivers fail it where they break.

Each toy driver is the memory driver with one realistic bug. The suite runs
against it in a nested pytest session (pytester) and must fail exactly in the
tests that cover that bug, while the memory driver itself passes the same run.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest

import unistore
from unistore import StoreURL
from unistore._memory import MemoryStore
from unistore._memory_kv import MemoryTransaction
from unistore.protocols import SlotKind, Store

pytest_plugins = ["pytester"]


class PurgeLeakStore(MemoryStore):
    """purge() also empties every namespace whose name merely starts with the one purged.

    The bug of a store that deletes by pattern (``SCAN MATCH ns*``, ``LIKE 'ns%'``).
    """

    async def purge(self, ns: str) -> int:
        self._check_open()
        doomed = [name for name in list(self.backend._data) if name.startswith(ns)]
        return sum(self.backend.purge(name) for name in doomed)


class _BlindTransaction(MemoryTransaction):
    async def commit(self) -> None:
        # Forgets the write notifications: only deletes and expiry still conflict.
        self.conflicted = False
        await super().commit()


class BlindTransactionStore(MemoryStore):
    """Transactions miss conflicting writes of a watched slot (deletes still count)."""

    def transaction(self, ns: str, watch: Sequence[str]) -> MemoryTransaction:
        self._check_open()
        return _BlindTransaction(self.backend, ns, watch)


class _StaleTtlTransaction(MemoryTransaction):
    async def commit(self) -> None:
        # Upserts the fields but keeps an existing hash's old expiry.
        backend, ns = self._backend, self._ns
        before = {}
        for op, slot, _, _ in self._ops:
            entry = backend._lookup(ns, slot) if op == "hset" else None
            if entry is not None:
                before[slot] = entry.expires_at
        await super().commit()
        for slot, expires_at in before.items():
            entry = backend._lookup(ns, slot)
            if entry is not None:
                entry.expires_at = expires_at


class StaleTtlTransactionStore(MemoryStore):
    """A queued hset of an existing hash does not re-apply its TTL."""

    def transaction(self, ns: str, watch: Sequence[str]) -> MemoryTransaction:
        self._check_open()
        return _StaleTtlTransaction(self.backend, ns, watch)


class UndeadStore(MemoryStore):
    """get() returns expired scalars until something reclaims them."""

    async def get(self, ns: str, slot: str) -> bytes | None:
        self._check_open()
        entry = self.backend._data.get(ns, {}).get(slot)
        if entry is not None and entry.kind is SlotKind.SCALAR:
            assert isinstance(entry.value, bytes)
            return entry.value
        return await super().get(ns, slot)


class ForkLossStore(MemoryStore):
    """delete_session() drops the parent's messages before its forks copied them."""

    async def delete_session(self, session_id: str) -> bool:
        self._check_open()
        session = self._sessions._sessions.get(session_id)
        if session is not None:
            session.own.clear()
        return await super().delete_session(session_id)


def _factory(cls: type[MemoryStore]) -> Callable[[StoreURL, Mapping[str, Any]], Store]:
    def open_store(url: StoreURL, options: Mapping[str, Any]) -> Store:
        return cls(url)

    return open_store


def _variants(test: str, *params: str) -> set[str]:
    return {f"{test}[{param}]" for param in params}


_CONFLICTS = "test_concurrent_change_of_a_watched_slot_conflicts"
_VIA = ("same-store", "second-connection")

#: toy scheme -> (store class, tests that must fail, tests that must pass).
TOYS: dict[str, tuple[type[MemoryStore], set[str], set[str]]] = {
    "toy-purge-leak": (
        PurgeLeakStore,
        {
            "test_purge_and_touch_stay_inside_their_namespace",
            "test_sessions_and_slots_do_not_collide",
        },
        {"test_purge_removes_every_slot_and_returns_the_count"},
    ),
    "toy-blind-transaction": (
        BlindTransactionStore,
        {
            *(
                f"{_CONFLICTS}[{change}-{via}]"
                for change in ("set", "hset", "hdel", "incr")
                for via in _VIA
            ),
            *_variants("test_creating_a_watched_absent_slot_conflicts", *_VIA),
            *_variants("test_watching_several_slots", "first", "last"),
            "test_commit_without_writes_still_checks",
            "test_a_new_transaction_after_a_conflict_commits",
            "test_transactions_watch_only_their_own_slot",
        },
        {
            # Deletes, purges and expiry are still detected: only writes are missed.
            *(f"{_CONFLICTS}[{change}-{via}]" for change in ("delete", "purge") for via in _VIA),
            "test_expiry_of_a_watched_slot_conflicts",
            "test_commit_applies_every_queued_write",
        },
    ),
    "toy-stale-tx-ttl": (
        StaleTtlTransactionStore,
        {"test_queued_writes_apply_their_own_ttl"},
        {"test_commit_applies_every_queued_write", "test_expiry_of_a_watched_slot_conflicts"},
    ),
    "toy-undead": (
        UndeadStore,
        {
            "test_expired_scalar_is_invisible",
            "test_expire_can_make_a_slot_expire",
            "test_counter_expires_and_keeps_its_first_expiry",
            "test_touch_and_expiry",
            "test_expiry_of_a_watched_slot_conflicts",
        },
        {"test_expired_hash_is_invisible", "test_set_then_get_returns_the_same_bytes[empty]"},
    ),
    "toy-fork-loss": (
        ForkLossStore,
        {
            "test_deleting_the_parent_keeps_its_forks",
            "test_reusing_a_deleted_parents_id_changes_no_fork",
            "test_deleting_a_middle_fork_keeps_the_grandchild",
            "test_forks_between_hostile_session_ids",
        },
        {"test_editing_the_parent_keeps_its_forks", "test_delete_session"},
    ),
}

#: Options of every nested run: no configuration file, so asyncio mode is strict.
NESTED = (
    "-p",
    "no:cacheprovider",
    "-W",
    "error",
    # unistore was imported by this outer session, before the nested one started.
    "-W",
    "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning",
    "-o",
    "asyncio_default_fixture_loop_scope=function",
)


@pytest.fixture
def registered() -> Iterator[None]:
    for scheme, (cls, _, _) in TOYS.items():
        unistore.register(scheme, _factory(cls))
    yield
    for scheme in TOYS:
        unistore.unregister(scheme)


def run_suite(pytester: pytest.Pytester, url: str, *args: str) -> dict[str, set[str]]:
    """Run ConformanceSuite subclassed for ``url`` (fast TTLs); return outcome -> test names."""
    pytester.makepyfile(
        test_toy=textwrap.dedent(
            f"""
            import pytest
            from unistore.testing import ConformanceSuite

            class TestToy(ConformanceSuite):
                short_ttl = 0.05
                expiry_wait = 0.12

                @pytest.fixture
                def store_url(self):
                    return {url!r}
            """
        )
    )
    recorder = pytester.inline_run(*NESTED, *args)
    passed, skipped, failed = recorder.listoutcomes()
    errors = [
        r.nodeid
        for r in recorder.getreports("pytest_runtest_logreport")
        if r.when != "call" and r.failed
    ]
    assert not errors, f"errors outside test calls: {errors}"
    return {
        "passed": {r.nodeid.rpartition("::")[2] for r in passed},
        "skipped": {r.nodeid.rpartition("::")[2] for r in skipped},
        "failed": {r.nodeid.rpartition("::")[2] for r in failed},
    }


@pytest.mark.parametrize("scheme", list(TOYS))
def test_broken_driver_fails_the_suite_where_it_breaks(
    pytester: pytest.Pytester, registered: None, scheme: str
) -> None:
    _, must_fail, must_pass = TOYS[scheme]
    outcome = run_suite(pytester, f"{scheme}://teeth-{scheme}")
    assert outcome["failed"] == must_fail
    assert must_pass <= outcome["passed"]
    assert len(outcome["passed"]) > 100


def test_memory_driver_passes_the_same_run(pytester: pytest.Pytester) -> None:
    outcome = run_suite(pytester, "memory://teeth-memory")
    assert outcome["failed"] == set()
    assert outcome["skipped"] == set()
    assert len(outcome["passed"]) > 100


def test_suite_runs_from_the_command_line_option(pytester: pytest.Pytester) -> None:
    """``pytest --pyargs unistore.testing --unistore-url URL`` in strict asyncio mode."""
    recorder = pytester.inline_run(
        "--pyargs",
        "unistore.testing",
        "--unistore-url=memory://teeth-option",
        *NESTED,
        "-k",
        "test_store_declares_its_capabilities or test_fork_of_a_fork or test_hset_returns",
    )
    passed, skipped, failed = recorder.listoutcomes()
    assert (len(passed), len(skipped), len(failed)) == (3, 0, 0)


def test_suite_without_a_url_skips_with_a_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UNISTORE_URL", raising=False)
    result = pytester.runpytest_inprocess(
        "--pyargs", "unistore.testing", *NESTED, "-rs", "-k", "test_slot_kind"
    )
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no store URL: pass --unistore-url URL or set UNISTORE_URL*"])


_FORGOT = """
from unistore.testing import ConformanceSuite

class TestForgot(ConformanceSuite):
    pass
"""


@pytest.mark.parametrize("source", ["option", "environment"])
def test_subclass_without_store_url_uses_the_configured_url(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    pytester.makepyfile(test_forgot=_FORGOT)
    args = [*NESTED, "-k", "test_slot_kind or test_fork_of_a_fork"]
    if source == "option":
        monkeypatch.delenv("UNISTORE_URL", raising=False)
        args.append("--unistore-url=memory://teeth-option")
    else:
        monkeypatch.setenv("UNISTORE_URL", "memory://teeth-environment")
    result = pytester.runpytest_inprocess(*args)
    result.assert_outcomes(passed=2)


def test_subclass_without_store_url_fails_clearly(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_forgot=_FORGOT)
    monkeypatch.delenv("UNISTORE_URL", raising=False)
    result = pytester.runpytest_inprocess(*NESTED, "-k", "test_slot_kind")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*TestForgot must override the store_url fixture*"])


def test_undeclared_capabilities_are_skipped(pytester: pytest.Pytester) -> None:
    class KeyValueOnly(MemoryStore):
        CAPABILITIES = frozenset({unistore.Capability.KEY_VALUE})

    unistore.register("toy-kv-only", _factory(KeyValueOnly))
    try:
        outcome = run_suite(pytester, "toy-kv-only://teeth-kv", "-k", "hset_returns or fork_of")
    finally:
        unistore.unregister("toy-kv-only")
    assert outcome["skipped"] == {
        "test_hset_returns_the_number_of_new_fields",
        "test_fork_of_a_fork",
    }
