"""4 OS processes x 8 asyncio tasks contend on one slot; no increment may be lost."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from unistore_redis import RedisStore

pytestmark = [pytest.mark.redis, pytest.mark.slow]

WORKER = Path(__file__).with_name("cas_worker.py")
PROCESSES = 4
TASKS = 8
INCREMENTS = 10


def _has_namespaced_store() -> bool:
    try:
        from unistore._namespaced import NamespacedStore  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param(
            "cas",
            marks=pytest.mark.skipif(
                not _has_namespaced_store(), reason="the namespaced store is not available"
            ),
        ),
        "tx",
    ],
)
async def test_processes_and_tasks_lose_no_increment(
    url: str, store: RedisStore, mode: str
) -> None:
    workers = [
        subprocess.Popen(  # noqa: ASYNC220 - the processes must outlive this event loop's turn
            [
                sys.executable,
                str(WORKER),
                url,
                store.key_prefix,
                mode,
                str(TASKS),
                str(INCREMENTS),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(PROCESSES)
    ]
    conflicts = 0
    for worker in workers:
        out, err = await asyncio.to_thread(worker.communicate, timeout=100)
        assert worker.returncode == 0, err.decode()
        conflicts += int(out)
    assert await store.get("cas:counter", "n") == str(PROCESSES * TASKS * INCREMENTS).encode()
    assert conflicts > 0  # the test really contended
