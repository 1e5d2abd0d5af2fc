"""The measuring machinery of the peers benchmark: cases, interleaved rounds, statistics.

A *case* is one measure (``set`` at concurrency 50, ``read last 20 of 10,000``...)
with its *contenders*: unistore and the peers doing the same work. Each
contender is an ``op(i)`` coroutine that performs operation number ``i``;
``concurrency`` workers share one counter, so ``n`` operations are spread
across them. Every round times one batch per contender, in an order that flips
from round to round, so that a busy machine slows every contender alike. Each
batch is sized beforehand to last about ``batch_s`` for that contender.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Op = Callable[[int], Awaitable[object]]


@dataclass
class Contender:
    name: str
    op: Op
    ours: bool = False
    rates: list[float] = field(default_factory=list)  # ops/s, one per round


@dataclass
class Case:
    group: str  # "redis", "disk", "sessions"
    measure: str  # "set", "get", "append one message", ...
    concurrency: int
    unit: str  # "ops/s" (throughput, higher is better) or "ms" (latency, lower is better)
    contenders: list[Contender]
    driver: str = ""  # the backend, for the sessions group
    batch: dict[str, int] = field(default_factory=dict)

    def median(self, contender: Contender) -> float:
        return statistics.median(contender.rates)

    def value(self, rate: float) -> float:
        """A rate in this case's unit: ops/s as is, or ms per call."""
        return rate if self.unit == "ops/s" else 1e3 / rate

    def ratio(self, ours: Contender, peer: Contender) -> float:
        """Ours over the peer in this case's unit (throughput or latency ratio)."""
        return self.value(self.median(ours)) / self.value(self.median(peer))

    def to_json(self) -> dict[str, Any]:
        ours = [c for c in self.contenders if c.ours]
        peers = [c for c in self.contenders if not c.ours]
        return {
            "group": self.group,
            "driver": self.driver,
            "measure": self.measure,
            "concurrency": self.concurrency,
            "unit": self.unit,
            "contenders": [
                {
                    "name": c.name,
                    "ours": c.ours,
                    "batch": self.batch.get(c.name, 0),
                    "rates": c.rates,
                    "median": self.value(self.median(c)),
                    # In the case's unit: for latency the fastest round is the minimum.
                    "low": min(self.value(r) for r in c.rates),
                    "high": max(self.value(r) for r in c.rates),
                }
                for c in self.contenders
                if c.rates
            ],
            "ratios": [
                {"ours": o.name, "peer": p.name, "ratio": self.ratio(o, p)}
                for o in ours
                for p in peers
                if o.rates and p.rates
            ],
        }


async def run_batch(op: Op, n: int, concurrency: int) -> float:
    """Return the seconds ``n`` operations take over ``concurrency`` workers."""
    numbers = iter(range(n))

    async def worker() -> None:
        for i in numbers:
            await op(i)

    gc.collect()
    start = time.perf_counter()
    if concurrency == 1:
        await worker()
    else:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


async def calibrate(case: Case, batch_s: float, cap: int) -> None:
    """Warm every contender up and size its batch to last about ``batch_s``."""
    for contender in case.contenders:
        probe = max(case.concurrency * 2, 20)
        await run_batch(contender.op, probe, case.concurrency)  # warm-up
        elapsed = await run_batch(contender.op, probe, case.concurrency)
        n = int(probe * batch_s / max(elapsed, 1e-9))
        case.batch[contender.name] = max(case.concurrency * 2, 10, min(n, cap))


async def measure(case: Case, rounds: int, batch_s: float, cap: int) -> None:
    """Run ``rounds`` interleaved rounds of ``case``, appending one rate per round."""
    await calibrate(case, batch_s, cap)
    for number in range(rounds):
        order = case.contenders if number % 2 == 0 else case.contenders[::-1]
        for contender in order:
            n = case.batch[contender.name]
            contender.rates.append(n / await run_batch(contender.op, n, case.concurrency))


def fmt(value: float, unit: str) -> str:
    if unit == "ops/s":
        return f"{value:,.0f}"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def short(name: str) -> str:
    """``unistore (manager)`` -> ``manager``."""
    return name.partition("(")[2].rstrip(")") or name


def table(case_json: dict[str, Any]) -> list[str]:
    """Markdown rows for one case: every contender, its median, spread and ratio."""
    unit = case_json["unit"]
    ours = [c for c in case_json["contenders"] if c["ours"]]
    rows = []
    for c in case_json["contenders"]:
        if c["ours"]:
            ratio = ""
        else:
            # With several unistore contenders, each ratio names the one it is of.
            ratio = ", ".join(
                f"{r['ratio']:.2f}x" if len(ours) == 1 else f"{short(r['ours'])} {r['ratio']:.2f}x"
                for r in case_json["ratios"]
                if r["peer"] == c["name"]
            )
        rows.append(
            f"| {case_json['measure']} | {case_json['concurrency']} | {c['name']} "
            f"| {fmt(c['median'], unit)} | {fmt(c['low'], unit)}-{fmt(c['high'], unit)} "
            f"| {ratio} |"
        )
    return rows
