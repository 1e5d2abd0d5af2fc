"""Space per session, per message and per slot on each driver: the figures sizing is done with.

For every installed and reachable driver it writes ``--sessions`` sessions of
``--messages`` messages each (chat-like JSON of about ``--message-bytes``
bytes), then the same number of namespaced slots, and measures what the
backend holds for them:

* redis: the sum of ``MEMORY USAGE`` over the store's own keys (its key
  prefix), so other data on the server does not count;
* postgresql: ``pg_total_relation_size`` (rows, indexes, TOAST) of the store's
  own tables (its table prefix), after ``VACUUM``;
* sqlite: the database file after a WAL checkpoint;
* file: the bytes of every file under the store's folder, rounded up to
  4 KiB blocks as the file system allocates them.

The figures are per item: (space with the sessions - space before) / sessions,
and so on. Run it on your own message sizes before sizing a deployment.

    uv run --all-packages python benchmarks/bench_capacity.py [--drivers redis,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

from _bench_stores import ALL_DRIVERS, bench_store_url

import unistore
from unistore import NamespacedStore, StoreURL


def _message(i: int, size: int) -> str:
    role = "user" if i % 2 == 0 else "assistant"
    text = json.dumps({"role": role, "content": ""})
    filler = "lorem ipsum dolor sit amet " * (size // 27 + 1)
    return json.dumps({"role": role, "content": filler[: max(0, size - len(text))]})


def _plain(url: StoreURL) -> str:
    """The URL without unistore's options, for the backend's own client."""
    return replace(url, query=MappingProxyType({})).render(hide_secrets=False)


def _disk_space(driver: str, parsed: StoreURL) -> int:
    if driver == "sqlite":
        path = Path(parsed.local_path or "")
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return path.stat().st_size
    if driver == "file":
        root = Path(parsed.local_path or "")
        total = 0
        for folder, _dirs, files in os.walk(root):
            for name in files:
                size = (Path(folder) / name).stat().st_size
                total += -(-size // 4096) * 4096
        return total
    raise ValueError(driver)


async def _space(driver: str, url: str) -> int:
    parsed = StoreURL.parse(url)
    if driver == "redis":
        import redis.asyncio as aioredis

        prefix = parsed.query.get("key_prefix", "unistore")
        client = aioredis.Redis.from_url(_plain(parsed))
        total = 0
        try:
            async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
                total += int(await client.memory_usage(key, samples=0) or 0)
        finally:
            await client.aclose()
        return total
    if driver == "postgresql":
        import asyncpg

        prefix = parsed.query.get("table_prefix", "unistore_")
        conn = await asyncpg.connect(
            _plain(parsed).replace("postgresql+asyncpg://", "postgresql://")
        )
        try:
            names = await conn.fetch(
                "SELECT relname FROM pg_class WHERE relkind = 'r' AND starts_with(relname, $1)",
                prefix,
            )
            for row in names:
                await conn.execute(f'VACUUM "{row["relname"]}"')
            value = await conn.fetchval(
                "SELECT coalesce(sum(pg_total_relation_size(oid)), 0) FROM pg_class "
                "WHERE relkind = 'r' AND starts_with(relname, $1)",
                prefix,
            )
            return int(value)
        finally:
            await conn.close()
    return await asyncio.to_thread(_disk_space, driver, parsed)


async def _measure(driver: str, url: str, args: argparse.Namespace) -> str:
    messages = [_message(i, args.message_bytes) for i in range(args.messages)]
    async with unistore.connect(url) as store:
        try:
            await store.create_session("warm-up", messages=messages[:1])
            before = await _space(driver, url)
            for i in range(args.sessions):
                await store.create_session(f"s{i:08d}", messages=messages)
            with_sessions = await _space(driver, url)
            data = NamespacedStore(store, prefix="cap", default_ttl=86_400)
            value = "v" * args.slot_bytes
            for i in range(args.sessions):
                await data.namespace(f"user{i:08d}").set("cart", value)
            with_slots = await _space(driver, url)
        finally:
            destroy = getattr(store, "destroy", None)
            if destroy is not None:
                await destroy()
    per_session = (with_sessions - before) / args.sessions
    per_message = per_session / max(1, args.messages)
    per_slot = (with_slots - with_sessions) / args.sessions
    return f"| {driver:<10} | {per_session:>12,.0f} | {per_message:>12,.0f} | {per_slot:>14,.0f} |"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drivers", default=",".join(d for d in ALL_DRIVERS if d != "memory"))
    parser.add_argument("--sessions", type=int, default=2_000)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--message-bytes", type=int, default=300)
    parser.add_argument("--slot-bytes", type=int, default=100)
    args = parser.parse_args()
    print(
        f"# {args.sessions} sessions x {args.messages} messages of ~{args.message_bytes} B; "
        f"{args.sessions} namespaced slots of {args.slot_bytes} B with a TTL"
    )
    print(f"# Python {sys.version.split()[0]}")
    print("| driver     | B / session  | B / message  | B / slot (ns)  |")
    print("|------------|-------------:|-------------:|---------------:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.drivers.split(","):
            driver = name.strip()
            url = bench_store_url(driver, Path(tmp))
            if url is None:
                continue
            print(await _measure(driver, url, args), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
