"""Multi-process contention check: OS processes x tasks incrementing one slot.

A driver's own tests use :func:`run_contention` to show that concurrent
read-increment-write cycles from several processes never lose an update::

    result = await run_contention(url, processes=4, tasks=8, increments=10)
    assert result.value == result.expected
    assert result.conflicts > 0          # the workers really contended

Each worker process runs ``python -m unistore.testing.contention`` against the
same URL, so the URL must name a store that processes share (a server, a file,
a folder) and carry any isolation option (``key_prefix``, ``table_prefix``) in
its query string.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import unistore
from unistore.errors import ContentionError, TransactionConflictError

__all__ = ["ContentionResult", "run_contention"]

#: The NamespacedStore prefix and namespace id the workers use.
PREFIX = "contention"
NAMESPACE_ID = "counter"
#: The driver namespace those make, for reading the result with driver calls.
NAMESPACE = f"{PREFIX}:{NAMESPACE_ID}"
SLOT = "n"
_TTL = 300.0


@dataclass(frozen=True, slots=True)
class ContentionResult:
    """What a contention run ended with.

    Attributes:
        value: The counter's final value, as read back after every worker ended.
        expected: ``processes * tasks * increments``.
        conflicts: How many attempts met a conflict and ran again.
    """

    value: int
    expected: int
    conflicts: int


async def _cas_cycles(store: Any, tasks: int, increments: int) -> int:
    ns = unistore.NamespacedStore(store, prefix=PREFIX, default_ttl=_TTL).namespace(NAMESPACE_ID)
    runs = 0

    async def bump(snap: Any, ops: Any) -> None:
        nonlocal runs
        runs += 1
        value = int(await snap.get(SLOT) or 0)
        # An application awaits between reading and writing; so do the
        # workers, whatever the driver: a store whose calls never suspend
        # would otherwise run each task's cycle whole, and nothing contends.
        await asyncio.sleep(0)
        ops.set(SLOT, str(value + 1))

    async def worker() -> None:
        for _ in range(increments):
            while True:
                try:
                    await ns.with_cas(SLOT, bump, max_retries=50)
                    break
                except ContentionError:
                    continue

    await asyncio.gather(*(worker() for _ in range(tasks)))
    # Every closure run that did not commit met a conflict.
    return runs - tasks * increments


async def _tx_cycles(store: Any, tasks: int, increments: int) -> int:
    conflicts = 0

    async def worker() -> None:
        nonlocal conflicts
        for _ in range(increments):
            while True:
                async with store.transaction(NAMESPACE, [SLOT]) as tx:
                    value = await tx.get(SLOT)
                    await asyncio.sleep(0)  # as in _cas_cycles
                    tx.set(SLOT, str(int(value or 0) + 1).encode(), ttl=_TTL)
                    try:
                        await tx.commit()
                        break
                    except TransactionConflictError:
                        conflicts += 1
                await asyncio.sleep(random.uniform(0, 0.002))

    await asyncio.gather(*(worker() for _ in range(tasks)))
    return conflicts


async def _work(url: str, mode: str, tasks: int, increments: int) -> int:
    async with unistore.connect(url) as store:
        cycles = _cas_cycles if mode == "cas" else _tx_cycles
        return await cycles(store, tasks, increments)


async def run_contention(
    url: str,
    *,
    processes: int = 4,
    tasks: int = 8,
    increments: int = 10,
    mode: str = "cas",
) -> ContentionResult:
    """Run ``processes`` worker processes of ``tasks`` tasks each against ``url``.

    Every task performs ``increments`` read-increment-write cycles on one slot,
    through :meth:`unistore.Namespace.with_cas` (``mode="cas"``) or the store's
    transactions directly (``mode="tx"``), retrying each until it commits.

    Raises:
        ValueError: ``mode`` is neither ``"cas"`` nor ``"tx"``.
        AssertionError: A worker failed; its stderr tail is in the message.
    """
    if mode not in ("cas", "tx"):
        raise ValueError(f"mode must be 'cas' or 'tx', not {mode!r}")
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "unistore.testing.contention",
            url,
            mode,
            str(tasks),
            str(increments),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    conflicts = 0
    for proc in procs:
        # Callers bound the whole run with asyncio.timeout() or pytest-timeout.
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise AssertionError(f"contention worker failed:\n{err.decode()[-3000:]}")
        conflicts += int(out)
    async with unistore.connect(url) as store:
        raw = await store.get(NAMESPACE, SLOT)
    return ContentionResult(
        value=int(raw or 0), expected=processes * tasks * increments, conflicts=conflicts
    )


if __name__ == "__main__":
    _url, _mode, _tasks, _increments = sys.argv[1:5]
    print(asyncio.run(_work(_url, _mode, int(_tasks), int(_increments))))
