"""Commands that only read never create a store: a missing one is "not found" (status 3).

Each case points a command at a store that does not exist (a SQLite file, a
folder, PostgreSQL tables under a fresh prefix) and checks the one error line,
the exit status and that nothing exists afterwards. Commands that write into an
existing store (purge, delete, rename) do not create one either.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_cli_open_mode import created
from unistore_test_support import (
    destroy_url,
    invoke,
    make_store_url,
    ok,
    one_error_line,
    with_store,
)
from unistore_test_support import driver_params as _driver_params

#: Drivers whose stores can be missing (memory and Redis have nothing to create).
MISSABLE = [p for p in _driver_params() if p.values[0] in ("sqlite", "file", "postgresql")]

READ_ONLY = [
    ("info", "{url}"),
    ("info", "{url}", "--json"),
    ("check", "{url}", "--suite", "kv"),
    ("ns", "list", "{url}"),
    ("ns", "slots", "{url}", "demo:shop"),
    ("ns", "get", "{url}", "demo:shop", "basket"),
    ("ns", "purge", "{url}", "demo:shop", "--yes"),
    ("sessions", "list", "{url}"),
    ("sessions", "show", "{url}", "some-id"),
    ("sessions", "export", "{url}", "some-id"),
    ("sessions", "delete", "{url}", "some-id", "--yes"),
    ("sessions", "rename", "{url}", "some-id", "new label"),
    ("copy", "{url}", "memory://copy-target"),
]


@pytest.fixture(params=MISSABLE)
def missing(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    driver: str = request.param
    url = make_store_url(driver, tmp_path)
    yield driver, url
    if driver == "postgresql":
        destroy_url(url)  # only if a failure created tables


def _name(command: tuple[str, ...]) -> str:
    return " ".join(part for part in command if part != "{url}")


@pytest.mark.parametrize("command", READ_ONLY, ids=_name)
def test_a_command_on_a_missing_store_fails_with_3_and_creates_nothing(
    missing: tuple[str, str], command: tuple[str, ...], tmp_path: Path
) -> None:
    driver, url = missing
    result = invoke(*(part.format(url=url) for part in command))
    assert result.exit_code == 3, result.output
    line = one_error_line(result)
    assert "nothing was created" in line
    assert created(driver, url, tmp_path) == []


def test_copy_from_a_missing_source_creates_neither_store(tmp_path: Path) -> None:
    src = f"file://{tmp_path / 'nonexistent' / 'dir'}"
    dst = f"sqlite:///{tmp_path / 'backup.db'}"
    result = invoke("copy", src, dst)
    assert result.exit_code == 3
    assert "no folder" in one_error_line(result)
    assert list(tmp_path.iterdir()) == []


def test_copy_creates_its_destination(tmp_path: Path) -> None:
    src = f"file://{tmp_path / 'data'}"
    ok("demo", "--url", src)
    ok("copy", src, f"sqlite:///{tmp_path / 'backup.db'}")
    assert (tmp_path / "backup.db").is_file()


def test_check_creates_the_store_only_when_told(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'checked.db'}"
    refused = invoke("check", url, "--suite", "kv")
    assert refused.exit_code == 3
    assert "pass --create" in one_error_line(refused)
    assert list(tmp_path.iterdir()) == []
    ok("check", url, "--suite", "kv", "--create")
    assert (tmp_path / "checked.db").is_file()


def test_import_creates_the_store_it_imports_into(tmp_path: Path) -> None:
    export = tmp_path / "one.jsonl"
    export.write_text(
        '{"format":"unistore-session/1","id":"s1","label":null,"metadata":{}}\n'
        '{"role":"user","content":"hi"}\n',
        encoding="utf-8",
    )
    url = f"file://{tmp_path / 'fresh'}"
    ok("sessions", "import", url, str(export))
    assert ok("sessions", "show", url, "s1", "--json").stdout.count('"hi"') == 1


def test_a_driver_without_the_open_mode_is_not_opened_by_read_only_commands() -> None:
    import unistore
    from unistore._memory import MemoryStore

    unistore.register("unaware", lambda url, options: MemoryStore(url))
    try:
        for args in (("info", "unaware://"), ("sessions", "list", "unaware://")):
            result = invoke(*args)
            assert result.exit_code == 1
            assert "does not declare the 'create' option" in one_error_line(result)
        # What is known without opening it is still shown.
        assert '"driver": "unaware"' in invoke("info", "unaware://", "--json").stdout
        refused = invoke("check", "unaware://", "--suite", "kv")
        assert "pass --create" in one_error_line(refused)
    finally:
        unistore.unregister("unaware")


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize("driver", ["file", "sqlite"])
def test_reading_an_existing_store_changes_no_file(driver: str, tmp_path: Path) -> None:
    url = make_store_url(driver, tmp_path)

    async def seed(store: Any) -> None:
        await store.hset("shop:1", "basket", {"tile": b"1"}, ttl=600)
        await store.set("shop:1", "note", b"hi", ttl=600)
        await store.create_session("s1")
        await store.append_messages("s1", ['{"role": "user", "content": "hi"}'])
        await store.fork_session("s1", "s2", at=1)

    with_store(url, seed)
    before = _tree(tmp_path)
    for args in (
        ("info", url),
        ("ns", "list", url),
        ("ns", "slots", url, "shop:1"),
        ("ns", "get", url, "shop:1", "basket"),
        ("ns", "get", url, "shop:1", "note"),
        ("ns", "slots", url, "no-such-namespace"),
        ("sessions", "list", url),
        ("sessions", "show", url, "s2"),
        ("sessions", "export", url, "s2"),
        ("sessions", "list", url, "--scope", "no-such-scope"),
        ("copy", url, "memory://"),
    ):
        ok(*args)
    after = _tree(tmp_path)
    if driver == "sqlite":
        # SQLite's -wal and -shm files come and go with the connections.
        before = {name: size for name, (size, _) in before.items() if "-" not in name}
        after = {name: size for name, (size, _) in after.items() if "-" not in name}
    assert after == before
