"""Child-process workloads for the multi-process and crash tests (run as a script).

    python fs_worker.py raw URL TASKS ROUNDS WORKER
    python fs_worker.py append URL COUNT WORKER
    python fs_worker.py crash URL

``crash`` writes forever and prints the number of each finished iteration, so
the parent knows what was acknowledged before it kills the process.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys

import unistore
from unistore import SessionConflictError

CRASH_NS = "crash:ns"
CRASH_SESSIONS = ("log-0", "log-1", "log-2")
CRASH_MANY = ("many-a", "many-b", "many-c")
CRASH_GONE = ("gone-a", "gone-b")
APPEND_SESSION = "unconditional"
PAD = "0123456789abcdef" * 64


def crash_value(i: int) -> bytes:
    """A self-checking value: ``i``, padding, and a digest of both."""
    body = f"{i}:{PAD[: 200 + i % 800]}"
    return f"{body}:{hashlib.sha256(body.encode()).hexdigest()}".encode()


def check_value(data: bytes) -> int:
    """Return the ``i`` of a value made by :func:`crash_value`, or raise AssertionError."""
    body, _, digest = data.decode().rpartition(":")
    assert hashlib.sha256(body.encode()).hexdigest() == digest, "torn or mixed value"
    return int(body.split(":", 1)[0])


def crash_message(session_id: str, k: int) -> str:
    """Message ``k`` of a crash-test session (deterministic)."""
    return json.dumps({"s": session_id, "k": k, "pad": PAD[: k % 300]})


async def raw(url: str, tasks: int, rounds: int, worker: int) -> None:
    async with unistore.connect(url) as store:

        async def task(t: int) -> None:
            for r in range(rounds):
                await store.incr("mp:raw", "hits", ttl=600)
                await store.hset("mp:raw", "fields", {f"w{worker}-t{t}-r{r}": b"1"}, ttl=600)
                message = json.dumps({"w": worker, "t": t, "r": r})
                while True:
                    record = await store.get_session("shared")
                    assert record is not None
                    try:
                        await store.append_messages(
                            "shared", [message], expected_length=record.message_count
                        )
                        break
                    except SessionConflictError:
                        await asyncio.sleep(0)

        await asyncio.gather(*(task(t) for t in range(tasks)))


async def append(url: str, count: int, worker: int) -> None:
    """Append ``count`` messages without a length check, each sent twice with its token."""
    async with unistore.connect(url) as store:
        for i in range(count):
            message = json.dumps({"w": worker, "i": i})
            token = f"w{worker}-{i}"
            length = await store.append_messages(APPEND_SESSION, [message], token=token)
            # A retry of an acknowledged append (as after a lost reply) changes nothing.
            again = await store.append_messages(APPEND_SESSION, [message], token=token)
            assert again == length, (again, length)


async def crash(url: str) -> None:
    async with unistore.connect(url) as store:
        lengths = {}
        for sid in CRASH_SESSIONS:
            record = await store.get_session(sid)
            if record is None:
                record = await store.create_session(sid)
            lengths[sid] = record.message_count
        i = 0
        while True:
            i += 1
            value = crash_value(i)
            await store.set(CRASH_NS, f"slot{i % 5}", value, ttl=600)
            await store.set(CRASH_NS, "last", str(i).encode(), ttl=600)
            async with store.transaction(CRASH_NS, ["pair-a"]) as tx:
                tx.set("pair-a", value, ttl=600)
                tx.set("pair-b", value, ttl=600)
                tx.hset("pair-h", {"v": value}, ttl=600)
                await tx.commit()
            await store.set_many(CRASH_NS, dict.fromkeys(CRASH_MANY, value), ttl=None)
            if i % 2:
                await store.delete_many(CRASH_NS, list(CRASH_GONE))
            else:
                await store.set_many(CRASH_NS, dict.fromkeys(CRASH_GONE, value), ttl=600)
            await store.hset(CRASH_NS, "hash", {f"f{i % 7}": value}, ttl=600)
            await store.incr(CRASH_NS, "count", ttl=600)
            sid = CRASH_SESSIONS[i % len(CRASH_SESSIONS)]
            n = lengths[sid]
            batch = [crash_message(sid, n + j) for j in range(1 + i % 3)]
            await store.append_messages(sid, batch, expected_length=n)
            lengths[sid] = n + len(batch)
            print(i, flush=True)


def main(argv: list[str]) -> None:
    mode, url = argv[0], argv[1]
    if mode == "raw":
        asyncio.run(raw(url, int(argv[2]), int(argv[3]), int(argv[4])))
    elif mode == "append":
        asyncio.run(append(url, int(argv[2]), int(argv[3])))
    elif mode == "crash":
        asyncio.run(crash(url))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
