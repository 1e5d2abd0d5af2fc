"""Session scopes as stored: keys, the scope index, listing one scope, iter_scopes."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import text

from unistore_sql import SQLStore


def digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


async def rows(store: SQLStore, sql: str, **params: Any) -> list[Any]:
    async with store.engine.connect() as conn:
        result = await conn.execute(text(sql.format(p=store.table_prefix)), params)
        return list(result.all())


#: Scopes that must stay plain text: no pattern, path or separator meaning.
AWKWARD = ["a", "*", "%", "_", "a/b", "..", ":", "{}", "é", "a\x01", "\U0010ffff", "x" * 1024]


async def test_the_default_scope_keeps_the_keys_of_earlier_releases(store: SQLStore) -> None:
    await store.create_session("s")
    await store.create_session("s", scope="a")
    found = await rows(store, "SELECT sid_key, scope_key, scope FROM {p}sessions")
    assert {(bytes(r.sid_key), bytes(r.scope_key), r.scope) for r in found} == {
        (digest(b"s"), b"", None),
        (digest(b"\xffa\x00s"), digest(b"a"), b"a"),
    }


async def test_no_default_scope_id_collides_with_a_scoped_session(store: SQLStore) -> None:
    # "a" + NUL + "s" in the default scope is not ("a", "s"), nor is ("a\x00", ...) possible.
    await store.create_session("a\x00s")
    await store.create_session("s", scope="a")
    await store.append_messages("a\x00s", ['"default"'])
    await store.append_messages("s", ['"scoped"'], scope="a")
    assert await store.read_messages("a\x00s") == ['"default"']
    assert await store.read_messages("s", scope="a") == ['"scoped"']


async def test_awkward_scopes_are_opaque_and_disjoint(store: SQLStore) -> None:
    await store.create_session("s")
    for i, scope in enumerate(AWKWARD):
        await store.create_session("s", scope=scope, label=str(i))
        await store.append_messages("s", [f'"{i}"'], scope=scope)
    assert await store.read_messages("s") == []
    for i, scope in enumerate(AWKWARD):
        assert await store.read_messages("s", scope=scope) == [f'"{i}"']
        page = await store.list_sessions(scope=scope)
        assert [(r.id, r.label, r.scope) for r in page.items] == [("s", str(i), scope)]
    default = await store.list_sessions()
    assert [(r.id, r.scope) for r in default.items] == [("s", None)]
    assert sorted([s async for s in store.iter_scopes()], key=str) == sorted(
        [None, *AWKWARD], key=str
    )


async def test_listing_a_scope_is_a_range_of_the_scope_index(
    store: SQLStore, statements: Any
) -> None:
    for i in range(300):
        await store.create_session(f"big-{i}", scope="big")
    for i in range(3):
        await store.create_session(f"small-{i}", scope="small")
    if store.engine.dialect.name == "postgresql":
        async with store.engine.begin() as conn:
            await conn.exec_driver_sql(f"ANALYZE {store.table_prefix}sessions")
    statements.start()
    page = await store.list_sessions(scope="small", limit=2)
    statements.stop()
    assert [r.id for r in page.items] == ["small-2", "small-1"]
    (executed,) = statements.data()
    plan = await statements.plan(executed)
    assert f"ix_{store.table_prefix}sessions_scope" in plan, plan
    if store.engine.dialect.name == "sqlite":
        assert "(scope_key=?)" in plan, plan
    else:
        assert "Index Cond: (scope_key = " in plan, plan


async def test_iter_scopes_pages_through_many(store: SQLStore) -> None:
    from unistore_sql._session_sql import LISTING_BATCH

    names = [f"scope-{i}" for i in range(LISTING_BATCH + 3)]
    for name in names:
        await store.create_session("s", scope=name)
    assert sorted([s async for s in store.iter_scopes()], key=str) == sorted(names)
