"""The error line: secrets of the command line's URLs hidden exactly, and ``--debug``
keeping every documented exit status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import unistore
from unistore import StoreURL
from unistore._cli._app import _scrub, cli
from unistore.sdk import CREATE_OPTION
from unistore_test_support import invoke, one_error_line, with_store


def test_a_quoted_url_becomes_its_redacted_rendering() -> None:
    raw = "postgresql://app:s@127.0.0.1:1/db"
    message = f"postgresql store: cannot reach {raw} (Name or service not known)"
    assert _scrub(message, ["info", raw]) == (
        "postgresql store: cannot reach postgresql://app:***@127.0.0.1:1/db "
        "(Name or service not known)"
    )


def test_a_secret_quoted_alone_is_hidden_as_a_whole_word_only() -> None:
    args = ["info", "redis://user:s@127.0.0.1:1/0?token=t0k"]
    message = "sessions store: password s rejected, token=t0k; t0kens unaffected"
    assert (
        _scrub(message, args)
        == "sessions store: password *** rejected, token=***; t0kens unaffected"
    )


def test_encoded_forms_of_a_password_are_hidden() -> None:
    raw = "redis://user:p%40ss%2fword@127.0.0.1:1/0"
    for shown in ("p@ss/word", "p%40ss%2Fword", "p%40ss%2fword"):
        assert _scrub(f"auth failed for {shown}.", ["info", raw]) == "auth failed for ***."
    assert _scrub(f"cannot use {raw}", [raw]) == f"cannot use {StoreURL.parse(raw)}"


def test_a_url_given_as_an_option_value_is_found() -> None:
    message = "cannot reach redis://u:hunter2@127.0.0.1:1/0 (password hunter2)"
    assert _scrub(message, ["demo", "--url=redis://u:hunter2@127.0.0.1:1/0"]) == (
        "cannot reach redis://u:***@127.0.0.1:1/0 (password ***)"
    )


def test_arguments_without_secrets_change_nothing() -> None:
    message = "sqlite store sqlite:///s.db: no slot 's' in namespace 'shop:s'"
    assert _scrub(message, ["ns", "get", "sqlite:///s.db", "shop:s", "s"]) == message


def test_the_brief_example_is_not_garbled() -> None:
    url = "postgresql://app:s@cret/ive@127.0.0.1:1/db?connect_timeout=1"
    result = invoke("info", url)
    assert result.exit_code == 4
    line = one_error_line(result)
    assert line.startswith("error: postgresql store postgresql://")
    assert "***tgre" not in line
    assert "databa***e" not in line
    password = StoreURL.parse(url).password
    assert password
    assert password not in line


class _Chatty:
    """A third-party store whose client quotes the URL and the password in its errors."""

    def __init__(self, url: StoreURL) -> None:
        self.url = url
        self.capabilities = frozenset({unistore.Capability.KEY_VALUE})

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def get(self, ns: str, slot: str) -> bytes | None:
        raw = self.url.render(hide_secrets=False)
        raise RuntimeError(f"session store unavailable: {raw} refused password {self.url.password}")


@pytest.fixture
def chatty() -> Iterator[str]:
    unistore.register("chatty", lambda url, options: _Chatty(url), options=(CREATE_OPTION,))
    yield "chatty://admin:s@127.0.0.1:1/db"
    unistore.unregister("chatty")


@pytest.mark.parametrize("debug", [False, True])
def test_a_driver_message_is_scrubbed_exactly(chatty: str, debug: bool) -> None:
    result = CliRunner().invoke(cli, [*(["--debug"] if debug else []), "ns", "list", chatty])
    assert result.exit_code == 1
    last = result.stderr.rstrip().splitlines()[-1]
    assert last == (
        "error: unexpected RuntimeError: session store unavailable: "
        "chatty://admin:***@127.0.0.1:1/db refused password ***"
        + ("" if debug else " (run with --debug for the traceback)")
    )
    # The traceback under --debug is scrubbed too.
    assert ":s@" not in result.stderr
    assert "password s" not in result.stderr


# -- --debug keeps the exit status of every path --------------------------------------------


def _cases(tmp_path: Path) -> list[tuple[list[str], int]]:
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    seeded = f"sqlite:///{tmp_path / 'seeded.db'}"

    async def seed(store: Any) -> None:
        await store.create_session("s1")

    with_store(seeded, seed)
    export = tmp_path / "s1.jsonl"
    export.write_text('{"format": "unistore-session/1", "id": "s1"}\n', encoding="utf-8")
    return [
        (["info", "nourl"], 2),
        (["info", "nosuch://x"], 2),
        (["ns", "list", "redis://127.0.0.1/0?bogus=1"], 2),
        (["sessions", "list", "memory://", "--limit", "0"], 2),
        (["info", missing], 3),
        (["sessions", "list", missing], 3),
        (["sessions", "show", "memory://", "nope"], 3),
        (["ns", "get", "memory://", "ns", "nope"], 3),
        (["info", "redis://127.0.0.1:1/0?socket_connect_timeout=1&retries=0"], 4),
        (["copy", "redis://127.0.0.1:1/0?socket_connect_timeout=1&retries=0", "memory://"], 4),
        (["sessions", "import", seeded, str(export)], 1),  # the id is taken
        (["sessions", "import", "memory://", str(tmp_path / "none.jsonl")], 2),
    ]


def test_debug_keeps_every_documented_exit_status(tmp_path: Path) -> None:
    runner = CliRunner()
    for args, status in _cases(tmp_path):
        plain = runner.invoke(cli, args)
        debug = runner.invoke(cli, ["--debug", *args])
        assert (plain.exit_code, debug.exit_code) == (status, status), (args, debug.output)
        assert "Traceback" not in plain.stderr
    assert not (tmp_path / "missing.db").exists()


def test_debug_shows_the_traceback_then_the_error_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--debug", "info", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 3
    assert "Traceback (most recent call last)" in result.stderr
    assert "StoreNotFoundError" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("error: sqlite store")


def test_debug_keeps_the_status_of_an_unexpected_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from unistore._cli import _info

    async def boom(url: str) -> Any:
        raise RuntimeError("kaput")

    monkeypatch.setattr(_info, "_gather", boom)
    result = CliRunner().invoke(cli, ["--debug", "info", "memory://"])
    assert result.exit_code == 1
    assert "Traceback" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == "error: unexpected RuntimeError: kaput"
