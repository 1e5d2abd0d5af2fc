"""A folder written before scopes, retention and tokens existed loads as it is."""

from __future__ import annotations

import json
from pathlib import Path

import unistore
from unistore_fs import FileStore

CREATED_US = 1_767_225_600_000_000  # 2026-01-01


def _meta(session_id: str, **fields: object) -> bytes:
    # Exactly the keys (and order) the earlier format wrote.
    doc: dict[str, object] = {
        "format": 1,
        "id": session_id,
        "label": None,
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:00+00:00",
        "count": 0,
        "parent_id": None,
        "fork_point": None,
        "metadata": {},
        "created_us": CREATED_US,
        "updated_us": CREATED_US,
        "base": None,
        "base_point": 0,
        "log": "messages.jsonl",
        "log_gen": 0,
        "log_size": 0,
        "forks": [],
    }
    doc.update(fields)
    return json.dumps(doc, ensure_ascii=True).encode("ascii") + b"\n"


def _write_old_root(root: Path) -> None:
    root.mkdir()
    (root / "VERSION").write_text("unistore-fs layout 1\n")
    ns = root / "ns" / "app%3a1"
    ns.mkdir(parents=True)
    (ns / ".lock").touch()
    slot: dict[str, object] = {"ns": "app:1", "slot": "greeting", "kind": "scalar"}
    slot |= {"version": "00ff00ff00ff00ff", "expires_at": 4_102_444_800.0, "value": "aGk="}
    (ns / "greeting.json").write_text(json.dumps(slot) + "\n")
    chat = root / "sessions" / "+chat"
    chat.mkdir(parents=True)
    log = b'"a"\n"b"\n"c"\n'
    (chat / "messages.jsonl").write_bytes(log)
    (chat / ".lock").touch()
    (chat / "meta.json").write_bytes(
        _meta("Chat", label="old", count=3, log_size=len(log), forks=["fork"])
    )
    fork = root / "sessions" / "fork"
    fork.mkdir()
    (fork / ".lock").touch()
    (fork / "messages.jsonl").write_bytes(b'"x"\n')
    (fork / "meta.json").write_bytes(
        _meta(
            "fork",
            created_us=CREATED_US + 1,
            updated_us=CREATED_US + 1,
            parent_id="Chat",
            fork_point=2,
            count=3,
            base="Chat",
            base_point=2,
            log_size=4,
        )
    )
    index = root / "session-index"
    index.mkdir()
    lines = [{"t": CREATED_US, "id": "Chat"}, {"t": CREATED_US + 1, "id": "fork"}]
    (index / "updates.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


async def test_an_old_root_reads_and_writes_in_the_default_scope(tmp_path: Path) -> None:
    root = tmp_path / "store"
    _write_old_root(root)
    async with unistore.connect(f"file://{root}") as store:
        assert isinstance(store, FileStore)
        assert await store.get("app:1", "greeting") == b"hi"
        assert await store.slots("app:1") == ["greeting"]
        assert await store.read_messages("Chat") == ['"a"', '"b"', '"c"']
        assert await store.read_messages("fork") == ['"a"', '"b"', '"x"']
        record = await store.get_session("Chat")
        assert record is not None
        assert (record.label, record.message_count) == ("old", 3)
        assert (record.scope, record.ttl, record.expires_at) == (None, None, None)
        page = await store.list_sessions()
        assert [r.id for r in page.items] == ["fork", "Chat"]
        assert [scope async for scope in store.iter_scopes()] == [None]
        # Writes keep the same files: the default scope's layout did not move.
        assert await store.append_messages("Chat", ['"d"']) == 4
        assert await store.pop_messages("fork") == ['"x"']
        await store.replace_messages("Chat", 1, ['"B"'], expected_length=4)
        assert await store.read_messages("fork") == ['"a"', '"b"']
        assert await store.read_messages("Chat") == ['"a"', '"B"']
        await store.set("app:1", "greeting", b"hello", ttl=None)
    assert (root / "sessions" / "+chat" / "meta.json").is_file()
    assert json.loads((root / "sessions" / "+chat" / "meta.json").read_text())["count"] == 2
    assert (root / "VERSION").read_text() == "unistore-fs layout 1\n"
    async with unistore.connect(f"file://{root}") as store:
        assert await store.get("app:1", "greeting") == b"hello"
        assert await store.read_messages("fork") == ['"a"', '"b"']
