"""Run the conformance suite against a URL from code or the command line.

``python -m unistore.testing.run URL [PYTEST-ARGS...]``, or from code::

    from unistore.testing.run import run_conformance
    exit_code = run_conformance("redis://localhost:6379/15", ["-q"])

The run ignores the pytest configuration of the current directory, so that a
project's ``addopts`` or ``asyncio_mode`` cannot change what the suite checks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "run_conformance"]

_SUITE_MODULE = "unistore.testing.test_conformance"


def run_conformance(url: str, pytest_args: Sequence[str] = ()) -> int:
    """Run the whole conformance suite against ``url`` and return pytest's exit code.

    Args:
        url: The store URL to test (it is passed to ``unistore.connect``).
        pytest_args: Extra pytest arguments (``-q``, ``-x``, ``-k expr``...).
    """
    import pytest

    args = [
        "--pyargs",
        _SUITE_MODULE,
        f"--unistore-url={url}",
        # An empty configuration: the caller's pytest.ini/pyproject must not apply.
        "-c",
        os.devnull,
        "--rootdir",
        str(Path(__file__).parent),
        # unistore is imported already (this module is part of it); its test
        # modules are still rewritten when the suite imports them.
        "-W",
        "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning",
        "-p",
        "no:cacheprovider",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        *pytest_args,
    ]
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        args[:0] = ["-p", "asyncio", "-p", "unistore"]
    return int(pytest.main(args))


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: ``python -m unistore.testing.run URL [PYTEST-ARGS...]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith("-"):
        print(
            "usage: python -m unistore.testing.run URL [PYTEST-ARGS...]",
            file=sys.stderr,
        )
        return 2
    return run_conformance(args[0], args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
