"""Reading the last messages of a session costs O(n) in the messages asked for.

The read is one statement; its plan looks the messages up by the primary key
``(sid_key, seq)``, bounded below by the first position wanted, so the rows
the database visits do not grow with the session, nor with its fork chain.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from unistore_sql import SQLStore

LAST = 20


async def fill(store: SQLStore, session_id: str, count: int) -> None:
    await store.create_session(session_id)
    for start in range(0, count, 500):
        chunk = [f'"m{i}"' for i in range(start, min(count, start + 500))]
        await store.append_messages(session_id, chunk, expected_length=start)


async def record_read(store: SQLStore, statements: Any, session_id: str) -> Any:
    statements.start()
    got = await store.read_messages(session_id, last=LAST)
    statements.stop()
    assert len(got) == LAST
    (executed,) = statements.data()
    return executed


async def test_read_last_uses_the_message_key_and_no_scan(store: SQLStore, statements: Any) -> None:
    await fill(store, "big", 2000)
    await fill(store, "other", 200)
    executed = await record_read(store, statements, "big")
    plan = await statements.plan(executed)
    messages = f"{store.table_prefix}messages"
    if store.engine.dialect.name == "sqlite":
        assert f"SEARCH {messages} USING INDEX" in plan, plan
        assert "(sid_key=? AND seq>? AND seq<?)" in plan, plan
        assert f"SCAN {messages}" not in plan, plan
    else:
        assert f"Index Scan using {messages}_pkey on {messages}" in plan, plan
        assert "Index Cond: ((sid_key = " in plan, plan
        assert f"Seq Scan on {messages}" not in plan, plan


async def test_read_last_of_a_fork_chain_uses_the_message_key(
    store: SQLStore, statements: Any
) -> None:
    await fill(store, "root", 1000)
    tip = "root"
    for depth in range(5):
        child = f"fork-{depth}"
        await store.fork_session(tip, child)
        await store.append_messages(child, ['"own"'] * 3)
        tip = child
    executed = await record_read(store, statements, tip)
    plan = await statements.plan(executed)
    messages = f"{store.table_prefix}messages"
    if store.engine.dialect.name == "sqlite":
        assert "(sid_key=? AND seq>? AND seq<?)" in plan, plan
        assert f"SCAN {messages}" not in plan, plan
    else:
        assert f"Index Scan using {messages}_pkey on {messages}" in plan, plan
        assert f"Seq Scan on {messages}" not in plan, plan


def _steps(path: Path, executed: Any) -> int:
    """Count the SQLite VM steps of a recorded statement, run on its own connection."""
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn = sqlite3.connect(path)
    try:
        conn.set_progress_handler(tick, 1)
        rows = conn.execute(executed.statement, executed.parameters).fetchall()
    finally:
        conn.close()
    assert len(rows) == LAST
    return steps


@pytest.mark.parametrize("backend", ["sqlite-file"], indirect=True)
async def test_sqlite_read_last_visits_the_same_rows_at_any_length(
    store: SQLStore, statements: Any, db_url: str
) -> None:
    # The plan names the index either way; what keeps the read O(n) is
    # which bound starts the range. Counting the steps the database takes
    # tells a range starting at the last ``n`` from one starting at 0.
    await fill(store, "small", 100)
    await fill(store, "large", 5000)
    await store.fork_session("large", "fork")
    await store.append_messages("fork", ['"own"'] * 5)
    path = Path(db_url.removeprefix("sqlite:///"))
    small = _steps(path, await record_read(store, statements, "small"))
    large = _steps(path, await record_read(store, statements, "large"))
    fork = _steps(path, await record_read(store, statements, "fork"))
    assert large <= small * 1.2, (small, large)
    assert fork <= small * 1.5, (small, fork)


async def test_postgresql_read_last_fetches_only_the_rows_returned(
    store: SQLStore, statements: Any
) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("EXPLAIN ANALYZE of PostgreSQL")
    await fill(store, "large", 3000)
    await store.fork_session("large", "fork")
    await store.append_messages("fork", ['"own"'] * 5)
    for session_id, parts in (("large", ["large"]), ("fork", ["fork", "large"])):
        executed = await record_read(store, statements, session_id)
        async with store.engine.connect() as conn:
            await conn.exec_driver_sql("SET enable_seqscan = off")
            result = await conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + executed.statement,
                executed.parameters,
            )
            plan = [str(row[0]) for row in result]
            await conn.rollback()
        text = " | ".join(plan)
        (at,) = [i for i, line in enumerate(plan) if f"{store.table_prefix}messages_pkey" in line]
        # One index range per session of the chain read (``loops``), the rows
        # fetched (the mean per loop times the loops) those returned, and
        # nothing fetched only to be filtered out afterwards.
        counts = plan[at].split("actual rows=")[1].rstrip(")").split(" loops=")
        assert int(counts[1]) == len(parts), text
        assert int(counts[0]) * int(counts[1]) == LAST, text
        assert "Rows Removed" not in " ".join(plan[at + 1 : at + 3]), text
        # What is sorted is the rows returned, not the session's.
        assert plan[0].startswith(f"Sort (actual rows={LAST} "), text
