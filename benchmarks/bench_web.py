"""Request overhead of unistore's Starlette session middleware against Starlette's own.

The request reads one key of the session and writes it back (a counter):
with Starlette's ``SessionMiddleware`` the data travels in a signed cookie;
with unistore's it is loaded from the store (one ``hgetall``) and the key is
written back (one ``hset``). A second case sends the session cookie to a
handler that never touches the session (unistore still loads it at the start
of the request, because ``request.session`` is a plain mapping). Both apps,
and an app without session middleware, run in-process behind
``httpx.ASGITransport`` in interleaved rounds (the order rotates every round);
each round times ``--requests`` requests per app. The table shows median
microseconds per request and the ratio unistore / Starlette.

    uv run --all-packages python benchmarks/bench_web.py [--drivers memory,sqlite,redis]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _bench_stores import bench_store_url
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware as CookieSessions
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import unistore
from unistore.integrations.starlette import SessionMiddleware

BASE = "https://bench"


async def counter(request: Request) -> PlainTextResponse:
    count = request.session.get("count", 0) + 1
    request.session["count"] = count
    return PlainTextResponse(str(count))


async def noop(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


ROUTES = [Route("/count", counter), Route("/noop", noop)]


def apps(store: Any) -> dict[str, Starlette]:
    return {
        # The baseline: the same requests, without a session to read or write.
        "none": Starlette(routes=[Route("/count", noop), Route("/noop", noop)]),
        "starlette": Starlette(
            routes=ROUTES, middleware=[Middleware(CookieSessions, secret_key="bench-secret")]
        ),
        "unistore": Starlette(
            routes=ROUTES, middleware=[Middleware(SessionMiddleware, store, ttl=3600)]
        ),
    }


async def time_requests(client: httpx.AsyncClient, path: str, n: int) -> float:
    """Microseconds per request over ``n`` requests."""
    gc.disable()
    start = time.perf_counter()
    for _ in range(n):
        response = await client.get(path)
        assert response.status_code == 200
    elapsed = time.perf_counter() - start
    gc.enable()
    return elapsed / n * 1e6


async def bench_driver(driver: str, url: str, rounds: int, requests: int) -> list[str]:
    rows = []
    async with unistore.connect(url) as store:
        clients = {
            name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
            for name, app in apps(store).items()
        }
        try:
            for client in clients.values():  # a session (cookie) for each, and warm-up
                for _ in range(20):
                    await client.get("/count")
            for path, label in (("/count", "read+write 1 key"), ("/noop", "cookie, untouched")):
                times: dict[str, list[float]] = {name: [] for name in clients}
                order = list(clients)
                for round_ in range(rounds):
                    for name in order[round_ % 3 :] + order[: round_ % 3]:
                        times[name].append(await time_requests(clients[name], path, requests))
                med = {name: statistics.median(values) for name, values in times.items()}
                ratio = med["unistore"] / med["starlette"]
                extra = med["unistore"] - med["none"], med["starlette"] - med["none"]
                rows.append(
                    f"| {driver:<8} | {label:<18} | {med['none']:>8.0f} | {med['starlette']:>9.0f}"
                    f" | {med['unistore']:>8.0f} | {extra[1]:>8.0f} | {extra[0]:>8.0f}"
                    f" | {ratio:>5.2f}x |"
                )
                print(rows[-1], flush=True)
        finally:
            for client in clients.values():
                await client.aclose()
            destroy = getattr(store, "destroy", None)
            if destroy is not None and driver in ("redis", "postgresql"):
                await destroy()
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drivers", default="memory,sqlite")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=200, help="requests per app per round")
    args = parser.parse_args()
    print(f"# Python {sys.version.split()[0]}; median us/request of interleaved rounds")
    print(
        "| driver   | request            | no mw us | starlette | unistore "
        "| +starl. | +unist. | ratio |"
    )
    print(
        "|----------|--------------------|---------:|----------:|---------:|---------:|---------:|------:|"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for driver in args.drivers.split(","):
            url = bench_store_url(driver, Path(tmp))
            if url is not None:
                await bench_driver(driver, url, args.rounds, args.requests)


if __name__ == "__main__":
    asyncio.run(main())
