"""Worker process for the multi-process compare-and-swap test (run as a script).

Usage: python cas_worker.py URL KEY_PREFIX MODE TASKS INCREMENTS

Each of TASKS asyncio tasks performs INCREMENTS read-increment-write cycles on
one slot, through ``NamespacedStore.with_cas`` (MODE ``cas``) or the driver's
transaction API (MODE ``tx``), retrying until each cycle commits. Prints the
number of conflicts seen.
"""

from __future__ import annotations

import asyncio
import random
import sys
from typing import Any

import unistore
from unistore.errors import ContentionError, TransactionConflictError

NS_ID = "counter"
SLOT = "n"
TTL = 120.0


async def _cas_cycles(store: Any, tasks: int, increments: int) -> int:
    from unistore._namespaced import NamespacedStore

    data = NamespacedStore(store, prefix="cas", default_ttl=TTL)
    ns = data.namespace(NS_ID)
    runs = 0

    async def bump(snap: Any, ops: Any) -> None:
        nonlocal runs
        runs += 1
        value = await snap.get(SLOT)
        ops.set(SLOT, str(int(value or 0) + 1))

    async def worker() -> None:
        for _ in range(increments):
            while True:
                try:
                    await ns.with_cas(SLOT, bump, max_retries=20)
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
                async with store.transaction("cas:" + NS_ID, [SLOT]) as tx:
                    value = await tx.get(SLOT)
                    tx.set(SLOT, str(int(value or 0) + 1).encode(), ttl=TTL)
                    try:
                        await tx.commit()
                        break
                    except TransactionConflictError:
                        conflicts += 1
                await asyncio.sleep(random.uniform(0, 0.002))

    await asyncio.gather(*(worker() for _ in range(tasks)))
    return conflicts


async def main(url: str, prefix: str, mode: str, tasks: int, increments: int) -> None:
    async with unistore.connect(url, key_prefix=prefix) as store:
        run = _cas_cycles if mode == "cas" else _tx_cycles
        conflicts = await run(store, tasks, increments)
    print(conflicts)


if __name__ == "__main__":
    url, prefix, mode, tasks, increments = sys.argv[1:6]
    asyncio.run(main(url, prefix, mode, int(tasks), int(increments)))
