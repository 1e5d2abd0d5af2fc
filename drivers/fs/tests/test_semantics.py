"""Rules every SDK driver shares, as the file driver keeps them on disk.

Watched slots conflict on touch and expire, counters are canonical int64,
messages may hold raw newlines, OS errors map through one table, and time
comes from the store's clock.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from unistore import StoreURL
from unistore.errors import (
    CapacityError,
    SlotKindError,
    StoreUnavailableError,
    TransactionConflictError,
    ValidationError,
)
from unistore.sdk import CLOCK_OPTION, INT64_MAX
from unistore_fs import FileStore
from unistore_fs._errors import ERRORS
from unistore_fs._options import OPTIONS


class _Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("change", ["touch", "expire"])
async def test_touch_or_expire_of_a_watched_slot_fails_the_commit(
    store: FileStore, change: str
) -> None:
    await store.set("n", "a", b"1", ttl=60)
    async with store.transaction("n", watch=["a"]) as tx:
        assert await tx.get("a") == b"1"
        if change == "touch":
            assert await store.touch("n", ttl=120) == 1
        else:
            assert await store.expire("n", "a", 120)
        tx.set("a", b"2", ttl=60)
        with pytest.raises(TransactionConflictError):
            await tx.commit()
    assert await store.get("n", "a") == b"1"


async def test_the_sdk_conflict_hook_fails_the_commit(store: FileStore) -> None:
    await store.set("n", "a", b"1", ttl=60)
    async with store.transaction("n", watch=["a"]) as tx:
        assert store.simulate_concurrent_change("n", "a") == 1
        tx.set("a", b"2", ttl=60)
        with pytest.raises(TransactionConflictError):
            await tx.commit()
    assert await store.get("n", "a") == b"1"


@pytest.mark.parametrize("raw", [b"05", b"00", b"-0", b" 7", b"1_000", b"9223372036854775808"])
async def test_counters_refuse_non_canonical_values(store: FileStore, raw: bytes) -> None:
    await store.set("n", "c", raw, ttl=60)
    with pytest.raises(SlotKindError):
        await store.incr("n", "c", ttl=60)
    assert await store.get("n", "c") == raw


async def test_a_counter_past_int64_is_refused_and_unchanged(store: FileStore) -> None:
    await store.set("n", "c", str(INT64_MAX).encode(), ttl=60)
    with pytest.raises(ValidationError, match="overflow"):
        await store.incr("n", "c", ttl=60)
    assert await store.get("n", "c") == str(INT64_MAX).encode()
    assert await store.incr("n", "c", -1, ttl=60) == INT64_MAX - 1


async def test_messages_with_raw_newlines_round_trip(store: FileStore, root: Path) -> None:
    texts = ['{\n"a": 1\n}', '"plain"', "\n", '"tail"']
    await store.create_session("s")
    await store.append_messages("s", texts, expected_length=0)
    assert await store.read_messages("s") == texts
    assert await store.read_messages("s", last=2) == texts[2:]
    await store.fork_session("s", "f", at=3)
    await store.replace_messages("s", 1, ["x\ny"], expected_length=4)
    assert await store.read_messages("s") == [texts[0], "x\ny"]
    assert await store.read_messages("f") == texts[:3]
    # Still one line per message on disk.
    log = next((root / "sessions" / "f").glob("messages*.jsonl"))
    assert len(log.read_bytes().splitlines()) == 3


@pytest.mark.parametrize(
    ("code", "error", "words"),
    [
        (errno.ENOSPC, CapacityError, "disk space"),
        (errno.EDQUOT, CapacityError, "quota"),
        (errno.EMFILE, CapacityError, "file descriptors"),
        (errno.EACCES, StoreUnavailableError, "cannot write"),
        (errno.EROFS, StoreUnavailableError, "cannot write"),
        (errno.ENOENT, StoreUnavailableError, "disappeared"),
        (errno.EIO, StoreUnavailableError, "file system error"),
    ],
)
def test_os_errors_map_through_one_table(code: int, error: type[Exception], words: str) -> None:
    exc = OSError(code, "reason", "/secret/path")
    mapped = ERRORS.translate(exc, "file store file:///x")
    assert type(mapped) is error
    assert words in str(mapped)
    assert "/secret/path" not in str(mapped)


def test_the_clock_option_is_declared() -> None:
    assert CLOCK_OPTION in OPTIONS


async def test_expiry_and_stamps_follow_the_injected_clock(root: Path) -> None:
    clock = _Clock()
    url = StoreURL.parse(f"file://{root}")
    async with FileStore(url, path=str(root), clock=clock, sweep_every=0) as store:
        await store.set("n", "s", b"v", ttl=10)
        await store.hset("n", "h", {"f": b"v"}, ttl=30)
        assert await store.get_ttl("n", "s") == pytest.approx(10)
        clock.now += 11
        assert await store.get("n", "s") is None
        assert await store.slots("n") == ["h"]
        assert await store.get_ttl("n", "h") == pytest.approx(19)
        record = await store.create_session("c")
        assert record.updated_at.timestamp() == pytest.approx(clock.now)
        clock.now += 100
        record = await store.update_session("c", label="later")
        assert record.updated_at.timestamp() == pytest.approx(clock.now)
        slot = json.loads((root / "ns" / "n" / "h.json").read_text())
        assert slot["expires_at"] == pytest.approx(1_800_000_000.0 + 30)
