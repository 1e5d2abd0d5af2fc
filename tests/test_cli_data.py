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
