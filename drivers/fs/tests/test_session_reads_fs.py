"""Reading the last messages of a session reads O(n) bytes of its logs.

The log is read backwards from its committed end in chunks that start small
and grow, so the last 20 messages of a long session cost a few KiB of reads,
not a chunk of a megabyte or the whole log.
"""

from __future__ import annotations

from typing import Any

import pytest

import unistore_fs._session_log as session_log
from unistore_fs import FileStore
from unistore_fs._fsio import pread_exact

LAST = 20
BODY = '"' + "x" * 200 + '"'
#: Generous for 20 messages of about 200 bytes: well below reading a long log.
BUDGET = 64 << 10


async def fill(store: FileStore, session_id: str, count: int) -> None:
    await store.create_session(session_id)
    for start in range(0, count, 1000):
        chunk = [BODY] * min(1000, count - start)
        await store.append_messages(session_id, chunk, expected_length=start)


@pytest.fixture
def bytes_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the bytes the message logs are read by, per ``pread`` of their tails."""
    seen: list[int] = []

    def counting(fd: int, size: int, offset: int) -> Any:
        seen.append(size)
        return pread_exact(fd, size, offset)

    monkeypatch.setattr(session_log, "pread_exact", counting)
    return seen


async def test_read_last_of_a_long_session_reads_a_few_kib(
    store: FileStore, bytes_read: list[int]
) -> None:
    await fill(store, "long", 10_000)
    bytes_read.clear()
    assert await store.read_messages("long", last=LAST) == [BODY] * LAST
    assert 0 < sum(bytes_read) <= BUDGET, bytes_read


async def test_read_last_of_forks_reads_a_few_kib(store: FileStore, bytes_read: list[int]) -> None:
    await fill(store, "long", 10_000)
    tip = "long"
    for depth in range(10):
        child = f"fork-{depth}"
        await store.fork_session(tip, child)
        await store.append_messages(child, ['"own"'] * 5)
        tip = child
    bytes_read.clear()
    got = await store.read_messages(tip, last=LAST)
    assert got == ['"own"'] * LAST
    assert sum(bytes_read) <= BUDGET, bytes_read
    # A fork at the end of a long session reads its base's tail backwards too.
    await store.fork_session("long", "end")
    await store.append_messages("end", ['"own"'] * 5)
    bytes_read.clear()
    assert await store.read_messages("end", last=LAST) == [BODY] * 15 + ['"own"'] * 5
    assert sum(bytes_read) <= BUDGET, bytes_read


async def test_a_long_tail_is_read_whole(store: FileStore) -> None:
    # Growing chunks must still gather every line of a long tail, across chunks.
    await fill(store, "long", 10_000)
    messages = [f'"{i}"' for i in range(3000)]
    await store.append_messages("long", messages, expected_length=10_000)
    assert await store.read_messages("long", last=3001) == [BODY, *messages]
    assert len(await store.read_messages("long")) == 13_000
