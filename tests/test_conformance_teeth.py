"""The conformance suite has teeth: deliberately broken drivers fail it where they break.

Each toy driver is a working driver with one realistic bug: the one-file
example driver of the docs (docs/examples/tiny_driver.py) for slots, counters
and transactions, the memory driver for sessions. The suite runs against it
in a nested pytest session (pytester) and must fail exactly in the tests that
cover that bug, while the unbroken drivers pass the same run.

Several bugs sit in the public methods the SDK makes final (argument checks):
a toy overrides them anyway, as a driver written without the SDK would.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import unistore
from unistore import StoreURL
from unistore._memory import MemoryStore
from unistore.errors import SlotKindError
from unistore.protocols import SessionRecord, Store
from unistore.sdk import CLOCK_OPTION, Op, TransactionBase

pytest_plugins = ["pytester"]

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "tiny_driver.py"


def _load_tiny() -> ModuleType:
    # The same module object as tests/test_tiny_driver.py loads.
    loaded = sys.modules.get("tiny_driver")
    if loaded is None:
        spec = importlib.util.spec_from_file_location("tiny_driver", EXAMPLE)
        assert spec is not None
        assert spec.loader is not None
        loaded = importlib.util.module_from_spec(spec)
        sys.modules["tiny_driver"] = loaded
        spec.loader.exec_module(loaded)
    return loaded


tiny = _load_tiny()
TinyStore: type[Any] = tiny.TinyStore
TinyTransaction: type[Any] = tiny.TinyTransaction


# -- namespaces ---------------------------------------------------------------------


class PurgeLeakStore(TinyStore):
    """purge() also empties every namespace whose name merely starts with the one purged.

    The bug of a store that deletes by pattern (``SCAN MATCH ns*``, ``LIKE 'ns%'``).
    """

    async def _purge(self, ns: str) -> int:
        doomed = [name for name in list(self.data.tables) if name.startswith(ns)]
        count = 0
        for name in doomed:
            count += len(self._table(name))
            del self.data.tables[name]
        return count


class UndeadStore(TinyStore):
    """get() returns expired scalars until something reclaims them."""

    async def _get(self, ns: str, slot: str) -> bytes | None:
        entry = self.data.tables.get(ns, {}).get(slot)
        if entry is not None and isinstance(entry.value, bytes):
            return entry.value
        return await super()._get(ns, slot)


# -- transactions -------------------------------------------------------------------


class _BlindTransaction(TinyTransaction):
    async def _commit(self, ops: Sequence[Op]) -> bool:
        # Compares presence, not versions: writes are missed, deletes and expiry seen.
        store = self.tiny
        for slot, seen in self.seen.items():
            now = store._version(self.ns, slot)
            if (now is None) != (seen is None):
                return False
            self.seen[slot] = now
        return bool(await super()._commit(ops))


class BlindTransactionStore(TinyStore):
    """Transactions miss conflicting writes of a watched slot (deletes still count)."""

    def _transaction(self, ns: str, watch: tuple[str, ...]) -> TransactionBase:
        return _BlindTransaction(self, ns, watch)


class TouchBlindStore(TinyStore):
    """touch() and expire() move the expiry but are no change to a watching transaction."""

    async def _expire(self, ns: str, slot: str, ttl: float) -> bool:
        entry = self._entry(ns, slot)
        if entry is None:
            return False
        entry.expires_at = self.clock() + ttl
        return True

    async def _touch(self, ns: str, ttl: float) -> int:
        table = self._table(ns)
        for entry in table.values():
            entry.expires_at = self.clock() + ttl
        return len(table)


class _StaleTtlTransaction(TinyTransaction):
    async def _commit(self, ops: Sequence[Op]) -> bool:
        # Upserts the fields but keeps an existing hash's old expiry.
        store, before = self.tiny, {}
        for op in ops:
            entry = store._entry(self.ns, op.slot)
            if entry is not None and isinstance(entry.value, dict):
                before[op.slot] = entry.expires_at
        applied = bool(await super()._commit(ops))
        for slot, expires_at in before.items():
            entry = store._entry(self.ns, slot)
            if entry is not None and isinstance(entry.value, dict):
                entry.expires_at = expires_at
        return applied


class StaleTtlTransactionStore(TinyStore):
    """A queued hset of an existing hash does not re-apply its TTL."""

    def _transaction(self, ns: str, watch: tuple[str, ...]) -> TransactionBase:
        return _StaleTtlTransaction(self, ns, watch)


class NoHookStore(TinyStore):
    """A store with transactions but no conflict-injection hook (a driver without the SDK)."""

    simulate_concurrent_change = None


# -- counters -----------------------------------------------------------------------


class LaxCounterStore(TinyStore):
    """incr parses with int() and ignores int64: "05", " 7", "+1" count; 2**63 is stored."""

    async def _incr(self, ns: str, slot: str, amount: int, ttl: float) -> int:
        entry = self._entry(ns, slot)
        if entry is not None and isinstance(entry.value, dict):
            raise SlotKindError("a hash")
        try:
            current = 0 if entry is None else int(entry.value)
        except ValueError:
            raise SlotKindError("not an integer") from None
        total = current + amount
        await self._set(ns, slot, str(total).encode(), ttl)
        if entry is not None:
            self._table(ns)[slot].expires_at = entry.expires_at
        return total


# -- argument checks that a driver without the SDK got wrong ------------------------


class IntSlotStore(TinyStore):
    """set() and get() turn a slot name of another type into text: 5 becomes "5"."""

    async def set(self, ns: str, slot: Any, value: bytes, *, ttl: float) -> None:  # type: ignore[misc]
        await super().set(ns, str(slot), value, ttl=ttl)

    async def get(self, ns: str, slot: Any) -> bytes | None:  # type: ignore[misc]
        return await super().get(ns, str(slot))  # type: ignore[no-any-return]


class BoolTtlStore(TinyStore):
    """set() takes ttl=True for one second (bool is an int subclass)."""

    async def set(self, ns: str, slot: str, value: bytes, *, ttl: Any) -> None:  # type: ignore[misc]
        await super().set(ns, slot, value, ttl=float(ttl) if isinstance(ttl, bool) else ttl)


class StrFieldsStore(TinyStore):
    """hdel(fields="xy") deletes the fields "x" and "y" (a str is a sequence)."""

    async def hdel(self, ns: str, slot: str, fields: Any) -> int:  # type: ignore[misc]
        return await super().hdel(ns, slot, list(fields))  # type: ignore[no-any-return]


# -- sessions (on the memory driver) ------------------------------------------------


class ForkLossStore(MemoryStore):
    """delete_session() drops the parent's messages before its forks copied them."""

    async def _delete_session(self, session_id: str) -> bool:
        session = self._sessions._sessions.get(session_id)
        if session is not None:
            session.own.clear()
        return await super()._delete_session(session_id)


class LastSliceStore(MemoryStore):
    """read_messages(last=n) slices ``messages[length - n:]``: last=7 of 6 gives 1."""

    async def _read_messages(self, session_id: str, last: int | None) -> list[str]:
        every = await super()._read_messages(session_id, None)
        return every if last is None else every[len(every) - last :]


class MetadataPairsStore(MemoryStore):
    """create_session() and update_session() take a list of pairs as metadata."""

    async def create_session(  # type: ignore[override]
        self, session_id: str, *, label: str | None = None, metadata: Any = None
    ) -> SessionRecord:
        if isinstance(metadata, list):
            metadata = dict(metadata)
        return await super().create_session(session_id, label=label, metadata=metadata)

    async def update_session(  # type: ignore[override]
        self, session_id: str, *, label: str | None = None, metadata: Any = None
    ) -> SessionRecord:
        if isinstance(metadata, list):
            metadata = dict(metadata)
        return await super().update_session(session_id, label=label, metadata=metadata)


def _factory(cls: type[Any]) -> Callable[[StoreURL, Mapping[str, Any]], Store]:
    def open_store(url: StoreURL, options: Mapping[str, Any]) -> Store:
        return cls(url, clock=options.get("clock"))  # type: ignore[no-any-return]

    return open_store


def _variants(test: str, *params: str) -> set[str]:
    return {f"{test}[{param}]" for param in params}


_CONFLICTS = "test_concurrent_change_of_a_watched_slot_conflicts"
_VIA = ("same-store", "second-connection")
_BAD_ID = "test_a_slot_name_that_is_not_str_is_refused"
_BAD_TTL = "test_a_ttl_that_is_not_positive_finite_seconds_is_refused"

#: toy scheme -> (store class, tests that must fail, tests that must pass).
TOYS: dict[str, tuple[type[Any], set[str], set[str]]] = {
    "toy-purge-leak": (
        PurgeLeakStore,
        {"test_purge_and_touch_stay_inside_their_namespace"},
        {"test_purge_removes_every_slot_and_returns_the_count"},
    ),
    "toy-blind-transaction": (
        BlindTransactionStore,
        {
            *(
                f"{_CONFLICTS}[{change}-{via}]"
                for change in ("set", "hset", "hdel", "incr", "touch", "expire")
                for via in _VIA
            ),
            *_variants("test_watching_several_slots", "first", "last"),
            "test_commit_without_writes_still_checks",
            "test_a_new_transaction_after_a_conflict_commits",
            "test_transactions_watch_only_their_own_slot",
        },
        {
            # Deletes, purges, creation and expiry are still detected: only writes are missed.
            *(f"{_CONFLICTS}[{change}-{via}]" for change in ("delete", "purge") for via in _VIA),
            *_variants("test_creating_a_watched_absent_slot_conflicts", *_VIA),
            "test_expiry_of_a_watched_slot_conflicts",
            "test_commit_applies_every_queued_write",
            "test_simulated_concurrent_change_conflicts",
        },
    ),
    "toy-touch-blind": (
        TouchBlindStore,
        {f"{_CONFLICTS}[{change}-{via}]" for change in ("touch", "expire") for via in _VIA},
        {f"{_CONFLICTS}[set-{via}]" for via in _VIA},
    ),
    "toy-stale-tx-ttl": (
        StaleTtlTransactionStore,
        {"test_queued_writes_apply_their_own_ttl"},
        {"test_commit_applies_every_queued_write", "test_expiry_of_a_watched_slot_conflicts"},
    ),
    "toy-no-hook": (
        NoHookStore,
        {"test_simulated_concurrent_change_conflicts"},
        {f"{_CONFLICTS}[set-{via}]" for via in _VIA},
    ),
    "toy-undead": (
        UndeadStore,
        {
            "test_expired_scalar_is_invisible",
            "test_expire_can_make_a_slot_expire",
            "test_counter_expires_and_keeps_its_first_expiry",
            "test_touch_and_expiry",
        },
        {
            "test_expired_hash_is_invisible",
            "test_expiry_of_a_watched_slot_conflicts",
            "test_set_then_get_returns_the_same_bytes[empty]",
        },
    ),
    "toy-lax-counter": (
        LaxCounterStore,
        set(),  # filled in below: every non-canonical value and every overflow
        {
            "test_incr_adds_any_amount",
            "test_incr_of_a_non_integer_scalar_raises_slot_kind_error[abc]",
        },
    ),
    "toy-int-slot": (
        IntSlotStore,
        {
            f"{_BAD_ID}[{call}-{bad}]"
            for call in ("get", "set")
            for bad in ("5", "None", "b's'", "True")
        },
        {f"{_BAD_ID}[hset-5]", f"{_BAD_ID}[delete-5]"},
    ),
    "toy-bool-ttl": (
        BoolTtlStore,
        {f"{_BAD_TTL}[True]"},
        {f"{_BAD_TTL}[0]", "test_queued_writes_check_their_arguments"},
    ),
    "toy-str-fields": (
        StrFieldsStore,
        # list(5) and list(None) raise TypeError instead of ValidationError.
        _variants("test_hdel_fields_must_be_a_list_of_names", "'xy'", "'x'", "5", "None"),
        {
            "test_hdel_fields_must_be_a_list_of_names[[5]]",
            "test_hdel_returns_how_many_fields_existed",
        },
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
    "toy-last-slice": (
        LastSliceStore,
        _variants("test_read_last_n_for_every_n", "plain", "forked"),
        {"test_read_last_messages", "test_fork_of_a_fork"},
    ),
    "toy-metadata-pairs": (
        MetadataPairsStore,
        {"test_session_metadata_must_be_a_json_mapping[[('a', 1)]]"},
        {"test_session_metadata_must_be_a_json_mapping['text']", "test_update_session"},
    ),
}
TOYS["toy-lax-counter"][1].update(
    {
        *(
            f"test_incr_of_a_non_canonical_integer_raises_slot_kind_error[{value}]"
            for value in ("05", "00", "-0", " 7", "7 ", "1_000", "+1", "9223372036854775808")
        ),
        "test_incr_of_a_non_integer_scalar_raises_slot_kind_error[1_000]",
        "test_incr_of_a_non_integer_scalar_raises_slot_kind_error[ 7]",
        *_variants(
            "test_incr_past_int64_raises_and_changes_nothing",
            "max+1",
            "max-5+10",
            "1+max",
            "min-1",
            "min+5-10",
            "-2+min",
        ),
    }
)

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
        # With the clock option, the suite runs the toys on a manual clock.
        unistore.register(scheme, _factory(cls), options=(CLOCK_OPTION,))
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


def test_tiny_driver_passes_the_same_run(pytester: pytest.Pytester) -> None:
    unistore.register("toy-tiny", tiny.DRIVER)
    try:
        outcome = run_suite(pytester, "toy-tiny://teeth-tiny")
    finally:
        unistore.unregister("toy-tiny")
    assert outcome["failed"] == set()
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
