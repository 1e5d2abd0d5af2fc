"""The conformance suite has teeth: deliberately broken drivers fail it where they break.

Each toy driver is a working driver with one realistic bug: the one-file
example driver of the docs (docs/examples/tiny_driver.py) for slots, counters
and transactions, the memory driver for sessions. The suite runs against it
in a nested pytest session (pytester) and must fail exactly in the tests that
cover that bug, while the unbroken drivers pass the same run.

Several bugs sit in the public methods the SDK makes final (argument checks):
a toy overrides them anyway, as a driver written without the SDK would.

The toys of contract v2 (batches, prefix listing, slots without expiry,
scopes, idempotency tokens, pop, retention) run only the tests about their
area (:data:`SELECT`), which keeps this module's nested runs short.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import unistore
from unistore import StoreURL
from unistore._memory import MemoryStore
from unistore._memory._sessions import MemorySessions
from unistore.errors import SessionNotFoundError, SlotKindError
from unistore.protocols import SessionPage, SessionRecord, Store
from unistore.sdk import (
    CLOCK_OPTION,
    ForkRequest,
    MessageWrite,
    NewSession,
    Op,
    PopRequest,
    TransactionBase,
    expiry_micros,
    length_conflict,
)

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


# -- batches ------------------------------------------------------------------------


class TornBatchStore(TinyStore):
    """set_many() writes its slots one by one and yields in between (a pipeline, no MULTI)."""

    async def _set_many(self, ns: str, mapping: dict[str, bytes], ttl: float | None) -> None:
        for slot, value in mapping.items():
            await self._set(ns, slot, value, ttl)
            await asyncio.sleep(0)


class KindBatchStore(TinyStore):
    """get_many() reads each slot with get(): a hash in the batch raises SlotKindError."""

    async def _get_many(self, ns: str, slots: list[str]) -> list[bytes | None]:
        return [await self._get(ns, slot) for slot in slots]


class CountAllBatchStore(TinyStore):
    """delete_many() returns how many names it was given, not how many existed."""

    async def _delete(self, ns: str, slot: str) -> bool:
        return await TinyStore._delete_many(self, ns, [slot]) == 1

    async def _delete_many(self, ns: str, slots: list[str]) -> int:
        await super()._delete_many(ns, slots)
        return len(slots)


class EagerBatchStore(TinyStore):
    """set_many() (without the SDK's checks) writes each slot as it goes: a bad one is late."""

    async def set_many(self, ns: str, mapping: Any, *, ttl: float | None) -> None:  # type: ignore[misc]
        for slot, value in mapping.items():
            await self.set(ns, slot, value, ttl=ttl)


# -- prefix listing -----------------------------------------------------------------


class LikePrefixStore(TinyStore):
    """slots() filters with SQL LIKE and no ESCAPE clause: a backslash escapes, % and _ match."""

    async def _slots(self, ns: str, prefix: str) -> list[str]:
        pattern: list[str] = []
        chars = iter(prefix)
        for char in chars:
            if char == "\\":
                escaped = next(chars, None)
                if escaped is None:
                    return []  # a dangling escape matches nothing
                pattern.append(re.escape(escaped))
            else:
                pattern.append({"%": ".*", "_": "."}.get(char) or re.escape(char))
        regex = re.compile("".join(pattern), re.DOTALL)
        return [slot for slot in await super()._slots(ns, "") if regex.match(slot)]


class MaxCodePointPrefixStore(TinyStore):
    """slots() ranges over [prefix, prefix with its last character + 1), capped at U+10FFFF."""

    async def _slots(self, ns: str, prefix: str) -> list[str]:
        every = await super()._slots(ns, "")
        if not prefix:
            return every
        upper = prefix[:-1] + chr(min(ord(prefix[-1]) + 1, 0x10FFFF))
        return [slot for slot in every if prefix <= slot < upper]


class UndeadPrefixStore(TinyStore):
    """slots() with a prefix reads the raw table, expired entries included."""

    async def _slots(self, ns: str, prefix: str) -> list[str]:
        if not prefix:
            return await super()._slots(ns, prefix)
        return [slot for slot in self.data.tables.get(ns, {}) if slot.startswith(prefix)]


# -- slots without expiry -----------------------------------------------------------


class LongTtlStore(TinyStore):
    """ttl=None is stored as 30 days: "never" ends, and get_ttl is finite."""

    def _write(
        self, table: Any, slot: str, value: bytes | dict[str, bytes], ttl: float | None
    ) -> None:
        super()._write(table, slot, value, 30 * 86400.0 if ttl is None else ttl)


class KeepTtlStore(TinyStore):
    """set() with ttl=None keeps the expiry the slot had (Redis's SET ... KEEPTTL)."""

    async def _set(self, ns: str, slot: str, value: bytes, ttl: float | None) -> None:
        entry = self._entry(ns, slot) if ttl is None else None
        await super()._set(ns, slot, value, ttl)
        if entry is not None:
            self._table(ns)[slot].expires_at = entry.expires_at


# -- sessions (on the memory driver) ------------------------------------------------


class ForkLossStore(MemoryStore):
    """delete_session() drops the parent's messages before its forks copied them."""

    async def _delete_session(self, session_id: str, scope: str) -> bool:
        session = self._sessions._find(scope, session_id)
        if session is not None:
            session.own.clear()
        return await super()._delete_session(session_id, scope)


class LastSliceStore(MemoryStore):
    """read_messages(last=n) slices ``messages[length - n:]``: last=7 of 6 gives 1."""

    async def _read_messages(self, session_id: str, last: int | None, scope: str) -> list[str]:
        every = await super()._read_messages(session_id, None, scope)
        return every if last is None else every[len(every) - last :]


class MetadataPairsStore(MemoryStore):
    """create_session() and update_session() take a list of pairs as metadata."""

    async def create_session(  # type: ignore[misc]
        self, session_id: str, *, metadata: Any = None, **kw: Any
    ) -> SessionRecord:
        if isinstance(metadata, list):
            metadata = dict(metadata)
        return await super().create_session(session_id, metadata=metadata, **kw)

    async def update_session(  # type: ignore[misc]
        self, session_id: str, *, metadata: Any = None, **kw: Any
    ) -> SessionRecord:
        if isinstance(metadata, list):
            metadata = dict(metadata)
        return await super().update_session(session_id, metadata=metadata, **kw)


class ScopeLeakListStore(MemoryStore):
    """list_sessions() forgets the scope: every listing shows the default scope."""

    async def _list_sessions(self, limit: int, cursor: str | None, scope: str) -> SessionPage:
        return await super()._list_sessions(limit, cursor, "")


class ScopeHintStore(MemoryStore):
    """A session asked in the wrong scope is "not found", with a message saying it exists."""

    def _hint(self, session_id: str, scope: str) -> None:
        for other in self._sessions.scopes():
            if other != scope and self._sessions.get(session_id, other) is not None:
                raise SessionNotFoundError(
                    f"session {session_id!r} exists, in another scope", session_id=session_id
                )

    async def _read_messages(self, session_id: str, last: int | None, scope: str) -> list[str]:
        try:
            return await super()._read_messages(session_id, last, scope)
        except SessionNotFoundError:
            self._hint(session_id, scope)
            raise

    async def _write_messages(self, write: MessageWrite) -> int:
        try:
            return await super()._write_messages(write)
        except SessionNotFoundError:
            self._hint(write.session_id, write.scope)
            raise

    async def _pop_messages(self, pop: PopRequest) -> list[str]:
        try:
            return await super()._pop_messages(pop)
        except SessionNotFoundError:
            self._hint(pop.session_id, pop.scope)
            raise

    async def _update_session(
        self, session_id: str, label: str | None, metadata: dict[str, Any] | None, scope: str
    ) -> SessionRecord:
        try:
            return await super()._update_session(session_id, label, metadata, scope)
        except SessionNotFoundError:
            self._hint(session_id, scope)
            raise

    async def _fork_session(self, fork: ForkRequest) -> SessionRecord:
        try:
            return await super()._fork_session(fork)
        except SessionNotFoundError:
            self._hint(fork.parent_id, fork.scope)
            raise


class TokenBlindStore(MemoryStore):
    """Idempotency tokens are accepted and ignored: a retry writes again."""

    async def _write_messages(self, write: MessageWrite) -> int:
        return await super()._write_messages(replace(write, token=None))


class TokenLateStore(MemoryStore):
    """The length is checked before the token: a retry whose expected_length is stale conflicts."""

    async def _write_messages(self, write: MessageWrite) -> int:
        if write.expected_length is not None:
            record = await self._get_session(write.session_id, write.scope)
            if record is not None and record.message_count != write.expected_length:
                raise length_conflict(write.session_id, write.expected_length, record.message_count)
        return await super()._write_messages(write)


class TokenGlobalStore(MemoryStore):
    """A token applied on any session of the store makes the write a no-op everywhere."""

    async def _write_messages(self, write: MessageWrite) -> int:
        for space in self._sessions._spaces.values():
            for session in space.sessions.values():
                if write.token is not None and write.token in session.tokens:
                    return session.tokens[write.token]
        return await super()._write_messages(write)


class ShortTokenMemoryStore(MemoryStore):
    """Only the latest 10 tokens of a session are remembered."""

    async def _write_messages(self, write: MessageWrite) -> int:
        length = await super()._write_messages(write)
        session = self._sessions._find(write.scope, write.session_id)
        assert session is not None
        while len(session.tokens) > 10:
            del session.tokens[next(iter(session.tokens))]
        return length


class ReadThenAppendStore(MemoryStore):
    """An append without expected_length reads the length, then appends expecting it."""

    async def _write_messages(self, write: MessageWrite) -> int:
        if write.start is None and write.expected_length is None:
            record = await self._get_session(write.session_id, write.scope)
            await asyncio.sleep(0)  # the round trip between the read and the write
            if record is not None:
                write = replace(write, expected_length=record.message_count)
        return await super()._write_messages(write)


class PopSharedStore(MemoryStore):
    """A fork popping below its fork point cuts the log it shares with its parent in place."""

    async def _pop_messages(self, pop: PopRequest) -> list[str]:
        session = self._sessions._find(pop.scope, pop.session_id)
        if session is None:
            return await super()._pop_messages(pop)
        base, point, length = session.base, session.base_point, session.length
        popped = await super()._pop_messages(pop)
        keep = max(0, length - pop.n)
        if base is not None and keep < point:
            del base.own[max(0, keep - base.base_point) :]
        return popped


class PopKeepsTtlStore(MemoryStore):
    """pop_messages() keeps the session's old expiry: a pop does not count as a write."""

    async def _pop_messages(self, pop: PopRequest) -> list[str]:
        session = self._sessions._find(pop.scope, pop.session_id)
        expires = None if session is None else session.expires_us
        popped = await super()._pop_messages(pop)
        if session is not None:
            session.expires_us = expires
        return popped


class ReadSlidesStore(MemoryStore):
    """Reads extend a session's TTL, as a sliding web session would."""

    def _slide(self, session_id: str, scope: str) -> None:
        session = self._sessions._find(scope, session_id)
        if session is not None and session.ttl is not None:
            session.expires_us = expiry_micros(self._sessions._now(), session.ttl)

    async def _read_messages(self, session_id: str, last: int | None, scope: str) -> list[str]:
        self._slide(session_id, scope)
        return await super()._read_messages(session_id, last, scope)

    async def _get_session(self, session_id: str, scope: str) -> SessionRecord | None:
        self._slide(session_id, scope)
        return await super()._get_session(session_id, scope)


class TtlIgnoredStore(MemoryStore):
    """A ttl on create and fork is accepted and ignored: sessions never expire."""

    async def _create_session(self, new: NewSession) -> SessionRecord:
        return await super()._create_session(replace(new, ttl=None))

    async def _fork_session(self, fork: ForkRequest) -> SessionRecord:
        return await super()._fork_session(replace(fork, ttl=None))


class ForkInheritsTtlStore(MemoryStore):
    """A fork made without a ttl takes its parent's."""

    async def _fork_session(self, fork: ForkRequest) -> SessionRecord:
        parent = await self._get_session(fork.parent_id, fork.scope)
        if fork.ttl is None and parent is not None and parent.ttl is not None:
            fork = replace(fork, ttl=parent.ttl)
        return await super()._fork_session(fork)


class _DroppingSessions(MemorySessions):
    def _remove(self, space: Any, session: Any) -> None:
        if session.expired(self._now()):
            session.own.clear()
        super()._remove(space, session)


class ExpiryDropsSharedStore(MemoryStore):
    """An expiring session takes the messages its forks share with it (a native expiry)."""

    def __init__(self, url: StoreURL, *, clock: Callable[[], float] | None = None) -> None:
        super().__init__(url, clock=clock)
        self._sessions.__class__ = _DroppingSessions


def _factory(cls: type[Any]) -> Callable[[StoreURL, Mapping[str, Any]], Store]:
    def open_store(url: StoreURL, options: Mapping[str, Any]) -> Store:
        return cls(url, clock=options.get("clock"))  # type: ignore[no-any-return]

    return open_store


def _variants(test: str, *params: str) -> set[str]:
    return {f"{test}[{param}]" for param in params}


_CONFLICTS = "test_concurrent_change_of_a_watched_slot_conflicts"
_REFUSED = "test_a_refused_batch_writes_nothing"
_PREFIX = "test_slots_with_a_prefix_are_exactly_those_starting_with_it"
_WRONG_SCOPE = "test_a_session_asked_in_another_scope_is_not_found"
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
        {
            "test_queued_writes_apply_their_own_ttl",
            "test_a_ttl_after_none_expires_again_and_none_after_a_ttl_persists",
        },
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
            "test_get_text_of_an_expired_slot_is_none",
            "test_expire_can_make_a_slot_expire",
            "test_counter_expires_and_keeps_its_first_expiry",
            "test_touch_and_expiry",
            # Its short-lived control slot, proof that time passed, stays readable.
            "test_persistent_slots_survive_time_passing",
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
            "test_the_same_id_in_two_scopes_is_two_sessions",
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
    # -- contract v2: batches, prefixes, ttl=None, scopes, tokens, pop, retention --
    "toy-torn-batch": (
        TornBatchStore,
        {"test_a_concurrent_reader_never_sees_half_a_set_many"},
        {"test_set_many_writes_every_slot", "test_get_many_returns_values_in_the_order_asked"},
    ),
    "toy-kind-batch": (
        KindBatchStore,
        {"test_get_many_reads_a_hash_slot_as_none"},
        {
            "test_get_many_returns_values_in_the_order_asked",
            "test_set_many_replaces_a_slot_of_any_kind",
        },
    ),
    "toy-count-all-batch": (
        CountAllBatchStore,
        {
            "test_delete_many_counts_the_distinct_slots_that_existed",
            "test_delete_many_does_not_count_expired_slots",
        },
        # Repeats are dropped before the primitive: ["h", "s", "h"] is two names.
        {"test_delete_many_removes_hash_slots"},
    ),
    "toy-eager-batch": (
        EagerBatchStore,
        _variants(
            _REFUSED,
            *(
                f"set_many-{case}"
                for case in ("value-str", "value-int", "name-int", "name-bytes", "pairs")
            ),
        ),
        # A bad first value or TTL fails before anything is written.
        _variants(_REFUSED, "set_many-value-none", "set_many-ttl-zero", "get_many-str"),
    ),
    "toy-like-prefix": (
        LikePrefixStore,
        _variants(_PREFIX, "backslash", "like-escape"),
        # % and _ over-fetch only, and the SDK filters exactly.
        _variants(_PREFIX, "percent", "underscore", "star"),
    ),
    "toy-max-prefix": (
        MaxCodePointPrefixStore,
        _variants(_PREFIX, "max-code-point"),
        _variants(_PREFIX, "max-then-letter", "emoji", "bmp-last"),
    ),
    "toy-undead-prefix": (
        UndeadPrefixStore,
        {"test_prefix_listing_excludes_expired_and_deleted_slots"},
        {f"{_PREFIX}[empty]", "test_prefix_listing_covers_every_kind"},
    ),
    "toy-long-ttl": (
        LongTtlStore,
        {
            "test_writes_without_ttl_report_an_infinite_ttl",
            "test_a_ttl_after_none_expires_again_and_none_after_a_ttl_persists",
            "test_incr_without_ttl_only_matters_when_it_creates",
            "test_persistent_slots_survive_time_passing",
            "test_persistent_slots_are_listed_touched_and_purged",
            "test_set_many_without_ttl_never_expires",
        },
        {"test_get_ttl_reports_the_seconds_left", "test_set_many_applies_its_ttl_to_every_slot"},
    ),
    "toy-keep-ttl": (
        KeepTtlStore,
        {
            "test_writes_without_ttl_report_an_infinite_ttl",
            "test_a_ttl_after_none_expires_again_and_none_after_a_ttl_persists",
            "test_persistent_slots_survive_time_passing",
            "test_persistent_slots_are_listed_touched_and_purged",
        },
        {
            "test_set_many_without_ttl_never_expires",
            "test_incr_without_ttl_only_matters_when_it_creates",
        },
    ),
    "toy-scope-leak-list": (
        ScopeLeakListStore,
        {
            *_variants("test_a_listing_shows_one_scope_only", "1", "2", "50"),
            "test_a_fork_lives_in_its_parents_scope",
            "test_hostile_scopes_are_kept_apart",
            "test_the_record_carries_its_scope",
        },
        {
            f"{_WRONG_SCOPE}[read_messages-A-asked-in-B]",
            "test_iter_scopes_yields_every_scope_in_use",
        },
    ),
    "toy-scope-hint": (
        ScopeHintStore,
        {
            f"{_WRONG_SCOPE}[{op}-{direction}]"
            for op in (
                "read_messages",
                "read_last",
                "append",
                "append_expected",
                "append_token",
                "replace",
                "pop",
                "update",
                "fork",
            )
            for direction in ("default-asked-in-A", "A-asked-in-default", "A-asked-in-B")
        },
        {
            "test_get_and_delete_in_another_scope_see_nothing[A-asked-in-B]",
            "test_a_listing_shows_one_scope_only[2]",
        },
    ),
    "toy-token-blind": (
        TokenBlindStore,
        {
            "test_a_repeated_token_returns_the_earlier_length_and_changes_nothing",
            "test_a_repeated_token_on_replace_is_a_no_op",
            "test_a_token_returns_its_recorded_length_after_later_writes",
            "test_concurrent_retries_of_one_token_apply_once",
            "test_the_latest_100_tokens_are_remembered",
            "test_tokens_are_stored_with_the_session",
            "test_tokens_at_the_edges_are_accepted",
        },
        {
            "test_an_unconditional_append_returns_the_new_length",
            "test_a_refused_write_does_not_remember_its_token",
            "test_a_token_belongs_to_one_session",
        },
    ),
    "toy-token-late": (
        TokenLateStore,
        {
            "test_a_repeated_token_returns_the_earlier_length_and_changes_nothing",
            "test_a_repeated_token_on_replace_is_a_no_op",
            "test_the_latest_100_tokens_are_remembered",
        },
        {
            "test_a_token_returns_its_recorded_length_after_later_writes",
            "test_concurrent_retries_of_one_token_apply_once",
        },
    ),
    "toy-token-global": (
        TokenGlobalStore,
        {"test_a_token_belongs_to_one_session"},
        {
            "test_the_latest_100_tokens_are_remembered",
            "test_a_repeated_token_on_replace_is_a_no_op",
        },
    ),
    "toy-token-short": (
        ShortTokenMemoryStore,
        {"test_the_latest_100_tokens_are_remembered"},
        {
            "test_a_repeated_token_returns_the_earlier_length_and_changes_nothing",
            "test_tokens_at_the_edges_are_accepted",
        },
    ),
    "toy-read-then-append": (
        ReadThenAppendStore,
        {
            "test_concurrent_unconditional_appends_all_land_once",
            "test_concurrent_retries_of_one_token_apply_once",
        },
        {"test_an_unconditional_append_returns_the_new_length", "test_concurrent_appends_one_wins"},
    ),
    "toy-pop-shared": (
        PopSharedStore,
        {"test_pop_below_the_fork_point_changes_no_other_session", "test_append_after_pop"},
        {"test_popping_a_parent_keeps_its_forks", "test_pop_returns_the_last_messages_in_order"},
    ),
    "toy-pop-keeps-ttl": (
        PopKeepsTtlStore,
        {"test_pop_restarts_the_ttl"},
        {"test_pop_moves_updated_at", "test_every_write_restarts_the_ttl"},
    ),
    "toy-read-slides": (
        ReadSlidesStore,
        # The second one sees a read-slid expires_at on a fork's record.
        {"test_reads_do_not_restart_the_ttl", "test_forks_outlive_their_expiring_parent"},
        {"test_every_write_restarts_the_ttl", "test_the_record_carries_ttl_and_expires_at"},
    ),
    "toy-ttl-ignored": (
        TtlIgnoredStore,
        {
            "test_the_record_carries_ttl_and_expires_at",
            "test_a_fork_has_the_ttl_given_to_it",
            "test_an_expired_session_is_gone_and_its_id_free",
            "test_every_write_restarts_the_ttl",
            "test_reads_do_not_restart_the_ttl",
            "test_forks_outlive_their_expiring_parent",
            "test_pop_restarts_the_ttl",
            "test_an_expired_id_created_again_with_messages_holds_only_those",
        },
        {"test_a_session_ttl_that_is_not_positive_seconds_is_refused[0]"},
    ),
    "toy-fork-inherits-ttl": (
        ForkInheritsTtlStore,
        {"test_a_fork_has_the_ttl_given_to_it", "test_forks_outlive_their_expiring_parent"},
        {"test_an_expired_session_is_gone_and_its_id_free", "test_every_write_restarts_the_ttl"},
    ),
    "toy-expiry-drops-shared": (
        ExpiryDropsSharedStore,
        {"test_forks_outlive_their_expiring_parent"},
        {
            "test_an_expired_session_is_gone_and_its_id_free",
            "test_deleting_the_parent_keeps_its_forks",
        },
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

_BATCH, _PREFIXES, _NO_TTL = "many or batch", "prefix", "ttl or persistent"
_SCOPES, _TOKENS, _POP = "scope", "token or unconditional or append", "pop or restart"
_RETENTION = "ttl or expire or expired or fork or restart"

#: Toys of contract v2 run only the suites about their bug (``-k``), to keep this
#: module fast; the toys above run the whole suite.
SELECT: dict[str, str] = {
    "toy-torn-batch": _BATCH,
    "toy-kind-batch": _BATCH,
    "toy-count-all-batch": _BATCH,
    "toy-eager-batch": _BATCH,
    "toy-like-prefix": _PREFIXES,
    "toy-max-prefix": _PREFIXES,
    "toy-undead-prefix": _PREFIXES,
    "toy-long-ttl": _NO_TTL,
    "toy-keep-ttl": _NO_TTL,
    "toy-scope-leak-list": _SCOPES,
    "toy-scope-hint": _SCOPES,
    "toy-token-blind": _TOKENS,
    "toy-token-late": _TOKENS,
    "toy-token-global": _TOKENS,
    "toy-token-short": _TOKENS,
    "toy-read-then-append": _TOKENS,
    "toy-pop-shared": _POP,
    "toy-pop-keeps-ttl": _POP,
    "toy-read-slides": _RETENTION,
    "toy-ttl-ignored": _RETENTION,
    "toy-fork-inherits-ttl": _RETENTION,
    "toy-expiry-drops-shared": _RETENTION,
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
    selected = SELECT.get(scheme)
    args = () if selected is None else ("-k", selected)
    outcome = run_suite(pytester, f"{scheme}://teeth-{scheme}", *args)
    assert outcome["failed"] == must_fail
    assert must_pass <= outcome["passed"]
    assert len(outcome["passed"]) > (100 if selected is None else 5)


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
