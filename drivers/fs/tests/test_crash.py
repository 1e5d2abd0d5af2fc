"""A writer killed with SIGKILL at random moments never leaves a torn value behind.

Nor half a batch: ``set_many`` and ``delete_many`` land whole or not at all.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

import unistore


def _load_worker() -> ModuleType:
    # Test modules are imported without touching sys.path; load the helper by path.
    spec = importlib.util.spec_from_file_location(
        "fs_worker", Path(__file__).with_name("fs_worker.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_worker = _load_worker()
CRASH_NS: str = _worker.CRASH_NS
CRASH_SESSIONS: tuple[str, ...] = _worker.CRASH_SESSIONS
CRASH_MANY: tuple[str, ...] = _worker.CRASH_MANY
CRASH_GONE: tuple[str, ...] = _worker.CRASH_GONE
check_value = _worker.check_value
crash_message = _worker.crash_message
WORKER = str(Path(__file__).with_name("fs_worker.py"))
ROUNDS = 8


def _run_and_kill(url: str, rng: random.Random) -> int:
    """Start the writer, let it run a random while, SIGKILL it; return its last finished step."""
    proc = subprocess.Popen(
        [sys.executable, WORKER, "crash", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        first = proc.stdout.readline()  # the child is up and writing
        assert first, proc.stderr.read().decode() if proc.stderr else "no output"
        time.sleep(rng.uniform(0.0, 0.35))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
    lines = (first + out).decode().split()
    return int(lines[-1]) if lines else 0


@pytest.mark.slow
async def test_sigkill_leaves_old_or_new_values_and_message_prefixes(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/store"
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    lengths = dict.fromkeys(CRASH_SESSIONS, 0)
    for _ in range(ROUNDS):
        acknowledged = await asyncio.to_thread(_run_and_kill, url, rng)
        async with unistore.connect(url) as store:
            # Everything the writer finished before the kill is there.
            last = await store.get(CRASH_NS, "last")
            assert last is not None
            assert int(last) >= acknowledged
            for k in range(5):
                value = await store.get(CRASH_NS, f"slot{k}")
                if value is not None:
                    check_value(value)
            pair_a = await store.get(CRASH_NS, "pair-a")
            pair_b = await store.get(CRASH_NS, "pair-b")
            pair_h = await store.hgetall(CRASH_NS, "pair-h")
            assert pair_a is not None
            assert pair_a == pair_b == pair_h["v"], "a multi-slot commit was half applied"
            check_value(pair_a)
            many = await store.get_many(CRASH_NS, list(CRASH_MANY))
            assert many[0] is not None
            assert len(set(many)) == 1, "a set_many was half applied"
            check_value(many[0])
            gone = await store.get_many(CRASH_NS, list(CRASH_GONE))
            assert len(set(gone)) == 1, "a set_many or delete_many was half applied"
            for value in (await store.hgetall(CRASH_NS, "hash")).values():
                check_value(value)
            count = await store.get(CRASH_NS, "count")
            assert count is not None
            assert int(count) >= acknowledged
            for sid in CRASH_SESSIONS:
                messages = await store.read_messages(sid)
                assert messages == [crash_message(sid, k) for k in range(len(messages))]
                assert len(messages) >= lengths[sid], "an acknowledged append was lost"
                record = await store.get_session(sid)
                assert record is not None
                assert record.message_count == len(messages)
                lengths[sid] = len(messages)
    assert sum(lengths.values()) > 0
