"""Worker process of the multi-process read-increment-write test (run as a script).

Usage: python cas_worker.py URL TABLE_PREFIX MODE TASKS INCREMENTS

TASKS asyncio tasks each complete INCREMENTS read-increment-write cycles on one
slot, through ``NamespacedStore.with_cas`` (MODE ``cas``) or the store's
transactions (MODE ``tx``), retrying each cycle until it commits. Prints how
many attempts met a conflict.
"""

from __future__ import annotations

import asyncio
import random
import sys
from typing import Any

import unistore
from unistore.errors import ContentionError, TransactionConflictError

NAMESPACE = "counter"
SLOT = "n"
TTL = 300.0


async def _cas(store: Any, tasks: int, increments: int) -> int:
    from unistore._namespaced import NamespacedStore

    ns = NamespacedStore(store, prefix="cas", default_ttl=TTL).namespace(NAMESPACE)
    runs = 0

    async def bump(snap: Any, ops: Any) -> None:
        nonlocal runs
        runs += 1
        ops.set(SLOT, str(int(await snap.get(SLOT) or 0) + 1))

    async def worker() -> None:
        for _ in range(increments):
            while True:
                try:
                    await ns.with_cas(SLOT, bump, max_retries=50)
                    break
                except ContentionError:
                    continue

    await asyncio.gather(*(worker() for _ in range(tasks)))
    return runs - tasks * increments


async def _tx(store: Any, tasks: int, increments: int) -> int:
    conflicts = 0

    async def worker() -> None:
        nonlocal conflicts
        for _ in range(increments):
            while True:
                async with store.transaction("cas:" + NAMESPACE, [SLOT]) as tx:
                    value = await tx.get(SLOT)
                    tx.set(SLOT, str(int(value or 0) + 1).encode(), ttl=TTL)
                    try:
                        await tx.commit()
                        break
                    except TransactionConflictError:
                        conflicts += 1
                await asyncio.sleep(random.uniform(0, 0.003))

    await asyncio.gather(*(worker() for _ in range(tasks)))
    return conflicts


async def main(url: str, prefix: str, mode: str, tasks: int, increments: int) -> None:
    async with unistore.connect(url, table_prefix=prefix) as store:
        run = _cas if mode == "cas" else _tx
        print(await run(store, tasks, increments))


if __name__ == "__main__":
    url, prefix, mode, tasks, increments = sys.argv[1:6]
    asyncio.run(main(url, prefix, mode, int(tasks), int(increments)))
