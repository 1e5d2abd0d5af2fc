"""rekey: rotation round trips, in code and through the command, killed midway and rerun."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import unistore
from unistore.wrappers import Encrypted
from unistore.wrappers._enc_codec import from_text, key_id_of
from unistore.wrappers._rekey import rekey
from unistore_test_support import destroy_url, make_store_url

KEY1 = bytes(range(32))
KEY2 = bytes(range(100, 132))
OLD = {"k1": KEY1}
BOTH = {"k2": KEY2, "k1": KEY1}


async def _fill(store: Any, slots: int = 20, sessions: int = 4) -> None:
    for i in range(slots):
        await store.set("ns-a", f"s{i}", f"value {i}".encode(), ttl=600)
    await store.hset("ns-b", "h", {f"f{i}": f"field {i}".encode() for i in range(5)}, ttl=None)
    await store.incr("ns-b", "counter", 3, ttl=600)
    for i in range(sessions):
        await store.create_session(f"s{i}", metadata={"n": i}, scope="t1" if i % 2 else None)
        await store.append_messages(
            f"s{i}", [f'"m{i}-{j}"' for j in range(3)], scope="t1" if i % 2 else None
        )
    await store.fork_session("s0", "fork", at=2, metadata={"f": True})
    await store.append_messages("fork", ['"own"'])


async def _expect(store: Any, slots: int = 20, sessions: int = 4) -> None:
    for i in range(slots):
        assert await store.get("ns-a", f"s{i}") == f"value {i}".encode()
    assert await store.hgetall("ns-b", "h") == {f"f{i}": f"field {i}".encode() for i in range(5)}
    assert await store.get("ns-b", "counter") == b"3"
    for i in range(sessions):
        scope = "t1" if i % 2 else None
        assert await store.read_messages(f"s{i}", scope=scope) == [f'"m{i}-{j}"' for j in range(3)]
        record = await store.get_session(f"s{i}", scope=scope)
        assert record.metadata == {"n": i}
    assert await store.read_messages("fork") == ['"m0-0"', '"m0-1"', '"own"']


async def _key_ids(inner: Any) -> set[str | None]:
    """The key id of every stored value (None: plain)."""
    ids: set[str | None] = set()
    async for ns in inner.iter_namespaces():
        for slot in await inner.slots(ns):
            if (await inner.slot_kind(ns, slot)).value == "hash":
                ids |= {key_id_of(v) for v in (await inner.hgetall(ns, slot)).values()}
            else:
                ids.add(key_id_of(await inner.get(ns, slot)))
    async for scope in inner.iter_scopes():
        for record in (await inner.list_sessions(scope=scope, limit=500)).items:
            for text in await inner.read_messages(record.id, scope=scope):
                ids.add(key_id_of(from_text(text[1:-1]) or b""))
            ids |= {key_id_of(from_text(v) or b"") for v in record.metadata.values()}
    return ids


@pytest.mark.parametrize("driver", ["memory", "sqlite"])
async def test_rotation_round_trip_then_the_old_key_can_go(driver: str, tmp_path: Path) -> None:
    """k1 data, current k2, rekey: all under k2, readable without k1, TTLs kept; rerun: no-op."""
    url = make_store_url(driver, tmp_path, shared=True)
    async with unistore.connect(url) as inner:
        await _fill(Encrypted(inner, keys=OLD, current="k1"))
        rotated = Encrypted(inner, keys=BOTH, current="k2")
        await rotated.set("ns-a", "fresh", b"new", ttl=600)
        report = await rekey(rotated)
        assert report.gave_up == 0
        assert report.slots == 21  # 20 scalars + the hash; "fresh" was already k2
        assert report.values == 25
        assert report.sessions == 5
        assert await _key_ids(inner) == {"k2", None}  # None: the counter
        assert 590 < await inner.get_ttl("ns-a", "s1") <= 600
        assert await inner.get_ttl("ns-b", "h") == float("inf")
        await _expect(Encrypted(inner, keys={"k2": KEY2}, current="k2"))
        again = await rekey(rotated)
        assert (again.slots, again.sessions, again.gave_up) == (0, 0, 0)


async def test_rekey_never_clobbers_a_concurrent_write(tmp_path: Path) -> None:
    """A slot written between rekey's read and its commit keeps the new value."""
    async with unistore.connect("memory://") as inner:
        old = Encrypted(inner, keys=OLD, current="k1")
        await old.set("ns", "a", b"before", ttl=600)
        rotated = Encrypted(inner, keys=BOTH, current="k2")
        original = inner.get_ttl
        raced = False

        async def racing_get_ttl(ns: str, slot: str) -> Any:
            nonlocal raced
            if not raced:
                raced = True
                await old.set("ns", "a", b"concurrent", ttl=600)
            return await original(ns, slot)

        inner.get_ttl = racing_get_ttl  # type: ignore[method-assign]
        report = await rekey(rotated)
        assert raced
        assert report.gave_up == 0
        assert await rotated.get("ns", "a") == b"concurrent"
        assert key_id_of(await inner.get("ns", "a")) == "k2"


def _keys_file(path: Path) -> Path:
    path.write_text(
        f"# test keys\nk1={base64.b64encode(KEY1).decode()}\nk2={base64.b64encode(KEY2).decode()}\n"
    )
    return path


@pytest.mark.slow
@pytest.mark.parametrize("driver", ["sqlite", "redis"])
async def test_rekey_killed_midway_then_rerun_loses_nothing(driver: str, tmp_path: Path) -> None:
    """SIGKILL a ``unistore rekey`` midway, rerun it: every value equal, all under k2."""
    url = make_store_url(driver, tmp_path, shared=True)
    # Enough work that the rekey is still running when its first rewrites show.
    slots, sessions = 3_000, 30
    try:
        async with unistore.connect(url) as inner:
            await _fill(Encrypted(inner, keys=OLD, current="k1"), slots, sessions)
        keys = _keys_file(tmp_path / "keys")
        command = ["-c", "from unistore._cli import main; main()",
                   "rekey", url, "--keys-file", str(keys), "--current", "k2", "--json"]  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        async with unistore.connect(url) as inner:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and proc.returncode is None:
                if "k2" in {key_id_of(await inner.get("ns-a", f"s{i}")) for i in range(40)}:
                    break
                await asyncio.sleep(0.001)
        assert proc.returncode is None, "the rekey ended before it could be killed midway"
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        async with unistore.connect(url) as inner:
            ids = await _key_ids(inner)
            assert "k2" in ids, "the kill did not land midway"
            assert "k1" in ids, "the kill did not land midway"
        rerun = await asyncio.create_subprocess_exec(
            sys.executable, *command, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, err = await asyncio.wait_for(rerun.communicate(), timeout=120)
        assert rerun.returncode == 0, err.decode()
        _assert_no_key((out + err).decode())
        async with unistore.connect(url) as inner:
            assert await _key_ids(inner) == {"k2", None}
            await _expect(Encrypted(inner, keys={"k2": KEY2}, current="k2"), slots, sessions)
    finally:
        if driver == "redis":
            await asyncio.to_thread(destroy_url, url)


def _assert_no_key(text: str) -> None:
    for key in (KEY1, KEY2):
        assert base64.b64encode(key).decode() not in text
        assert key.hex() not in text


def test_rekey_command_errors(tmp_path: Path) -> None:
    """Missing keys, an unknown key id in the data, a missing store: one line, no key."""
    from unistore_test_support import invoke

    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = invoke("rekey", url, "--current", "k2")
    assert result.exit_code == 2
    assert "--keys-file" in result.output
    keys = _keys_file(tmp_path / "keys")
    result = invoke("rekey", url, "--keys-file", str(keys), "--current", "k2")
    assert result.exit_code == 3
    assert not (tmp_path / "x.db").exists()

    async def seed() -> None:
        async with unistore.connect(url) as inner:
            await Encrypted(inner, keys={"k0": bytes(32)}, current="k0").set(
                "ns", "a", b"v", ttl=60
            )

    asyncio.run(seed())
    result = invoke("rekey", url, "--keys-file", str(keys), "--current", "k2")
    assert result.exit_code == 2
    assert "'k0'" in result.output
    _assert_no_key(result.output)
    os.environ["UNISTORE_TEST_REKEY_KEYS"] = f"k0={base64.b64encode(bytes(32)).decode()}"
    try:
        result = invoke("rekey", url, "--keys-env", "UNISTORE_TEST_REKEY_KEYS", "--current", "k0")
    finally:
        del os.environ["UNISTORE_TEST_REKEY_KEYS"]
    assert result.exit_code == 0, result.output
    assert "rekeyed to k0" in result.output
