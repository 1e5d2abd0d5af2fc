"""The ``unistore`` command: every command on every shipped driver, through click's runner.

Each ``unistore`` invocation opens a new store, so memory stores here are named
(``memory://NAME``) to share data between invocations of one test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import unistore
from unistore import StoreURL
from unistore._cli._app import cli
from unistore.sdk import CREATE_OPTION
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


# -- demo and info ---------------------------------------------------------------------


def test_demo_runs_the_whole_tour(url: str) -> None:
    out = ok("demo", "--url", url).stdout
    assert "auto-label from the first user message" in out
    assert "Three days in Lisbon in May" in out
    assert "forked" in out
    assert "child session" in out
    assert "committed on try 2" in out  # the contended CAS retried
    assert "touch() gave all 5 slots" in out
    # A second run uses fresh ids and a fresh namespace: it does not trip over the first.
    again = ok("demo", "--url", url).stdout
    assert "committed on try 2" in again
    page = as_json("sessions", "list", url, "--limit", "50")
    assert len(page["items"]) == 6
    assert {item["parent_id"] is None for item in page["items"]} == {True, False}


def _seed(url: str) -> None:
    """Create the store of ``url`` (read-only commands never do) with one slot in it."""

    async def write(store: Any) -> None:
        await store.set("seed", "slot", b"1", ttl=600)

    with_store(url, write)


def test_info_reports_driver_capabilities_and_reachability(url: str) -> None:
    _seed(url)
    data = as_json("info", url)
    scheme = StoreURL.parse(url).scheme
    assert data["driver"] == {"postgresql": "sql", "sqlite": "sql"}.get(scheme, scheme)
    assert data["version"]
    assert data["reachable"] is True
    assert data["exists"] is True
    assert "session_documents" in data["capabilities"]
    assert data["url"] == str(StoreURL.parse(url))
    text = ok("info", url).stdout
    assert "reachable" in text
    assert "yes" in text


def test_info_redacts_the_password() -> None:
    result = invoke("info", "--json", "redis://user:hunter2@127.0.0.1:1/0?socket_connect_timeout=1")
    assert result.exit_code == 4
    assert "hunter2" not in result.output
    assert json.loads(result.stdout)["url"].startswith("redis://user:***@")


# -- check -----------------------------------------------------------------------------


def test_check_summarises_per_suite(url: str) -> None:
    # The whole suite runs in each driver's own tests; one small suite keeps this quick.
    # The store is new: --create lets check make it.
    report = as_json("check", url, "--suite", "hash", "--create")
    assert set(report["suites"]) == {"Hash"}
    assert report["failed"] == 0
    assert report["passed"] == report["suites"]["Hash"]["passed"] > 5


def test_check_prints_a_table() -> None:
    text = ok("check", "memory://", "--suite", "kv", "--suite", "Counter").stdout
    assert "all conformance tests passed" in text
    assert "KeyValue" in text
    assert "Counter" in text
    assert "total" in text


class _ForgetfulStore:
    """A memory store whose deletes report success but delete nothing."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def __aenter__(self) -> _ForgetfulStore:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._inner.__aexit__(*exc)

    async def delete(self, ns: str, slot: str) -> bool:
        return await self._inner.get(ns, slot) is not None


@pytest.fixture
def forgetful() -> Iterator[str]:
    from unistore._memory import MemoryStore

    def factory(parsed: StoreURL, options: Any) -> Any:
        return _ForgetfulStore(MemoryStore(StoreURL.parse("memory://")))

    unistore.register("forgetful", factory, options=(CREATE_OPTION,))
    yield "forgetful://"
    unistore.unregister("forgetful")


def test_check_fails_with_the_failing_tests(forgetful: str) -> None:
    result = invoke("check", forgetful, "--suite", "kv")
    assert result.exit_code == 1
    assert "FAILED KeyValue: test_delete" in result.stdout
    report = json.loads(invoke("check", forgetful, "--suite", "kv", "--json").stdout)
    assert report["failed"] >= 1
    assert report["suites"]["KeyValue"]["failed"] >= 1
    assert all(f["suite"] == "KeyValue" for f in report["failures"])


def test_check_rejects_an_unknown_suite() -> None:
    result = invoke("check", "memory://", "--suite", "nope")
    assert result.exit_code == 2
    assert "unknown suite 'nope'" in result.stderr


# -- errors and exit codes -------------------------------------------------------------

COMMANDS = [
    ("info", "{url}"),
    ("check", "{url}"),
    ("demo", "--url", "{url}"),
    ("ns", "slots", "{url}", "ns"),
    ("ns", "list", "{url}"),
    ("sessions", "list", "{url}"),
    ("sessions", "show", "{url}", "id"),
    ("copy", "{url}", "memory://elsewhere"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize(
    ("bad_url", "expected"),
    [
        ("nourl", "has no scheme"),
        ("redis://host:port/0", "invalid port"),
        ("nosuch://x", "no unistore driver for 'nosuch'"),
        ("redis://127.0.0.1/0?bogus=1", "unknown option 'bogus'"),
    ],
)
def test_bad_urls_give_one_line_and_exit_2(
    command: tuple[str, ...], bad_url: str, expected: str
) -> None:
    result = invoke(*(part.format(url=bad_url) for part in command))
    assert result.exit_code == 2
    assert expected in one_error_line(result)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize(
    "dead_url",
    [
        "redis://127.0.0.1:1/0?socket_connect_timeout=1&retries=0",
        "postgresql://postgres@127.0.0.1:1/test?connect_timeout=1",
    ],
    ids=["redis", "postgresql"],
)
def test_unreachable_servers_give_one_line_and_exit_4(
    command: tuple[str, ...], dead_url: str
) -> None:
    result = invoke(*(part.format(url=dead_url) for part in command))
    assert result.exit_code == 4, result.output
    line = one_error_line(result)
    assert "127.0.0.1:1" in line


def test_debug_shows_the_traceback_and_keeps_the_exit_status() -> None:
    result = CliRunner().invoke(cli, ["--debug", "info", "nosuch://x"])
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "UnknownSchemeError" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("error: no unistore driver")


def test_unexpected_errors_are_one_line_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from unistore._cli import _info

    async def boom(url: str) -> Any:
        raise RuntimeError("kaput\nsecond line")

    monkeypatch.setattr(_info, "_gather", boom)
    result = invoke("info", "memory://")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "unexpected RuntimeError: kaput second line" in line
    assert "--debug" in line


def test_usage_errors_exit_2() -> None:
    assert invoke("sessions", "list").exit_code == 2
    assert invoke("nosuchcommand").exit_code == 2
    assert invoke("sessions", "list", "memory://", "--limit", "0").exit_code == 2
    assert (
        invoke("copy", "memory://a", "memory://b", "--no-namespaces", "--no-sessions").exit_code
        == 2
    )


def test_help_documents_exit_codes_and_the_demo_default() -> None:
    assert "Exit status: 0 ok" in ok("--help").stdout
    assert "file:unistore-data" in ok("demo", "--help").stdout
    assert "unistore" in ok("--version").stdout


# -- import hygiene and the console script ------------------------------------------------


def _python(code: str, cwd: Path | None = None) -> str:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=cwd
    )
    return out.stdout.strip()


def test_import_unistore_does_not_import_click_or_rich() -> None:
    code = (
        "import sys, unistore\n"
        "unistore.copy_store\n"
        "print(','.join(m for m in ('click', 'rich') if m in sys.modules))\n"
    )
    assert _python(code) == ""


def test_main_without_click_says_what_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['click'] = None\n"
        "from unistore._cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit as exc:\n"
        "    print(exc.code)\n"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "1"
    assert 'pip install "unistore[cli]"' in out.stderr


def test_the_default_demo_runs_on_files_in_the_current_folder(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = "from unistore._cli import main; main(['demo'])"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "unistore demo on file:unistore-data (file driver)" in out.stdout
    assert (tmp_path / "unistore-data").is_dir()
    assert "Traceback" not in out.stderr
