"""Benchmark of UnistoreSaver against LangGraph's own savers on the same database.

Per-operation latency of ``aput`` (a small checkpoint appended to a thread)
and ``aget_tuple`` (the thread's latest checkpoint, with its writes) when the
thread already holds 100 or 10,000 checkpoints:

* SQLite: ``UnistoreSaver("sqlite:///...")`` against ``AsyncSqliteSaver``, both
  in the same database file;
* PostgreSQL: ``UnistoreSaver("postgresql://...")`` against
  ``AsyncPostgresSaver``, both in the same database (LangGraph's tables in a
  schema of their own, dropped afterwards).

Rounds interleave the two savers; each figure is the median over rounds of
the mean latency of ``--ops`` calls, and the ratio is unistore / LangGraph
(below 1.0: unistore is faster). Threads are filled in bulk before timing
(unistore: the adapter's own log entries appended in batches; LangGraph:
``aput`` calls). ``--quick`` uses 100 and 1,000 checkpoints and fewer rounds.

    ./dev bench langgraph [--quick] [--drivers sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from _bench_stores import POSTGRES_URL, bench_store_url
from langgraph.checkpoint.base import BaseCheckpointSaver, empty_checkpoint

import unistore
from unistore import StoreURL
from unistore.integrations.langgraph import UnistoreSaver
from unistore.integrations.langgraph._config import derive_scope

FILL_BATCH = 500


def _checkpoint(step: int) -> Any:
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"messages": [f"message {step}"], "step": step}
    checkpoint["channel_versions"] = {"messages": step + 1, "step": step + 1}
    return checkpoint


def _config(thread: str, parent: str | None) -> Any:
    configurable = {"thread_id": thread, "checkpoint_ns": ""}
    if parent:
        configurable["checkpoint_id"] = parent
    return {"configurable": configurable}


async def fill_unistore(saver: UnistoreSaver, store: Any, thread: str, n: int) -> str:
    """Append ``n`` checkpoints as the adapter writes them, in batches."""
    await store.create_session(thread, scope=derive_scope(None))
    parent: str | None = None
    batch: list[str] = []
    for step in range(n):
        checkpoint = _checkpoint(step)
        _t, _ns, parent, text = saver._checkpoint_entry(
            _config(thread, parent), checkpoint, {"source": "loop", "step": step}
        )
        batch.append(text)
        if len(batch) == FILL_BATCH or step == n - 1:
            await store.append_messages(thread, batch, scope=derive_scope(None))
            batch = []
    assert parent is not None
    return parent


async def fill_langgraph(saver: BaseCheckpointSaver[Any], thread: str, n: int) -> str:
    parent: str | None = None
    for step in range(n):
        stored = await saver.aput(
            _config(thread, parent), _checkpoint(step), {"source": "loop", "step": step}, {}
        )
        parent = stored["configurable"]["checkpoint_id"]
    assert parent is not None
    return parent


class Thread:
    """One saver's thread under test: its id and latest checkpoint."""

    def __init__(self, saver: Any, thread: str, head: str, step: int) -> None:
        self.saver, self.thread, self.head, self.step = saver, thread, head, step

    async def put(self, ops: int) -> float:
        """Mean latency of ``ops`` puts, each a child of the last."""
        start = time.perf_counter()
        for _ in range(ops):
            self.step += 1
            stored = await self.saver.aput(
                _config(self.thread, self.head),
                _checkpoint(self.step),
                {"source": "loop", "step": self.step},
                {},
            )
            self.head = stored["configurable"]["checkpoint_id"]
        return (time.perf_counter() - start) / ops

    async def get(self, ops: int) -> float:
        """Mean latency of ``ops`` reads of the latest checkpoint."""
        start = time.perf_counter()
        for _ in range(ops):
            found = await self.saver.aget_tuple(_config(self.thread, None))
            assert found is not None
            assert found.config["configurable"]["checkpoint_id"] == self.head
        return (time.perf_counter() - start) / ops


@asynccontextmanager
async def sqlite_pair(
    tmp: Path,
) -> AsyncIterator[tuple[UnistoreSaver, Any, BaseCheckpointSaver[Any]]]:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    url = bench_store_url("sqlite", tmp)
    assert url is not None
    path = StoreURL.parse(url).path
    async with (
        unistore.connect(url) as store,
        AsyncSqliteSaver.from_conn_string(str(path)) as theirs,
    ):
        await theirs.setup()
        yield UnistoreSaver(store), store, theirs


@asynccontextmanager
async def postgres_pair(
    tmp: Path,
) -> AsyncIterator[tuple[UnistoreSaver, Any, BaseCheckpointSaver[Any]]]:
    import psycopg
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row

    url = bench_store_url("postgresql", tmp)
    assert url is not None
    schema = f"bench_lg_{uuid.uuid4().hex[:10]}"
    conninfo = StoreURL.parse(POSTGRES_URL).render(hide_secrets=False)
    admin = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    conn = await psycopg.AsyncConnection.connect(
        conninfo,
        autocommit=True,
        prepare_threshold=0,
        row_factory=dict_row,
        options=f"-c search_path={schema}",
    )
    store = unistore.connect(url)
    try:
        theirs = AsyncPostgresSaver(conn)
        await theirs.setup()
        yield UnistoreSaver(store), store, theirs
    finally:
        await conn.close()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()
        await store.destroy()  # type: ignore[attr-defined]
        await store.aclose()


async def bench(driver: str, pair: Any, sizes: list[int], rounds: int, ops: int) -> None:
    async with pair as (ours, store, theirs):
        for size in sizes:
            thread = f"bench-{uuid.uuid4().hex[:8]}"
            threads = {
                "unistore": Thread(
                    ours, thread, await fill_unistore(ours, store, thread, size), size
                ),
                "langgraph": Thread(
                    theirs, thread, await fill_langgraph(theirs, thread, size), size
                ),
            }
            put: dict[str, list[float]] = {name: [] for name in threads}
            get: dict[str, list[float]] = {name: [] for name in threads}
            for _ in range(rounds):
                for name, under_test in threads.items():
                    put[name].append(await under_test.put(ops))
                    get[name].append(await under_test.get(ops))
            for label, table in (("aput", put), ("aget_tuple", get)):
                ours_ms = statistics.median(table["unistore"]) * 1e3
                theirs_ms = statistics.median(table["langgraph"]) * 1e3
                print(
                    f"{driver:<11} {size:>6} checkpoints  {label:<10}"
                    f" unistore {ours_ms:7.3f} ms   langgraph {theirs_ms:7.3f} ms"
                    f"   ratio {ours_ms / theirs_ms:5.2f}x"
                )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 checkpoints")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--ops", type=int, default=20, help="calls per round and operation")
    parser.add_argument("--drivers", default="sqlite,postgresql")
    args = parser.parse_args()
    sizes = [100, 1_000] if args.quick else [100, 10_000]
    rounds = args.rounds or (3 if args.quick else 7)
    with tempfile.TemporaryDirectory() as tmp:
        for driver in args.drivers.split(","):
            if driver == "sqlite":
                await bench(driver, sqlite_pair(Path(tmp)), sizes, rounds, args.ops)
            elif driver == "postgresql" and bench_store_url("postgresql", Path(tmp)):
                await bench(driver, postgres_pair(Path(tmp)), sizes, rounds, args.ops)


if __name__ == "__main__":
    asyncio.run(main())
