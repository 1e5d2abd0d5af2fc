"""``unistore ns`` and ``unistore sessions`` on every shipped driver, through click's runner.

Each ``unistore`` invocation opens a new store, so memory stores here are named
(``memory://NAME``) to share data between invocations of one test; the data is
seeded through the library and read back through it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from unistore import Capability
from unistore._cli._app import cli
from unistore.protocols import NamespaceListing
from unistore_test_support import (
    as_json,
    destroy_url,
    driver_params,
    invoke,
    make_store_url,
    ok,
    one_error_line,
    with_store,
)


@pytest.fixture(params=driver_params())
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    made = make_store_url(request.param, tmp_path, shared=True)
    yield made
    destroy_url(made)


def can_list_namespaces(url: str) -> bool:
    async def go(store: Any) -> bool:
        return Capability.NAMESPACE_LISTING in store.capabilities and isinstance(
            store, NamespaceListing
        )

    return bool(with_store(url, go))


# -- namespaces ------------------------------------------------------------------------

HOSTILE_NS = "app:*?[x]{t}/../%00\n"


async def _seed_slots(store: Any) -> None:
    await store.set(HOSTILE_NS, "note", "h\u00e9llo".encode(), ttl=600)
    await store.set(HOSTILE_NS, "blob", b"\xff\x00binary", ttl=600)
    await store.hset(HOSTILE_NS, "basket", {"sku-1": b"2", "sku-*": b"1"}, ttl=300)
    await store.incr(HOSTILE_NS, "views", 3, ttl=900)
    await store.set("app:other", "keep", b"me", ttl=600)


def test_ns_slots_get_and_purge(url: str) -> None:
    with_store(url, _seed_slots)
    listing = as_json("ns", "slots", url, HOSTILE_NS)
    rows = {row["slot"]: row for row in listing["slots"]}
    assert sorted(rows) == ["basket", "blob", "note", "views"]
    assert rows["basket"]["kind"] == "hash"
    assert rows["basket"]["size"] == 2
    assert rows["note"]["kind"] == "scalar"
    assert rows["note"]["size"] == len("h\u00e9llo".encode())
    assert 200 < rows["basket"]["ttl"] <= 300
    assert 800 < rows["views"]["ttl"] <= 900
    table = ok("ns", "slots", url, HOSTILE_NS).stdout
    assert "basket" in table
    assert "hash" in table
    assert "\\n" in table

    scalar = as_json("ns", "get", url, HOSTILE_NS, "note")
    assert scalar["value"] == "h\u00e9llo"
    assert scalar["encoding"] == "utf-8"
    assert as_json("ns", "get", url, HOSTILE_NS, "views")["value"] == "3"
    binary = as_json("ns", "get", url, HOSTILE_NS, "blob")
    assert binary["encoding"] == "base64"
    raw = CliRunner().invoke(cli, ["ns", "get", url, HOSTILE_NS, "blob", "--raw"])
    assert raw.stdout_bytes == b"\xff\x00binary"
    hashed = as_json("ns", "get", url, HOSTILE_NS, "basket")
    assert hashed["kind"] == "hash"
    assert hashed["fields"] == {"sku-1": "2", "sku-*": "1"}
    assert "sku-*" in ok("ns", "get", url, HOSTILE_NS, "basket").stdout

    missing = invoke("ns", "get", url, HOSTILE_NS, "nope")
    assert missing.exit_code == 3
    assert "no slot 'nope'" in one_error_line(missing)

    # --prefix reads NAMESPACE as an id of a NamespacedStore with that prefix.
    assert as_json("ns", "get", url, "other", "keep", "--prefix", "app")["value"] == "me"

    declined = invoke("ns", "purge", url, HOSTILE_NS, input="n\n")
    assert declined.exit_code == 1
    assert len(as_json("ns", "slots", url, HOSTILE_NS)["slots"]) == 4
    confirmed = ok("ns", "purge", url, HOSTILE_NS, input="y\n")
    assert "purged 4 slot(s)" in confirmed.stdout
    assert as_json("ns", "slots", url, HOSTILE_NS)["slots"] == []
    assert as_json("ns", "purge", url, "app:other", "--yes") == {
        "namespace": "app:other",
        "purged": 1,
    }
    assert "has no live slots" in ok("ns", "slots", url, "app:other").stdout


def test_ns_list(url: str) -> None:
    with_store(url, _seed_slots)
    if not can_list_namespaces(url):
        result = invoke("ns", "list", url)
        assert result.exit_code == 1
        assert "cannot list namespaces" in one_error_line(result)
        return
    assert as_json("ns", "list", url) == sorted(["app:other", HOSTILE_NS])
    assert as_json("ns", "list", url, "--prefix", "app:*") == [HOSTILE_NS]
    assert as_json("ns", "list", url, "--prefix", "zzz") == []
    assert "2 namespace(s)" in ok("ns", "list", url).stdout


# -- sessions --------------------------------------------------------------------------

HOSTILE_SESSION = "s:*?[x]/../\x00\n\u00e9"


def _message(i: int, role: str = "user") -> str:
    return json.dumps({"role": role, "content": f"message {i} \u00e9\U0001f600"})


async def _seed_sessions(store: Any) -> None:
    await store.create_session("root", label="the root", metadata={"team": "blue"})
    await store.append_messages("root", [_message(i) for i in range(4)], expected_length=0)
    await store.fork_session("root", "child", at=2, label="a fork")
    await store.append_messages("child", [_message(10, "assistant")], expected_length=2)
    await store.fork_session("child", "grandchild", at=3)
    await store.create_session(HOSTILE_SESSION, label="hostile\nlabel")
    await store.append_messages(HOSTILE_SESSION, [_message(99)], expected_length=0)


def test_sessions_list_pages_and_json(url: str) -> None:
    with_store(url, _seed_sessions)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        args = ["sessions", "list", url, "--limit", "2"]
        if cursor:
            args += ["--cursor", cursor]
        page = as_json(*args)
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # Newest first: the last written session comes first.
    assert seen == [HOSTILE_SESSION, "grandchild", "child", "root"]
    everything = as_json("sessions", "list", url, "--limit", "1", "--all")
    assert [item["id"] for item in everything["items"]] == seen
    root = everything["items"][-1]
    assert root["metadata"] == {"team": "blue"}
    assert root["message_count"] == 4
    table = ok("sessions", "list", url, "--limit", "2").stdout
    assert "grandchild" in table
    assert "more: --cursor" in table
    assert (
        "no sessions"
        in ok("sessions", "list", make_store_url("memory", Path("."), shared=True)).stdout
    )


def test_sessions_show_with_fork_ancestry(url: str) -> None:
    with_store(url, _seed_sessions)
    shown = as_json("sessions", "show", url, "grandchild")
    assert shown["session"]["parent_id"] == "child"
    assert shown["session"]["fork_point"] == 3
    assert [(a["id"], a["fork_point"]) for a in shown["ancestry"]] == [
        ("child", 3),
        ("root", 2),
    ]
    assert [m["content"] for m in shown["messages"]] == [
        "message 0 \u00e9\U0001f600",
        "message 1 \u00e9\U0001f600",
        "message 10 \u00e9\U0001f600",
    ]
    text = ok("sessions", "show", url, "grandchild").stdout
    assert "forked from" in text
    assert "shared from root" in text
    assert "shared from child" in text
    last = as_json("sessions", "show", url, "root", "--last", "1")
    assert last["first_index"] == 3
    assert len(last["messages"]) == 1
    # Lineage survives the parent's deletion; the chain says so.
    ok("sessions", "delete", url, "child", "--yes")
    orphan = as_json("sessions", "show", url, "grandchild")
    assert orphan["ancestry"] == [{"id": "child", "label": None, "fork_point": 3, "exists": False}]
    assert len(orphan["messages"]) == 3
    assert "(deleted)" in ok("sessions", "show", url, "grandchild").stdout
    missing = invoke("sessions", "show", url, "nope")
    assert missing.exit_code == 3
    assert "no session 'nope'" in one_error_line(missing)


def test_sessions_export_import_roundtrip(url: str, tmp_path: Path) -> None:
    with_store(url, _seed_sessions)
    target = tmp_path / "child.jsonl"
    ok("sessions", "export", url, "child", "-o", str(target))
    lines = target.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert header["format"] == "unistore-session/1"
    assert header["id"] == "child"
    assert header["label"] == "a fork"
    assert header["fork_point"] == 2
    assert len(lines) == 1 + 3
    on_stdout = ok("sessions", "export", url, "child").stdout
    assert on_stdout.splitlines() == lines

    existing = invoke("sessions", "import", url, str(target))
    assert existing.exit_code == 1
    assert "already exists" in one_error_line(existing)
    imported = as_json("sessions", "import", url, str(target), "--id", HOSTILE_SESSION + "2")
    assert imported == {"id": HOSTILE_SESSION + "2", "messages": 3}

    async def read(store: Any) -> tuple[Any, list[str], list[str]]:
        record = await store.get_session(HOSTILE_SESSION + "2")
        return (
            record,
            await store.read_messages(HOSTILE_SESSION + "2"),
            await store.read_messages("child"),
        )

    record, copied, original = with_store(url, read)
    assert copied == original
    assert record.label == "a fork"
    assert record.parent_id is None

    hostile = tmp_path / "hostile.jsonl"
    ok("sessions", "export", url, HOSTILE_SESSION, "-o", str(hostile))
    ok("sessions", "delete", url, HOSTILE_SESSION, "--yes")
    ok("sessions", "import", url, "-", input=hostile.read_text(encoding="utf-8"))
    assert with_store(url, lambda s: s.get_session(HOSTILE_SESSION)).label == "hostile\nlabel"

    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n", encoding="utf-8")
    result = invoke("sessions", "import", url, str(bad))
    assert result.exit_code == 2
    assert "not a unistore session export" in one_error_line(result)


def test_sessions_rename_and_delete(url: str) -> None:
    with_store(url, _seed_sessions)
    ok("sessions", "rename", url, "root", "renamed \u00e9")
    assert with_store(url, lambda s: s.get_session("root")).label == "renamed \u00e9"
    missing = invoke("sessions", "rename", url, "nope", "x")
    assert missing.exit_code == 3

    declined = invoke("sessions", "delete", url, "root", input="n\n")
    assert declined.exit_code == 1
    assert with_store(url, lambda s: s.get_session("root")) is not None
    ok("sessions", "delete", url, "root", input="y\n")
    assert with_store(url, lambda s: s.get_session("root")) is None
    # The fork still reads what it read before its parent went.
    assert len(with_store(url, lambda s: s.read_messages("child"))) == 3
    gone = invoke("sessions", "delete", url, "root", "--yes")
    assert gone.exit_code == 3
    assert "no session 'root'" in one_error_line(gone)


# -- scoped sessions ---------------------------------------------------------------------

#: A scope a driver could mistake for a pattern, a path or a key separator.
SCOPE = "team/*:..%"
OTHER_SCOPE = "other \u00e9"
SCOPED_TTL = 3600.25


async def _seed_scoped(store: Any) -> None:
    # "root" exists in the default scope and in SCOPE as two different sessions.
    await store.create_session("root", label="default root")
    await store.append_messages("root", [_message(0)], expected_length=0)
    await store.create_session("root", scope=SCOPE, label="scoped root", ttl=SCOPED_TTL)
    await store.append_messages(
        "root", [_message(i) for i in range(3)], expected_length=0, scope=SCOPE
    )
    await store.fork_session("root", "child", at=2, scope=SCOPE, label="scoped fork")
    await store.append_messages(
        "child", [_message(20, "assistant")], expected_length=2, scope=SCOPE
    )
    await store.create_session(HOSTILE_SESSION, scope=SCOPE, metadata={"k": "v"}, ttl=60.5)


def _ids(page: Any) -> list[str]:
    return [item["id"] for item in page["items"]]


def test_sessions_list_shows_one_scope(url: str) -> None:
    with_store(url, _seed_scoped)
    scoped = as_json("sessions", "list", url, "--scope", SCOPE)
    assert _ids(scoped) == [HOSTILE_SESSION, "child", "root"]
    by_id = {item["id"]: item for item in scoped["items"]}
    assert {item["scope"] for item in scoped["items"]} == {SCOPE}
    assert by_id["root"]["label"] == "scoped root"
    assert by_id["root"]["message_count"] == 3
    assert by_id["root"]["ttl"] == SCOPED_TTL
    assert by_id["root"]["expires_at"] is not None
    assert by_id[HOSTILE_SESSION]["ttl"] == 60.5
    # A fork gets only the ttl given to it: none here.
    assert (by_id["child"]["ttl"], by_id["child"]["expires_at"]) == (None, None)
    assert by_id["child"]["parent_id"] == "root"
    paged = as_json("sessions", "list", url, "--scope", SCOPE, "--limit", "1", "--all")
    assert _ids(paged) == _ids(scoped)
    assert "scoped root" in ok("sessions", "list", url, "--scope", SCOPE).stdout

    # The default scope shows none of it, and another scope is empty.
    default = as_json("sessions", "list", url)
    assert _ids(default) == ["root"]
    assert default["items"][0]["label"] == "default root"
    assert default["items"][0]["scope"] is None
    assert (default["items"][0]["ttl"], default["items"][0]["expires_at"]) == (None, None)
    assert as_json("sessions", "list", url, "--scope", OTHER_SCOPE)["items"] == []
    assert "no sessions" in ok("sessions", "list", url, "--scope", "team/*").stdout


def test_sessions_of_a_scope_are_not_found_without_it(url: str) -> None:
    with_store(url, _seed_scoped)
    for session_id in ("child", HOSTILE_SESSION):
        for args in (
            ("show", url, session_id),
            ("show", url, session_id, "--scope", OTHER_SCOPE),
            ("export", url, session_id),
            ("rename", url, session_id, "x"),
            ("delete", url, session_id, "--yes"),
            ("delete", url, session_id),  # looked up before asking: nothing to confirm
        ):
            missing = invoke("sessions", *args, input="y\n")
            assert missing.exit_code == 3, (args, missing.output)
            assert one_error_line(missing).startswith("error: no session "), args

    shown = as_json("sessions", "show", url, "child", "--scope", SCOPE)
    assert shown["session"]["scope"] == SCOPE
    assert shown["session"]["ttl"] is None
    # The ancestry is looked up in the fork's scope, not in the default one.
    assert shown["ancestry"] == [
        {"id": "root", "label": "scoped root", "fork_point": 2, "exists": True}
    ]
    assert len(shown["messages"]) == 3
    root = as_json("sessions", "show", url, "root", "--scope", SCOPE)
    assert root["session"]["ttl"] == SCOPED_TTL
    assert root["session"]["label"] == "scoped root"
    assert "shared from root" in ok("sessions", "show", url, "child", "--scope", SCOPE).stdout

    # rename and delete reach the scoped session only; the default "root" is untouched.
    ok("sessions", "rename", url, "root", "renamed", "--scope", SCOPE)
    assert with_store(url, lambda s: s.get_session("root", scope=SCOPE)).label == "renamed"
    assert with_store(url, lambda s: s.get_session("root")).label == "default root"
    ok("sessions", "delete", url, "root", "--scope", SCOPE, input="y\n")
    assert with_store(url, lambda s: s.get_session("root", scope=SCOPE)) is None
    assert with_store(url, lambda s: s.get_session("root")).label == "default root"
    # The default scope's "root" does not stand in for the deleted parent.
    orphan = as_json("sessions", "show", url, "child", "--scope", SCOPE)
    assert orphan["ancestry"] == [{"id": "root", "label": None, "fork_point": 2, "exists": False}]
    assert len(orphan["messages"]) == 3
    gone = invoke("sessions", "delete", url, "root", "--scope", SCOPE, "--yes")
    assert gone.exit_code == 3
    assert "no session 'root'" in one_error_line(gone)

    empty = invoke("sessions", "show", url, "root", "--scope", "")
    assert empty.exit_code == 1
    assert "scope must not be empty" in one_error_line(empty)


def test_sessions_export_import_keeps_or_overrides_the_scope(url: str, tmp_path: Path) -> None:
    with_store(url, _seed_scoped)
    exported = tmp_path / "root.jsonl"
    ok("sessions", "export", url, "root", "--scope", SCOPE, "-o", str(exported))
    lines = exported.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert (header["id"], header["scope"], header["ttl"]) == ("root", SCOPE, SCOPED_TTL)
    assert header["expires_at"] is not None
    assert len(lines) == 1 + 3

    # Into another store: the session lands in the exported scope, with its ttl.
    other = make_store_url("sqlite", tmp_path, "other")
    assert as_json("sessions", "import", other, str(exported)) == {"id": "root", "messages": 3}

    async def read(store: Any, scope: str | None) -> tuple[Any, list[str]]:
        return (
            await store.get_session("root", scope=scope),
            await store.read_messages("root", scope=scope),
        )

    async def read_exported(store: Any) -> tuple[Any, list[str]]:
        return await read(store, SCOPE)

    record, messages = with_store(other, read_exported)
    _, original = with_store(url, read_exported)
    assert messages == original
    assert (record.scope, record.ttl, record.label) == (SCOPE, SCOPED_TTL, "scoped root")
    assert record.expires_at is not None
    assert with_store(other, lambda s: s.get_session("root")) is None
    listed = as_json("sessions", "list", other, "--scope", SCOPE)["items"]
    assert [(item["id"], item["scope"], item["ttl"]) for item in listed] == [
        ("root", SCOPE, SCOPED_TTL)
    ]

    # Into the same store: the id is taken in the exported scope only.
    taken = invoke("sessions", "import", url, str(exported))
    assert taken.exit_code == 1
    assert "already exists" in one_error_line(taken)
    ok("sessions", "import", url, str(exported), "--scope", OTHER_SCOPE)

    async def read_other(store: Any) -> tuple[Any, list[str]]:
        return await read(store, OTHER_SCOPE)

    moved, moved_messages = with_store(url, read_other)
    assert moved_messages == original
    assert (moved.scope, moved.ttl) == (OTHER_SCOPE, SCOPED_TTL)
    assert with_store(url, lambda s: s.get_session("root")).label == "default root"

    # Deleted and imported again from stdin, it comes back into the exported scope.
    ok("sessions", "delete", url, "root", "--scope", SCOPE, "--yes")
    ok("sessions", "import", url, "-", input=exported.read_text(encoding="utf-8"))
    back = with_store(url, lambda s: s.get_session("root", scope=SCOPE))
    assert (back.label, back.ttl, back.message_count) == ("scoped root", SCOPED_TTL, 3)

    # A default-scope export imports into the scope given.
    plain = ok("sessions", "export", url, "root").stdout
    assert json.loads(plain.splitlines()[0])["scope"] is None
    ok("sessions", "import", url, "-", "--scope", OTHER_SCOPE, "--id", "from-default", input=plain)
    imported = with_store(url, lambda s: s.get_session("from-default", scope=OTHER_SCOPE))
    assert (imported.label, imported.ttl, imported.expires_at) == ("default root", None, None)
    destroy_url(other)


def test_sessions_import_of_an_export_without_scope_or_ttl(url: str, tmp_path: Path) -> None:
    # The header written before sessions had scopes and retention.
    old = {
        "format": "unistore-session/1",
        "id": "old",
        "label": "from before",
        "parent_id": None,
        "fork_point": None,
        "metadata": {"v": 1},
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:00+00:00",
        "message_count": 1,
    }
    body = json.dumps(old) + "\n" + _message(1) + "\n"
    ok("sessions", "import", url, "-", input=body)
    record = with_store(url, lambda s: s.get_session("old"))
    assert (record.scope, record.ttl, record.label) == (None, None, "from before")
    ok("sessions", "import", url, "-", "--scope", SCOPE, input=body)
    assert with_store(url, lambda s: s.get_session("old", scope=SCOPE)).metadata == {"v": 1}

    for field, value, complaint in (
        ("scope", 7, "the export: a scope must be a str"),
        ("scope", "", "the export: a scope must not be empty"),
        ("ttl", "soon", "the export: ttl must be a positive finite number"),
        ("ttl", True, "the export: ttl must be a positive finite number"),
        ("ttl", 0, "the export: ttl must be a positive finite number"),
        ("ttl", 1e12, "the export: a session ttl must be at most"),
    ):
        bad = json.dumps({**old, "id": "bad", field: value}) + "\n"
        result = invoke("sessions", "import", url, "-", input=bad)
        assert result.exit_code == 2, (field, value)
        assert complaint in one_error_line(result)
    assert with_store(url, lambda s: s.get_session("bad")) is None
