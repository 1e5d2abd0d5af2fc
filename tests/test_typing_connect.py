"""``connect()`` is typed: driver methods type-check under ``mypy --strict`` without casts."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

GOOD = """
import unistore
from unistore.protocols import Hash, KeyValue


async def main() -> None:
    s = unistore.connect("sqlite:///x.db")
    await s.set("ns", "k", b"v", ttl=60)
    async with unistore.connect("memory://") as m:
        await m.hset("ns", "h", {"f": b"1"}, ttl=5)
        print(await m.read_messages("sid"))
        n: int = await m.incr("ns", "c", ttl=5)
        async with m.transaction("ns", ["k"]) as tx:
            tx.set("k", b"w", ttl=5)
            await tx.commit()
        async for ns in m.iter_namespaces("app:"):
            print(ns, n)
    kv: KeyValue = unistore.require(s, KeyValue)
    print(await kv.get("ns", "k"))
    h = unistore.require(s, Hash)
    print(await h.hgetall("ns", "h"))
    await s.aclose()
"""

# Each line must be reported: the test would pass vacuously if nothing were typed.
BAD = """
import unistore
from unistore.protocols import KeyValue


async def main() -> None:
    s = unistore.connect("sqlite:///x.db")
    await s.set("ns", "k", "v", ttl=60)  # BAD: a str value
    await s.hset("ns", "h", {"f": 1}, ttl=5)  # BAD: an int field value
    kv = unistore.require(s, KeyValue)
    await kv.hget("ns", "h", "f")  # BAD: KeyValue has no hget
    await s.no_such_method()  # BAD: not a store method
"""


def test_connect_is_typed_for_every_capability(tmp_path: Path) -> None:
    good = tmp_path / "good_snippet.py"
    bad = tmp_path / "bad_snippet.py"
    good.write_text(textwrap.dedent(GOOD))
    bad.write_text(textwrap.dedent(BAD))
    config = tmp_path / "mypy.ini"
    # An own config: the project's (files, plugins) must not change the verdict.
    config.write_text("[mypy]\nstrict = True\nwarn_unreachable = True\n")
    stdout, stderr, _status = mypy_api.run(
        [
            "--config-file",
            str(config),
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            "--no-error-summary",
            "--hide-error-context",
            str(good),
            str(bad),
        ]
    )
    assert not stderr, stderr
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert not [line for line in errors if "good_snippet" in line], stdout
    reported = {
        int(m.group(1)) for line in errors if (m := re.search(r"bad_snippet\.py:(\d+)", line))
    }
    expected = {
        number
        for number, line in enumerate(textwrap.dedent(BAD).splitlines(), start=1)
        if "# BAD" in line
    }
    assert reported == expected, stdout
