"""A pytest plugin (loaded with ``-p``) that feeds conformance results to ``unistore check``.

pytest loads plugins given on its command line by module name, so the command
hands its collector over through :data:`ACTIVE` before it starts the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

__all__ = ["ACTIVE", "Collector", "Failure", "Tally", "suite_of"]


@dataclass(slots=True)
class Tally:
    """Outcomes of the tests of one suite class."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed test, summarised on one line."""

    suite: str
    test: str
    message: str


def suite_of(item: pytest.Item) -> str:
    """The conformance suite class that defines a test (``KeyValue`` for ``KeyValueSuite``)."""
    function = getattr(item, "function", None)
    qualname: str = getattr(function, "__qualname__", item.name)
    owner = qualname.split(".")[0] if "." in qualname else "Other"
    return owner.removesuffix("Suite") or owner


@dataclass
class Collector:
    """Selects suites, tallies outcomes per suite and reports progress."""

    only: frozenset[str] = frozenset()
    on_start: Callable[[int], None] | None = None
    on_test: Callable[[str], None] | None = None
    tallies: dict[str, Tally] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    skip_reasons: dict[str, set[str]] = field(default_factory=dict)
    _suites: dict[str, str] = field(default_factory=dict)
    _outcomes: dict[str, str] = field(default_factory=dict)

    def select(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            suite = suite_of(item)
            if self.only and suite.lower() not in self.only:
                drop.append(item)
                continue
            self._suites[item.nodeid] = suite
            keep.append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    def start(self, count: int) -> None:
        if self.on_start is not None:
            self.on_start(count)

    def report(self, report: pytest.TestReport) -> None:
        suite = self._suites.get(report.nodeid, "Other")
        previous = self._outcomes.get(report.nodeid)
        if report.failed:
            if previous != "failed":
                self._outcomes[report.nodeid] = "failed"
                self.failures.append(Failure(suite, _test_name(report), _message(report)))
        elif report.skipped and previous is None:
            self._outcomes[report.nodeid] = "skipped"
            self.skip_reasons.setdefault(suite, set()).add(_skip_reason(report))
        elif report.when == "call" and report.passed and previous is None:
            self._outcomes[report.nodeid] = "passed"

    def finish(self, nodeid: str) -> None:
        suite = self._suites.get(nodeid, "Other")
        tally = self.tallies.setdefault(suite, Tally())
        outcome = self._outcomes.get(nodeid, "failed")
        setattr(tally, outcome, getattr(tally, outcome) + 1)
        if self.on_test is not None:
            self.on_test(suite)


def _test_name(report: pytest.TestReport) -> str:
    return report.nodeid.rpartition("::")[2]


def _message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None) or str(report.longrepr)
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    phase = "" if report.when == "call" else f" (in {report.when})"
    return first[:300] + phase


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr: Any = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return "skipped"


#: The collector of the run in progress (set by the ``check`` command).
ACTIVE: Collector | None = None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep only the suites asked for and remember each test's suite."""
    if ACTIVE is not None:
        ACTIVE.select(config, items)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Announce how many tests will run."""
    if ACTIVE is not None:
        ACTIVE.start(len(session.items))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Record each phase's outcome."""
    if ACTIVE is not None:
        ACTIVE.report(report)


def pytest_runtest_logfinish(nodeid: str) -> None:
    """Count a finished test."""
    if ACTIVE is not None:
        ACTIVE.finish(nodeid)
