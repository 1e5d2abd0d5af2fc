"""Nox sessions for unistore.

Sessions run inside the uv workspace environment (``uv run``), so they need no
virtualenv of their own and see exactly the locked dependencies.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["tests", "lint", "typecheck", "docs"]

DRIVERS = ["memory", "redis", "sql", "fs"]


def _uv(session: nox.Session, *args: str) -> None:
    session.run("uv", "run", "--all-packages", "--locked", *args, external=True)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite."""
    _uv(session, "pytest", *session.posargs)


@nox.session(name="tests-driver")
@nox.parametrize("driver", DRIVERS)
def tests_driver(session: nox.Session, driver: str) -> None:
    """Run one driver's own tests (memory: the core tests on memory only)."""
    if driver == "memory":
        _uv(session, "pytest", "tests", "-k", "memory", *session.posargs)
    else:
        _uv(session, "pytest", f"drivers/{driver}/tests", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    _uv(session, "ruff", "check", ".")
    _uv(session, "ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Mypy in strict mode over the core, the drivers and this file."""
    _uv(session, "mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation, failing on any warning."""
    _uv(session, "mkdocs", "build", "--strict")


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark (prints ratios against in-run baselines)."""
    import glob

    for path in sorted(glob.glob("benchmarks/bench_*.py")):
        _uv(session, "python", path)
