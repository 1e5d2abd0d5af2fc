"""Conformance tests of Transactions: watch, snapshot reads, queued writes, conflicts."""

from __future__ import annotations

import pytest

from unistore.errors import TransactionConflictError
from unistore.protocols import Capability
from unistore.testing._clock import ManualClock, pass_time
from unistore.testing._fixtures import SuiteFixtures
from unistore.testing._support import (
    LONG_TTL,
    FullStore,
    IdFactory,
    Reconnect,
    require,
    skip_unless_shared,
)

__all__ = ["TransactionsSuite"]

TX = Capability.TRANSACTIONS
KV = Capability.KEY_VALUE
HASH = Capability.HASH

#: Concurrent changes of a watched slot, each of which must make the commit fail.
#: A touch or an expire changes no value, yet counts (as Redis's WATCH sees an EXPIRE).
CHANGES = ("set", "delete", "hset", "hdel", "incr", "purge", "touch", "expire")
VIA = ("same-store", "second-connection")


async def _prepare(store: FullStore, ns: str, change: str) -> None:
    """Create the watched slot ``w`` in the state ``change`` needs."""
    caps = store.capabilities
    if change in ("hset", "hdel"):
        require(store, HASH)
        await store.hset(ns, "w", {"a": b"1", "b": b"2"}, ttl=LONG_TTL)
    elif change == "incr":
        require(store, Capability.COUNTER)
        await store.incr(ns, "w", 7, ttl=LONG_TTL)
    else:
        if change in ("purge", "touch"):
            require(store, Capability.NAMESPACE_LIFECYCLE)
        if change == "expire":
            require(store, Capability.TTL)
        assert KV in caps
        await store.set(ns, "w", b"before", ttl=LONG_TTL)


async def _change(store: FullStore, ns: str, change: str) -> None:
    """Apply ``change`` to the watched slot ``w`` (as another client would)."""
    if change == "set":
        await store.set(ns, "w", b"changed", ttl=LONG_TTL)
    elif change == "delete":
        assert await store.delete(ns, "w") is True
    elif change == "hset":
        await store.hset(ns, "w", {"a": b"changed"}, ttl=LONG_TTL)
    elif change == "hdel":
        assert await store.hdel(ns, "w", ["a"]) == 1
    elif change == "incr":
        await store.incr(ns, "w", ttl=LONG_TTL)
    elif change == "touch":
        assert await store.touch(ns, ttl=LONG_TTL * 2) >= 1
    elif change == "expire":
        assert await store.expire(ns, "w", LONG_TTL * 2) is True
    else:
        assert await store.purge(ns) >= 1


class TransactionsSuite(SuiteFixtures):
    """Optimistic transactions over one namespace."""

    @pytest.mark.asyncio
    async def test_commit_applies_every_queued_write(self, store: FullStore, ns: str) -> None:
        """set, delete, hset and hdel queued in one transaction all land on commit."""
        require(store, TX, KV, HASH)
        await store.set(ns, "old", b"x", ttl=LONG_TTL)
        await store.hset(ns, "h", {"a": b"1", "b": b"2"}, ttl=LONG_TTL)
        async with store.transaction(ns, watch=["old", "h"]) as tx:
            tx.set("new", b"\xff\x00", ttl=LONG_TTL)
            tx.set("empty", b"", ttl=LONG_TTL)
            tx.delete("old")
            tx.hset("h", {"c": b"3"}, ttl=LONG_TTL)
            tx.hdel("h", ["a"])
            tx.hset("h2", {"x": b"y"}, ttl=LONG_TTL)
            await tx.commit()
        assert await store.get(ns, "new") == b"\xff\x00"
        assert await store.get(ns, "empty") == b""
        assert await store.get(ns, "old") is None
        assert await store.hgetall(ns, "h") == {"b": b"2", "c": b"3"}
        assert await store.hgetall(ns, "h2") == {"x": b"y"}

    @pytest.mark.asyncio
    async def test_queued_writes_apply_in_order(self, store: FullStore, ns: str) -> None:
        """Later queued writes of the same slot win; a hash emptied by hdel disappears."""
        require(store, TX, KV, HASH)
        async with store.transaction(ns, watch=["s"]) as tx:
            tx.set("s", b"1", ttl=LONG_TTL)
            tx.set("s", b"2", ttl=LONG_TTL)
            tx.set("gone", b"x", ttl=LONG_TTL)
            tx.delete("gone")
            tx.hset("h", {"f": b"v"}, ttl=LONG_TTL)
            tx.hdel("h", ["f"])
            await tx.commit()
        assert await store.get(ns, "s") == b"2"
        assert await store.get(ns, "gone") is None
        assert await store.hgetall(ns, "h") == {}
        if Capability.NAMESPACE_LIFECYCLE in store.capabilities:
            assert await store.slots(ns) == ["s"]

    @pytest.mark.asyncio
    async def test_queued_writes_apply_their_own_ttl(self, store: FullStore, ns: str) -> None:
        """A queued set replaces the TTL; a queued hset re-applies it to the whole hash."""
        require(store, TX, KV, HASH, Capability.TTL)
        await store.set(ns, "s", b"old", ttl=LONG_TTL)
        await store.hset(ns, "h", {"a": b"1"}, ttl=LONG_TTL)
        async with store.transaction(ns, watch=["s", "h"]) as tx:
            tx.set("s", b"new", ttl=30)
            tx.hset("h", {"b": b"2"}, ttl=500)
            await tx.commit()
        for slot, ttl in (("s", 30), ("h", 500)):
            left = await store.get_ttl(ns, slot)
            assert left is not None, slot
            assert ttl - 10 < left <= ttl, f"get_ttl({slot!r}) = {left}, expected about {ttl}"
        assert await store.hgetall(ns, "h") == {"a": b"1", "b": b"2"}

    @pytest.mark.asyncio
    async def test_reads_see_the_state_at_watch_time(self, store: FullStore, ns: str) -> None:
        """get, hget and hgetall read the watched slots; absent slots read empty."""
        require(store, TX, KV, HASH)
        await store.set(ns, "s", b"scalar", ttl=LONG_TTL)
        await store.hset(ns, "h", {"a": b"1", "b": b""}, ttl=LONG_TTL)
        async with store.transaction(ns, watch=["s", "h", "absent"]) as tx:
            assert await tx.get("s") == b"scalar"
            assert await tx.hget("h", "a") == b"1"
            assert await tx.hget("h", "b") == b""
            assert await tx.hget("h", "missing") is None
            assert await tx.hgetall("h") == {"a": b"1", "b": b""}
            assert await tx.get("absent") is None
            assert await tx.hgetall("absent") == {}
            await tx.commit()

    @pytest.mark.asyncio
    async def test_no_read_your_own_writes(self, store: FullStore, ns: str) -> None:
        """Queued writes are invisible until commit, inside and outside the transaction."""
        require(store, TX, KV, HASH)
        await store.set(ns, "s", b"before", ttl=LONG_TTL)
        await store.hset(ns, "h", {"a": b"1"}, ttl=LONG_TTL)
        async with store.transaction(ns, watch=["s", "h"]) as tx:
            tx.set("s", b"after", ttl=LONG_TTL)
            tx.hset("h", {"a": b"2", "b": b"3"}, ttl=LONG_TTL)
            assert await tx.get("s") == b"before"
            assert await tx.hgetall("h") == {"a": b"1"}
            assert await store.get(ns, "s") == b"before"
            await tx.commit()
        assert await store.get(ns, "s") == b"after"
        assert await store.hgetall(ns, "h") == {"a": b"2", "b": b"3"}

    @pytest.mark.asyncio
    @pytest.mark.parametrize("via", VIA)
    @pytest.mark.parametrize("change", CHANGES)
    async def test_concurrent_change_of_a_watched_slot_conflicts(
        self, store: FullStore, ns: str, reconnect: Reconnect, change: str, via: str
    ) -> None:
        """Any write, delete or purge of a watched slot after the watch makes commit fail.

        The change may come through the same store or another connection; either
        way nothing of the transaction is written.
        """
        require(store, TX, KV)
        await _prepare(store, ns, change)
        async with reconnect() as other:
            changer = store
            if via == "second-connection":
                await skip_unless_shared(store, other, ns)
                changer = other
            async with store.transaction(ns, watch=["w"]) as tx:
                tx.set("w", b"mine", ttl=LONG_TTL)
                tx.set("unwatched", b"mine", ttl=LONG_TTL)
                await _change(changer, ns, change)
                with pytest.raises(TransactionConflictError) as info:
                    await tx.commit()
        assert info.value.namespace == ns
        assert "w" in info.value.slots
        assert await store.get(ns, "unwatched") is None
        after = {"set": b"changed", "delete": None, "purge": None, "touch": b"before"}
        if change in after or change == "expire":
            assert await store.get(ns, "w") == after.get(change, b"before")

    @pytest.mark.asyncio
    @pytest.mark.parametrize("via", VIA)
    async def test_creating_a_watched_absent_slot_conflicts(
        self, store: FullStore, ns: str, reconnect: Reconnect, via: str
    ) -> None:
        """Watching a slot that does not exist yet still detects its creation."""
        require(store, TX, KV)
        async with reconnect() as other:
            changer = store
            if via == "second-connection":
                await skip_unless_shared(store, other, ns)
                changer = other
            async with store.transaction(ns, watch=["w"]) as tx:
                assert await tx.get("w") is None
                tx.set("w", b"mine", ttl=LONG_TTL)
                await changer.set(ns, "w", b"theirs", ttl=LONG_TTL)
                with pytest.raises(TransactionConflictError):
                    await tx.commit()
        assert await store.get(ns, "w") == b"theirs"

    @pytest.mark.asyncio
    async def test_writes_to_unwatched_slots_do_not_conflict(
        self, store: FullStore, ids: IdFactory
    ) -> None:
        """Only watched slots of the transaction's namespace matter."""
        require(store, TX, KV)
        ns, other_ns = ids.ns(), ids.ns()
        await store.set(ns, "w", b"before", ttl=LONG_TTL)
        async with store.transaction(ns, watch=["w"]) as tx:
            tx.set("w", b"mine", ttl=LONG_TTL)
            await store.set(ns, "neighbour", b"x", ttl=LONG_TTL)
            await store.set(ns, "w2", b"x", ttl=LONG_TTL)
            await store.set(other_ns, "w", b"x", ttl=LONG_TTL)
            await store.delete(other_ns, "w")
            await tx.commit()
        assert await store.get(ns, "w") == b"mine"

    @pytest.mark.asyncio
    @pytest.mark.parametrize("changed", ["first", "last"])
    async def test_watching_several_slots(self, store: FullStore, ns: str, changed: str) -> None:
        """A change to any one of several watched slots makes the commit fail."""
        require(store, TX, KV)
        watched = ["a", "b", "c"]
        for slot in watched:
            await store.set(ns, slot, b"0", ttl=LONG_TTL)
        target = watched[0] if changed == "first" else watched[-1]
        async with store.transaction(ns, watch=watched) as tx:
            for slot in watched:
                tx.set(slot, b"mine", ttl=LONG_TTL)
            await store.set(ns, target, b"theirs", ttl=LONG_TTL)
            with pytest.raises(TransactionConflictError) as info:
                await tx.commit()
        assert set(info.value.slots) >= {target}
        for slot in watched:
            assert await store.get(ns, slot) == (b"theirs" if slot == target else b"0")

    @pytest.mark.asyncio
    async def test_simulated_concurrent_change_conflicts(self, store: FullStore, ns: str) -> None:
        """simulate_concurrent_change(ns, slot) makes exactly the watching transactions conflict.

        Every store with transactions offers the hook (the SDK provides it), so
        compare-and-swap retry paths can be tested on any driver. It changes no
        data: the slot keeps its value and the next transaction commits.
        """
        require(store, TX, KV)
        hook = getattr(store, "simulate_concurrent_change", None)
        assert callable(hook), f"{type(store).__name__} has no simulate_concurrent_change(ns, slot)"
        await store.set(ns, "w", b"before", ttl=LONG_TTL)
        async with (
            store.transaction(ns, watch=["w", "x"]) as tx,
            store.transaction(ns, watch=["x"]) as bystander,
        ):
            tx.set("w", b"mine", ttl=LONG_TTL)
            tx.set("unwatched", b"mine", ttl=LONG_TTL)
            bystander.set("y", b"theirs", ttl=LONG_TTL)
            assert hook(ns, "w") == 1
            assert hook(ns + "-other", "w") == 0
            with pytest.raises(TransactionConflictError) as info:
                await tx.commit()
            await bystander.commit()
        assert info.value.namespace == ns
        assert await store.get(ns, "w") == b"before"
        assert await store.get(ns, "unwatched") is None
        assert await store.get(ns, "y") == b"theirs"
        assert hook(ns, "w") == 0, "a finished transaction is still marked"
        async with store.transaction(ns, watch=["w"]) as tx:
            tx.set("w", b"retried", ttl=LONG_TTL)
            await tx.commit()
        assert await store.get(ns, "w") == b"retried"

    async def _abandon(self, store: FullStore, ns: str) -> None:
        async with store.transaction(ns, watch=["w"]) as tx:
            tx.delete("w")
            raise RuntimeError("boom")

    @pytest.mark.asyncio
    async def test_leaving_without_commit_discards(self, store: FullStore, ns: str) -> None:
        """Queued writes are dropped when the block ends without commit, or raises."""
        require(store, TX, KV)
        await store.set(ns, "w", b"before", ttl=LONG_TTL)
        async with store.transaction(ns, watch=["w"]) as tx:
            tx.set("w", b"discarded", ttl=LONG_TTL)
            tx.set("new", b"discarded", ttl=LONG_TTL)
        with pytest.raises(RuntimeError, match="boom"):
            await self._abandon(store, ns)
        assert await store.get(ns, "w") == b"before"
        assert await store.get(ns, "new") is None

    @pytest.mark.asyncio
    async def test_commit_without_writes_still_checks(self, store: FullStore, ns: str) -> None:
        """An empty commit succeeds when nothing changed and conflicts when something did."""
        require(store, TX, KV)
        await store.set(ns, "w", b"before", ttl=LONG_TTL)
        async with store.transaction(ns, watch=["w"]) as tx:
            await tx.commit()
        async with store.transaction(ns, watch=["w"]) as tx:
            await store.set(ns, "w", b"changed", ttl=LONG_TTL)
            with pytest.raises(TransactionConflictError):
                await tx.commit()

    @pytest.mark.asyncio
    async def test_a_new_transaction_after_a_conflict_commits(
        self, store: FullStore, ns: str
    ) -> None:
        """A conflict leaves no watch behind: the retry, as a CAS loop does it, succeeds."""
        require(store, TX, KV)
        await store.set(ns, "w", b"1", ttl=LONG_TTL)
        async with store.transaction(ns, watch=["w"]) as tx:
            await store.set(ns, "w", b"2", ttl=LONG_TTL)
            tx.set("w", b"lost", ttl=LONG_TTL)
            with pytest.raises(TransactionConflictError):
                await tx.commit()
        async with store.transaction(ns, watch=["w"]) as tx:
            current = await tx.get("w")
            assert current == b"2"
            tx.set("w", current + b"+1", ttl=LONG_TTL)
            await tx.commit()
        assert await store.get(ns, "w") == b"2+1"

    @pytest.mark.asyncio
    async def test_expiry_of_a_watched_slot_conflicts(
        self, store: FullStore, ns: str, clock: ManualClock | None
    ) -> None:
        """A watched slot that expires before commit conflicts; queued TTLs are applied."""
        require(store, TX, KV)
        short = self.short_ttl
        await store.set(ns, "w", b"short-lived", ttl=short)
        async with store.transaction(ns, watch=["x"]) as setter:
            setter.set("s", b"v", ttl=short)
            if HASH in store.capabilities:
                setter.hset("h", {"f": b"v"}, ttl=short)
            await setter.commit()
        async with store.transaction(ns, watch=["w"]) as tx:
            assert await tx.get("w") == b"short-lived"
            tx.set("after", b"mine", ttl=LONG_TTL)
            await pass_time(clock, self.expiry_wait)
            with pytest.raises(TransactionConflictError):
                await tx.commit()
        assert await store.get(ns, "after") is None
        assert await store.get(ns, "s") is None
        if HASH in store.capabilities:
            assert await store.hgetall(ns, "h") == {}
