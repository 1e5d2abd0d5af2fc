"""Failover under load: a master is killed (kill -9) while concurrent tasks keep writing.

Every write is a ``set`` of a distinct value; a write counts as acknowledged
when ``set`` returned. After the failover every acknowledged write must read
back with its value, and every failed call must have raised
StoreUnavailableError or StoreTimeoutError (never a raw redis-py exception
or a bare DriverError). The recovery time, from the kill to the first
acknowledged write on a namespace the killed master served, is printed and
recorded as the test property ``recovery_seconds``.

Redis replicates asynchronously: a write acknowledged by the master an
instant before it died may not have reached its replica, and is then lost
with the master. The driver does not wait for replicas (no ``WAIT``). These
tests count such losses: a write sent before the kill and acknowledged less
than :data:`REPLICATION_WINDOW` before it (or after it: the reply was on its
way) is in that window, and its loss is reported, not failed. The loss of
any other acknowledged write fails the test. Recovery is timed from a write
sent after the kill, so that a reply on its way at the kill does not count
as the failover.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from servers import RedisCluster, SentinelSet

import unistore
from unistore.errors import StoreTimeoutError, StoreUnavailableError
from unistore_redis import RedisStore

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

TTL = 600.0
WRITERS = 12
#: How long writing goes on after the first acknowledged write past the kill.
AFTER_RECOVERY = 0.5
#: A failover that takes longer than this fails the test.
RECOVERY_LIMIT = 30.0
#: Seconds before the kill within which an acknowledged write may not have
#: reached the replica yet (replication is asynchronous; on loopback it lags
#: by far less).
REPLICATION_WINDOW = 0.5


@dataclass
class Load:
    """What the writers saw."""

    acked: dict[tuple[str, str], bytes] = field(default_factory=dict)
    #: When each acknowledged write was sent, and when its reply came.
    times: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    failures: list[BaseException] = field(default_factory=list)
    killed_at: float | None = None
    recovered_at: float | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    recovered: asyncio.Event = field(default_factory=asyncio.Event)


async def _writer(store: RedisStore, ns: str, affected: bool, load: Load) -> None:
    sequence = 0
    while not load.stop.is_set():
        sequence += 1
        slot, value = f"s{sequence}", f"{ns}/{sequence}/{uuid.uuid4().hex}".encode()
        sent = time.monotonic()
        try:
            await store.set(ns, slot, value, ttl=TTL)
        except Exception as exc:  # every kind is recorded, and checked below
            load.failures.append(exc)
            await asyncio.sleep(0.02)
            continue
        acked = time.monotonic()
        load.acked[(ns, slot)] = value
        load.times[(ns, slot)] = (sent, acked)
        sent_after_kill = load.killed_at is not None and sent > load.killed_at
        if affected and sent_after_kill and load.recovered_at is None:
            load.recovered_at = acked
            load.recovered.set()
        await asyncio.sleep(0.005)


async def _run(
    store: RedisStore,
    namespaces: list[str],
    affected: set[str],
    kill: Callable[[], None],
) -> Load:
    load = Load()
    tasks = [asyncio.create_task(_writer(store, ns, ns in affected, load)) for ns in namespaces]
    try:
        await asyncio.sleep(0.5)
        assert load.acked, "no write succeeded before the kill"
        kill()
        load.killed_at = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(load.recovered.wait(), RECOVERY_LIMIT)
        await asyncio.sleep(AFTER_RECOVERY)
    finally:
        load.stop.set()
        await asyncio.gather(*tasks)
    return load


async def _read_back(store: RedisStore, ns: str, slot: str) -> bytes | None:
    """Read a slot once the server that owns it answers (the failover may still settle)."""
    deadline = time.monotonic() + RECOVERY_LIMIT
    while True:
        try:
            return await store.get(ns, slot)
        except StoreUnavailableError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def _check(
    store: RedisStore, load: Load, record: Callable[[str, object], None], what: str
) -> None:
    assert load.killed_at is not None
    assert load.recovered_at is not None, (
        f"no write on the killed master's slots succeeded within {RECOVERY_LIMIT} s"
    )
    recovery = load.recovered_at - load.killed_at
    odd = [
        exc
        for exc in load.failures
        if not isinstance(exc, StoreUnavailableError | StoreTimeoutError)
    ]
    lost, lost_in_window = [], []
    for (ns, slot), value in load.acked.items():
        if await _read_back(store, ns, slot) != value:
            sent, acked = load.times[(ns, slot)]
            in_window = sent < load.killed_at and acked > load.killed_at - REPLICATION_WINDOW
            (lost_in_window if in_window else lost).append((ns, slot))
    record("recovery_seconds", round(recovery, 2))
    record("acknowledged_writes", len(load.acked))
    record("failed_calls", len(load.failures))
    record("lost_writes", len(lost))
    record("lost_in_replication_window", len(lost_in_window))
    print(
        f"\n{what}: recovery {recovery:.2f} s after kill -9; {len(load.acked)} writes "
        f"acknowledged, {len(load.failures)} calls failed, {len(lost)} acknowledged writes "
        f"lost, {len(lost_in_window)} lost in the replication window at the kill"
    )
    assert not odd, f"failures of other types: {[type(exc).__name__ for exc in odd][:5]} {odd[:1]}"
    assert not lost, (
        f"{len(lost)} acknowledged writes lost outside the replication window: {lost[:5]}"
    )


async def test_cluster_master_killed_under_writes(
    record_property: Callable[[str, object], None],
) -> None:
    with RedisCluster() as cluster:
        store = unistore.connect(cluster.url, key_prefix="failover", retries=1)
        assert isinstance(store, RedisStore)
        async with store:
            namespaces = [f"ns-{i}" for i in range(WRITERS)]
            owners = {ns: cluster.owner_of(store._keys.namespace(ns)[1]) for ns in namespaces}
            victim = owners[namespaces[0]]
            affected = {ns for ns, port in owners.items() if port == victim}
            assert len(set(owners.values())) > 1, "every namespace on one master"
            load = await _run(store, namespaces, affected, lambda: cluster.kill(victim))
            await _check(store, load, record_property, "Redis Cluster")


async def test_sentinel_master_killed_under_writes(
    record_property: Callable[[str, object], None],
) -> None:
    with SentinelSet() as servers:
        store = unistore.connect(servers.url, key_prefix="failover", retries=1)
        assert isinstance(store, RedisStore)
        async with store:
            namespaces = [f"ns-{i}" for i in range(WRITERS)]

            def kill() -> None:
                servers.kill(servers.master_port)

            load = await _run(store, namespaces, set(namespaces), kill)
            # The store may have learnt the new master from another sentinel:
            # the one asked here hears of the promotion a moment later.
            deadline = time.monotonic() + RECOVERY_LIMIT
            while servers.current_master() != servers.replica_port:
                assert time.monotonic() < deadline, "the replica was not promoted"
                await asyncio.sleep(0.1)
            await _check(store, load, record_property, "Sentinel")
