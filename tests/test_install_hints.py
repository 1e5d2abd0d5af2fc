"""Installing from a checkout: the hints name both ways, the demo's commands work as printed.

The drivers are distributions of their own under ``drivers/`` that no index
has yet, so every hint that says ``pip install unistore-…`` also names the
checkout's way (the driver folder, or the wheels of ``./dev wheels``).
"""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import unistore
from unistore import ConfigurationError, UnknownSchemeError, _registry
from unistore._known import KNOWN_SCHEMES
from unistore_test_support import invoke, ok

ROOT = Path(__file__).resolve().parents[1]


def _project(folder: Path) -> dict[str, object]:
    with (folder / "pyproject.toml").open("rb") as file:
        project: dict[str, object] = tomllib.load(file)["project"]
    return project


@pytest.mark.parametrize(
    "scheme",
    sorted(
        s
        for s, row in KNOWN_SCHEMES.items()
        if row.alias_of is None and row.distribution != "unistore"
    ),
)
def test_a_missing_driver_names_the_index_and_the_checkout(
    monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    # A registry that sees no installed driver, as in an environment without it.
    monkeypatch.setattr(_registry, "entry_points", lambda **kw: [])
    with pytest.raises(UnknownSchemeError) as info:
        _registry._Registry().get(scheme)
    package = KNOWN_SCHEMES[scheme].distribution
    message = str(info.value)
    assert f"pip install {package} " in message
    assert f"pip install --find-links dist {package}" in message
    (folder,) = (word for word in message.split() if word.startswith("./drivers/"))
    folder = folder.rstrip(",")
    # The folder the hint names is the distribution's, as `pip install FOLDER` needs.
    assert _project(ROOT / folder)["name"] == package


def test_the_extras_name_the_driver_distributions() -> None:
    # `pip install --find-links dist "unistore[sql,redis,fs]"` resolves each extra
    # to a wheel of ./dev wheels: they must name the drivers' distributions.
    extras = _project(ROOT)["optional-dependencies"]
    assert isinstance(extras, dict)
    for extra in ("sql", "redis", "fs"):
        (requirement,) = extras[extra]
        assert requirement == _project(ROOT / "drivers" / extra)["name"]
        assert "unistore" in _project(ROOT / "drivers" / extra)["dependencies"]  # type: ignore[operator]


def test_the_cli_without_click_names_the_index_and_the_checkout() -> None:
    code = (
        "import sys\n"
        "sys.modules['click'] = None\n"
        "from unistore._cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit as exc:\n"
        "    print(exc.code)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "1"
    assert 'pip install "unistore[cli]"' in out.stderr
    assert 'from a checkout of unistore: pip install ".[cli]"' in out.stderr


@pytest.mark.parametrize(
    ("url", "missing", "extra"),
    [
        ("postgresql+psycopg://app:S3cret@127.0.0.1/db", "psycopg", "[psycopg]"),
        ("postgresql://app:S3cret@127.0.0.1/db", "asyncpg", ""),
    ],
)
def test_a_missing_database_client_names_the_index_and_the_checkout(
    monkeypatch: pytest.MonkeyPatch, url: str, missing: str, extra: str
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == missing else real(name, *a)
    )
    with pytest.raises(ConfigurationError) as info:
        unistore.connect(url)
    message = str(info.value)
    assert f"pip install 'unistore-sql{extra}'" in message
    assert f"pip install './drivers/sql{extra}'" in message
    assert "S3cret" not in message


def _printed_commands(out: str, prog: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.startswith(f"  {prog} ")]


def test_the_demo_prints_commands_that_work_as_printed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("UNISTORE_DEMO_COMMAND", raising=False)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    commands = _printed_commands(ok("demo", "--url", url).stdout, "unistore")
    assert [shlex.split(c)[1:3] for c in commands] == [
        ["sessions", "list"],
        ["sessions", "show"],
        ["ns", "slots"],
        ["info", url],
    ]
    for command in commands:
        result = invoke(*shlex.split(command)[1:])
        assert result.exit_code == 0, (command, result.stderr)
        assert result.stdout.strip(), command


def test_the_demo_of_a_clone_names_its_runner(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # What ./dev demo sets: in a clone, `unistore` is not on the PATH.
    monkeypatch.setenv("UNISTORE_DEMO_COMMAND", "./dev run unistore")
    out = ok("demo", "--url", f"sqlite:///{tmp_path / 'demo.db'}").stdout
    assert len(_printed_commands(out, "./dev run unistore")) == 4
    assert _printed_commands(out, "unistore") == []
    dev = (ROOT / "dev").read_text()
    assert 'UNISTORE_DEMO_COMMAND="./dev run unistore" run unistore demo' in dev
    assert "\n  run)\n" in dev
