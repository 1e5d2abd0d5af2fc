"""Several OS processes on one folder: no update is ever lost."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

import unistore
from unistore.sdk import TOKENS_KEPT
from unistore.testing.contention import run_contention

WORKER = str(Path(__file__).with_name("fs_worker.py"))
APPEND_SESSION = "unconditional"  # as in fs_worker.py
PROCESSES = 4
TASKS = 8


async def _run_workers(*commands: list[str]) -> list[str]:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            WORKER,
            *command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for command in commands
    ]
    outputs = []
    for proc in procs:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=90)
        assert proc.returncode == 0, err.decode()[-3000:]
        outputs.append(out.decode())
    return outputs


@pytest.mark.slow
async def test_with_cas_increments_from_four_processes_end_exact(tmp_path: Path) -> None:
    result = await run_contention(
        f"file://{tmp_path}/store", processes=PROCESSES, tasks=TASKS, increments=5
    )
    assert result.value == result.expected == PROCESSES * TASKS * 5
    assert result.conflicts > 0  # the workers really contended


@pytest.mark.slow
async def test_incr_hset_and_appends_from_four_processes_lose_nothing(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/store"
    rounds = 4
    async with unistore.connect(url) as store:
        await store.create_session("shared")
    await _run_workers(*[["raw", url, str(TASKS), str(rounds), str(w)] for w in range(PROCESSES)])
    total = PROCESSES * TASKS * rounds
    async with unistore.connect(url) as store:
        assert await store.get("mp:raw", "hits") == str(total).encode()
        assert len(await store.hkeys("mp:raw", "fields")) == total
        messages = await store.read_messages("shared")
        assert len(messages) == total
        assert len(set(messages)) == total
        record = await store.get_session("shared")
        assert record is not None
        assert record.message_count == total


@pytest.mark.slow
async def test_unconditional_appends_from_four_processes_all_land_once(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/store"
    # A session remembers its last TOKENS_KEPT tokens: with no more appends
    # than that in all, every retry finds its token however long a worker
    # stalls between the append and its retry (on a loaded machine, others
    # once wrote 116 appends in between).
    per_worker = TOKENS_KEPT // PROCESSES
    async with unistore.connect(url) as store:
        await store.create_session(APPEND_SESSION)
    await _run_workers(*[["append", url, str(per_worker), str(w)] for w in range(PROCESSES)])
    total = PROCESSES * per_worker
    async with unistore.connect(url) as store:
        messages = await store.read_messages(APPEND_SESSION)
        assert len(messages) == total == 100
        assert len(set(messages)) == total
        record = await store.get_session(APPEND_SESSION)
        assert record is not None
        assert record.message_count == total
