"""Session ids: time-sortable, unique, monotonic within a process."""

from __future__ import annotations

import re
import threading
import time

import pytest

from unistore._sessions._ids import new_session_id, session_id_time_ms

CROCKFORD = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def test_format_and_timestamp() -> None:
    before = time.time_ns() // 1_000_000
    session_id = new_session_id()
    after = time.time_ns() // 1_000_000
    assert CROCKFORD.match(session_id)
    stamp = session_id_time_ms(session_id)
    assert stamp is not None
    assert before <= stamp <= after + 1
    assert session_id_time_ms("not an id") is None
    assert session_id_time_ms("u" * 26) is None


def test_ids_strictly_increase_within_a_millisecond() -> None:
    ids = [new_session_id() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_ids_increase_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    first = new_session_id()
    real = time.time_ns
    monkeypatch.setattr(time, "time_ns", lambda: real() - 10_000_000_000)
    second = new_session_id()
    monkeypatch.undo()
    assert second > first


def test_ids_are_unique_across_threads() -> None:
    found: list[str] = []
    lock = threading.Lock()

    def make() -> None:
        local = [new_session_id() for _ in range(500)]
        with lock:
            found.extend(local)

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 2000
