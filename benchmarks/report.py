"""Write docs/benchmarks.md and its charts from a run of the peers benchmark.

Runs ``benchmarks/bench_peers.py`` (its table goes to stdout as it runs) and
writes ``docs/benchmarks.md`` with the tables, the machine, the load average
and the date, the results as JSON in ``docs/benchmarks/results.json`` and one
PNG chart of the ratios unistore ÷ peer per group under ``docs/benchmarks/``.
``--from FILE`` rebuilds the page from an earlier ``--json`` run instead.

    ./dev bench report [--quick] [--from FILE] [-- BENCH_PEERS_ARGS...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display needed

import matplotlib.pyplot as plt
from _peers_core import table
from bench_peers import GROUPS, TITLES

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs"
PAGE = DOCS / "benchmarks.md"
IMAGES = DOCS / "benchmarks"

INTRO = """\
# Benchmarks

unistore measured side by side with the libraries you might use instead, in
one run on one machine: raw redis-py, aiocache and py-key-value on Redis;
stdlib sqlite3 (the physical limit), diskcache and py-key-value's DiskStore on
local disk; the OpenAI Agents SDK's `SQLiteSession`, `SQLAlchemySession` and
`RedisSession` for sessions.

Rounds are interleaved: every round times one batch of each contender, in an
order that flips from round to round, so that a busy machine slows every
contender alike. Each figure is the median over the rounds; the spread is the
fastest and the slowest round. **unistore ÷ peer** is a throughput ratio for
ops/s (above 1.0: unistore is faster) and a latency ratio for ms (below 1.0:
unistore is faster). The raw sqlite3 and diskcache calls block the event loop,
so their concurrent callers run one after the other.

The page is generated: `./dev bench report` runs `benchmarks/bench_peers.py`
and rewrites it (`./dev bench peers --quick` prints the tables only).
"""

CHART_NOTES = {
    "redis": "throughput ratio, higher is better",
    "disk": "throughput ratio, higher is better",
    "sessions": "latency ratio, lower is better",
}


def run_bench(extra: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "peers.json"
        command = [sys.executable, str(HERE / "bench_peers.py"), "--json", str(out), *extra]
        subprocess.run(command, check=True)
        return json.loads(out.read_text())  # type: ignore[no-any-return]


def bars(result: dict[str, Any], group: str) -> list[tuple[str, str, float]]:
    """``(label, peer, ratio)`` for every ratio of ``group``, in table order."""
    out = []
    for case in result["cases"]:
        if case["group"] != group:
            continue
        where = f"{case['driver']} · " if case["driver"] else ""
        for r in case["ratios"]:
            ours = r["ours"].partition("(")[2].rstrip(")")
            mine = f" ({ours})" if ours and group == "sessions" else ""
            label = f"{where}{case['measure']} c={case['concurrency']}{mine}"
            if group == "sessions":
                label = f"{where}{case['measure']}{mine}"
            out.append((label, r["peer"], r["ratio"]))
    return out


def chart(result: dict[str, Any], group: str, path: Path) -> bool:
    rows = bars(result, group)
    if not rows:
        return False
    peers = list(dict.fromkeys(peer for _, peer, _ in rows))
    colours = {peer: f"C{index}" for index, peer in enumerate(peers)}
    labels = [f"{label} vs {peer}" for label, peer, _ in rows]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(rows) + 1.4))
    y = range(len(rows))
    ax.barh(list(y), [r for _, _, r in rows], color=[colours[p] for _, p, _ in rows])
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"unistore ÷ peer ({CHART_NOTES[group]})")
    ax.set_title(TITLES[group].split(":")[0], fontsize=11)
    for index, (_, _, ratio) in enumerate(rows):
        ax.text(ratio, index, f" {ratio:.2f}x", va="center", fontsize=7)
    ax.margins(x=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def page(result: dict[str, Any], charts: dict[str, str]) -> str:
    m = result["machine"]
    lines = [INTRO]
    lines += [
        "## The run\n",
        f"* date: {result['date']}",
        f"* machine: {m['cpus']} CPUs, {m['platform']} ({m['machine']})",
        f"* Python: {m['implementation']} {m['python']}",
        f"* load average (1, 5, 15 min): {result['loadavg_start']} at the start, "
        f"{result['loadavg_end']} at the end",
        f"* {result['rounds']} rounds, batches of about {result['batch_ms']:.0f} ms"
        + (" (quick mode)" if result["quick"] else ""),
        "",
    ]
    # Other work on the machine widens the spreads and moves the ratios
    # between runs: say so next to the numbers rather than hide it.
    busiest = max(result["loadavg_start"][0], result["loadavg_end"][0])
    if m["cpus"] and busiest > 0.5 * m["cpus"]:
        lines.append(
            "!!! warning\n"
            f"    The machine was busy (1-minute load average up to {busiest} on "
            f"{m['cpus']} CPUs): read the spreads before the ratios.\n"
        )
    for note in result["notes"]:
        lines.append(f"!!! note\n    {note}\n")
    for group in GROUPS:
        cases = [c for c in result["cases"] if c["group"] == group]
        if not cases:
            continue
        lines.append(f"## {TITLES[group]}\n")
        if group in charts:
            lines.append(f"![{group} ratios]({charts[group]})\n")
        drivers = list(dict.fromkeys(c["driver"] for c in cases))
        for driver in drivers:
            if driver:
                lines.append(f"### {driver}\n")
            lines.append("| measure | c | contender | median | spread | unistore ÷ peer |")
            lines.append("|---|---|---|---|---|---|")
            for case in cases:
                if case["driver"] == driver:
                    lines += table(case)
            lines.append("")
    if result["scaling"]:
        size = result["session_size"]
        lines.append(f"## Reading the last 20 of {size:,} messages ÷ of 100\n")
        lines.append("The cost of a tail read should not grow with the session.\n")
        lines.append("| driver | contender | ratio |")
        lines.append("|---|---|---|")
        for row in result["scaling"]:
            lines.append(f"| {row['driver']} | {row['name']} | {row['ratio']:.2f}x |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, help="a bench_peers --json file")
    parser.add_argument("--quick", action="store_true", help="a short run of the benchmark")
    parser.add_argument("extra", nargs="*", help="more arguments for bench_peers.py")
    args = parser.parse_args()
    if args.source is not None:
        result = json.loads(args.source.read_text())
    else:
        result = run_bench((["--quick"] if args.quick else []) + args.extra)
    IMAGES.mkdir(parents=True, exist_ok=True)
    (IMAGES / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    charts = {}
    for group in GROUPS:
        path = IMAGES / f"{group}.png"
        if chart(result, group, path):
            charts[group] = f"benchmarks/{path.name}"
        else:
            path.unlink(missing_ok=True)
    PAGE.write_text(page(result, charts))
    print(f"# wrote {PAGE.relative_to(HERE.parent)} and {len(charts)} charts", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
