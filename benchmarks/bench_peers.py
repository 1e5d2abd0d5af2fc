"""unistore side by side with the libraries users would pick instead, in one run.

* **redis**: NamespacedStore set / get on ``redis://`` against raw redis-py
  (``SET ... EX`` / ``GET``), aiocache's ``RedisCache`` and py-key-value's
  ``RedisStore``, at concurrency 1 and 50 (ops/s).
* **disk**: NamespacedStore on ``sqlite:///`` against stdlib sqlite3 (a
  primary-key table in WAL with ``synchronous=NORMAL``: the physical limit),
  py-key-value's ``DiskStore`` (diskcache) and raw diskcache, at concurrency 1
  and 16 (ops/s). The raw sqlite3 and diskcache calls block: their concurrent
  callers run one after the other.
* **sessions**: unistore's session store and ``SessionManager`` against the
  OpenAI Agents ``SQLiteSession``, ``SQLAlchemySession`` (postgresql+asyncpg)
  and ``RedisSession``: append one message, read the last 20 of a 10,000- and of
  a 100-message session, create a session with 2 messages (ms per call).

Rounds are interleaved (the contenders' order flips every round) and each
batch lasts about ``--batch-ms``; the table shows the median over rounds, the
spread (fastest-slowest round) and the ratio unistore ÷ peer: a throughput
ratio for ops/s (higher is better), a latency ratio for ms (lower is better).
Peers that are not installed and servers that are not reachable are skipped
with a note. Servers come from ``UNISTORE_TEST_REDIS_URL`` and
``UNISTORE_TEST_POSTGRES_URL``, under unique prefixes removed afterwards.

    ./dev bench peers [--quick] [--rounds 7] [--groups redis,disk,sessions] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import sys
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from _peers_core import Case, measure, table
from _peers_kv import disk_cases, redis_cases
from _peers_sessions import LARGE, session_cases

GROUPS = ("redis", "disk", "sessions")
TITLES = {
    "redis": "Redis: key-value throughput (ops/s, higher is better)",
    "disk": "Local disk: key-value throughput (ops/s, higher is better)",
    "sessions": "Sessions: latency per call (ms, lower is better)",
}


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
    }


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def scaling(cases: list[dict[str, Any]], size: int) -> list[dict[str, Any]]:
    """Read last 20 of ``size`` over of 100 messages, per driver and contender."""
    rows = []
    by_key = {(c["driver"], c["measure"]): c for c in cases if c["group"] == "sessions"}
    for (driver, label), large in by_key.items():
        if label != f"read last 20 of {size:,}":
            continue
        small = by_key.get((driver, "read last 20 of 100"))
        if small is None:
            continue
        medians = {c["name"]: c["median"] for c in small["contenders"]}
        for c in large["contenders"]:
            if c["name"] in medians:
                ratio = c["median"] / medians[c["name"]]
                rows.append({"driver": driver, "name": c["name"], "ratio": ratio})
    return rows


def print_report(result: dict[str, Any]) -> None:
    print(f"# load average at start {result['loadavg_start']}, at end {result['loadavg_end']}")
    for group in GROUPS:
        cases = [c for c in result["cases"] if c["group"] == group]
        if not cases:
            continue
        print(f"\n## {TITLES[group]}")
        drivers = sorted({c["driver"] for c in cases}, key=cases_order(cases))
        for driver in drivers:
            print(f"\n### {driver}\n" if driver else "")
            print("| measure | c | contender | median | spread | unistore ÷ peer |")
            print("|---|---|---|---|---|---|")
            for case in cases:
                if case["driver"] == driver:
                    print("\n".join(table(case)))
    rows = result["scaling"]
    if rows:
        print(f"\n## Read last 20 of {result['session_size']:,} ÷ of 100 (target <= 1.2x)\n")
        print("| driver | contender | ratio |")
        print("|---|---|---|")
        for row in rows:
            print(f"| {row['driver']} | {row['name']} | {row['ratio']:.2f}x |")
    for note in result["notes"]:
        print(f"# {note}")


def cases_order(cases: list[dict[str, Any]]) -> Any:
    first: dict[str, int] = {}
    for index, case in enumerate(cases):
        first.setdefault(case["driver"], index)
    return first.__getitem__


async def run(args: argparse.Namespace) -> dict[str, Any]:
    notes: list[str] = []
    groups = [g.strip() for g in args.groups.split(",") if g.strip()]
    size = 1_000 if args.quick else LARGE
    result: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "loadavg_start": loadavg(),
        "rounds": args.rounds,
        "batch_ms": args.batch_ms,
        "quick": args.quick,
        "session_size": size,
        "cases": [],
        "notes": notes,
    }
    print(f"# load average {result['loadavg_start']}", file=sys.stderr, flush=True)
    batch_s = args.batch_ms / 1e3
    builders = {"redis": redis_cases, "disk": disk_cases}
    with tempfile.TemporaryDirectory() as tmp:
        for group in groups:
            async with AsyncExitStack() as stack:
                folder = Path(tmp) / group
                folder.mkdir()
                cases: list[Case]
                if group == "sessions":
                    cases = await session_cases(stack, folder, notes, size)
                elif group in builders:
                    cases = await builders[group](stack, folder, notes)
                else:
                    notes.append(f"unknown group {group!r}, skipped")
                    continue
                for case in cases:
                    label = f"{group} {case.driver} {case.measure} c={case.concurrency}"
                    print(f"# {label} ...", file=sys.stderr, flush=True)
                    await measure(case, args.rounds, batch_s, args.cap)
                    result["cases"].append(case.to_json())
    result["loadavg_end"] = loadavg()
    result["scaling"] = scaling(result["cases"], size)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch-ms", type=float, default=200.0, help="length of one batch")
    parser.add_argument("--cap", type=int, default=20_000, help="most operations per batch")
    parser.add_argument("--groups", default=",".join(GROUPS))
    parser.add_argument("--json", type=Path, help="also write the results as JSON to FILE")
    parser.add_argument(
        "--quick", action="store_true", help="3 short rounds, 1,000-message sessions"
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.batch_ms = min(args.rounds, 3), min(args.batch_ms, 50.0)
    result = asyncio.run(run(args))
    print_report(result)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
