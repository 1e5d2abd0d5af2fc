"""The processes of ``test_sql_connection_bound``: stores under more tasks than connections.

Run as ``python bound_worker.py URL TABLE_PREFIX APPLICATION_NAME POOL_SIZE MAX_OVERFLOW
TASKS ROUNDS PROCESSES``. It imports unistore and the SQL driver once, then
forks ``PROCESSES`` worker processes (before any thread or event loop exists,
so a fork is as clean as a fresh interpreter, without paying the imports
sixteen times on a small machine). Each worker opens one store, runs one
operation so that its first connection is open, writes ``ready``, waits for
one byte on stdin, runs ``TASKS`` concurrent tasks of ``ROUNDS`` rounds each
and writes one JSON line ``{"worker": n, "ops": <operations run>, "errors":
[<first failures>]}``. The launcher exits with 0 when every worker did.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import unistore
import unistore_sql._store  # noqa: F401  (imported once, before the forks)
from unistore import NamespacedStore

#: Operations in one round of a task.
OPS_PER_ROUND = 5


def _say(line: str) -> None:
    # One write of a short line: the workers share the pipe, and a write of
    # up to PIPE_BUF bytes is never interleaved with another.
    os.write(1, (line + "\n").encode())


async def _task(names: NamespacedStore[str], worker: int, task: int, rounds: int) -> int:
    mine = names.namespace(f"w{worker}-t{task}")
    shared = names.namespace("shared")
    done = 0
    for round_ in range(rounds):
        await mine.set("value", f"{task}:{round_}")
        if await mine.get("value") != f"{task}:{round_}":
            raise AssertionError("a write was not read back")
        await mine.hset("hash", {"round": str(round_)})
        if await mine.incr("count") != round_ + 1:
            raise AssertionError("a counter lost an increment")
        await shared.incr("total")
        done += OPS_PER_ROUND
    return done


async def _work(worker: int, url: str, options: dict[str, Any], tasks: int, rounds: int) -> None:
    async with unistore.connect(url, **options) as store:
        names: NamespacedStore[str] = NamespacedStore(store, prefix="bound", default_ttl=300)
        await names.namespace("warm-up").get("nothing")
        _say("ready")
        # One byte per worker: the parent starts them all at once.
        await asyncio.to_thread(os.read, 0, 1)
        results = await asyncio.gather(
            *(_task(names, worker, task, rounds) for task in range(tasks)),
            return_exceptions=True,
        )
    errors = [repr(result) for result in results if isinstance(result, BaseException)]
    ops = sum(result for result in results if isinstance(result, int))
    _say(json.dumps({"worker": worker, "ops": ops, "errors": errors[:3]}))


def main(argv: list[str]) -> int:
    url, prefix, name = argv[:3]
    pool_size, max_overflow, tasks, rounds, processes = (int(arg) for arg in argv[3:8])
    options: dict[str, Any] = {
        "table_prefix": prefix,
        "application_name": name,
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_timeout": 20,
    }
    children = []
    for worker in range(processes):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                asyncio.run(_work(worker, url, options, tasks, rounds))
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    failed = 0
    for pid in children:
        _, status = os.waitpid(pid, 0)
        failed += os.waitstatus_to_exitcode(status) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
