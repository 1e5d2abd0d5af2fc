"""Two processes checkpointing into one thread through UnistoreSaver lose nothing."""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
from pathlib import Path

import pytest

from unistore.integrations.langgraph import UnistoreSaver
from unistore_test_support import destroy_url, make_store_url

PER_PROCESS = 8


def test_two_processes_append_to_one_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = []
    for driver in ("sqlite", "postgresql", "redis", "file"):
        try:
            urls.append(make_store_url(driver, tmp_path, name=driver))
        except pytest.skip.Exception:
            continue  # an unreachable server skips locally (and fails under CI)
    # The spawned child imports the worker from this folder; importing
    # LangGraph takes seconds, so this process is the second writer.
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import lg_mp_worker

    spawn = multiprocessing.get_context("spawn")
    ready, start = spawn.Event(), spawn.Event()
    worker = spawn.Process(target=lg_mp_worker.child, args=(urls, "b", PER_PROCESS, ready, start))
    try:
        worker.start()
        assert ready.wait(60)
        start.set()
        for url in urls:
            asyncio.run(lg_mp_worker.write(url, "a", PER_PROCESS))
        worker.join(60)
        assert worker.exitcode == 0
        for url in urls:
            with UnistoreSaver(url) as saver:
                tuples = list(saver.list({"configurable": {"thread_id": "shared"}}))
            assert len(tuples) == 2 * PER_PROCESS, url
            writes = sorted(w[2] for t in tuples for w in t.pending_writes or [])
            assert writes == sorted(f"{n}-{s}" for n in "ab" for s in range(PER_PROCESS)), url
            for name in "ab":
                # Each writer's chain of parents is intact and in order.
                mine = [t for t in tuples if t.metadata.get("writer") == name]
                assert [t.metadata["step"] for t in mine] == list(range(PER_PROCESS))[::-1], url
                ids = [t.config["configurable"]["checkpoint_id"] for t in mine]
                parents = [t.parent_config["configurable"]["checkpoint_id"] for t in mine[:-1]]  # type: ignore[index]
                assert parents == ids[1:], url
    finally:
        if worker.is_alive():
            worker.kill()
        sys.modules.pop("lg_mp_worker", None)
        for url in urls:
            if url.startswith(("redis", "postgresql")):
                destroy_url(url)
