"""Unconditional appends from several OS processes: every message lands exactly once.

Four worker processes open the same store, wait for a common start signal,
then each appends 50 messages to one session without ``expected_length``. No
append may conflict or fail, the session ends with exactly 200 messages, each
worker's messages appear once and in the order it sent them, and the lengths
the appends returned are 1 to 200, each once.

The workers are started once for the module and take one job per driver, so
that the interpreter and driver imports are paid once, not once per driver.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from unistore_test_support import SERVER_MARKS, destroy_url, make_store_url, with_store

PROCESSES = 4
APPENDS = 50
SESSION = "multiprocess-appends"
#: Seconds a worker may take to connect, or to finish its appends.
WAIT = 60.0

#: A worker: for each job line, connect, say ready, wait for "go", append, report.
WORKER = """
import asyncio, json, sys, traceback
import unistore

def ask():
    line = sys.stdin.readline()
    return json.loads(line) if line else None

def say(reply):
    print(json.dumps(reply), flush=True)

async def run(job, worker):
    async with unistore.connect(job["url"]) as store:
        await store.get_session(job["session"])  # connected before the start signal
        say({"ready": True})
        ask()  # blocks the loop on purpose: nothing else runs until the start signal
        lengths = []
        for n in range(job["count"]):
            message = json.dumps({"worker": worker, "n": n})
            lengths.append(await store.append_messages(job["session"], [message]))
        say({"lengths": lengths})

worker = int(sys.argv[1])
while (job := ask()) is not None:
    try:
        asyncio.run(run(job, worker))
    except Exception:
        say({"error": traceback.format_exc()})
"""


class Worker:
    """One worker process and the replies it printed."""

    def __init__(self, index: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(index)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.replies: queue.Queue[str] = queue.Queue()
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:
                self.replies.put(line)
        self.replies.put("")  # end of output: the process exited

    def send(self, message: object) -> None:
        """Write one line to the worker."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def receive(self) -> dict[str, Any]:
        """Return the worker's next reply (an ``error`` one carries a traceback)."""
        line = self.replies.get(timeout=WAIT)
        if not line:
            self.proc.wait(timeout=WAIT)
            assert self.proc.stderr is not None
            return {"error": f"the worker exited:\n{self.proc.stderr.read()[-3000:]}"}
        reply: dict[str, Any] = json.loads(line)
        return reply

    def stop(self) -> None:
        """Close its input (it exits) and reap it."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        self.pump.join(timeout=10)


@pytest.fixture(scope="module")
def workers() -> Iterator[list[Worker]]:
    """The worker processes, shared by the drivers' runs."""
    pool = [Worker(index) for index in range(PROCESSES)]
    yield pool
    for worker in pool:
        worker.stop()


def run_job(pool: list[Worker], url: str) -> list[list[int]]:
    """Have every worker append to the session at ``url``; return the lengths each got."""
    for worker in pool:
        worker.send({"url": url, "session": SESSION, "count": APPENDS})
    ready = [worker.receive() for worker in pool]
    # Release them together, so that they contend. A worker that failed to
    # connect is back at its job loop and does not wait for the signal.
    for worker, reply in zip(pool, ready, strict=True):
        if "ready" in reply:
            worker.send("go")
    done = [worker.receive() if "ready" in r else r for worker, r in zip(pool, ready, strict=True)]
    errors = [reply["error"] for reply in done if "error" in reply]
    assert not errors, f"{len(errors)} worker(s) failed:\n{errors[0][-3000:]}"
    return [reply["lengths"] for reply in done]


@pytest.fixture(
    params=[
        pytest.param(d, marks=SERVER_MARKS.get(d, ()))
        for d in ("sqlite", "postgresql", "file", "redis")
    ]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store of its own, which processes share, on each driver."""
    driver: str = request.param
    made = make_store_url(driver, tmp_path)
    yield made
    if driver in ("redis", "postgresql"):
        destroy_url(made)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_unconditional_appends_from_four_processes_land_exactly_once(
    url: str, workers: list[Worker]
) -> None:
    with_store(url, lambda store: store.create_session(SESSION))
    lengths = run_job(workers, url)
    total = PROCESSES * APPENDS
    assert sorted(n for returned in lengths for n in returned) == list(range(1, total + 1))
    messages = with_store(url, lambda store: store.read_messages(SESSION))
    record = with_store(url, lambda store: store.get_session(SESSION))
    assert len(messages) == total == 200
    sent = [json.loads(message) for message in messages]
    for worker, returned in enumerate(lengths):
        mine = [m["n"] for m in sent if m["worker"] == worker]
        assert mine == list(range(APPENDS)), f"worker {worker}: lost, doubled or reordered"
        for n, length in enumerate(returned):
            assert sent[length - 1] == {"worker": worker, "n": n}, "a returned length is wrong"
    assert record is not None
    assert record.message_count == total
