"""Audit logging: purge/touch at INFO, CAS retries at WARNING, never any value."""

from __future__ import annotations

import logging

import pytest

import unistore
from unistore import CasOps, CasSnapshot, ContentionError, NamespacedStore

SECRETS = ("SECRET-VALUE", "SECRET-FIELD", "SECRET-HASH-VALUE", "SECRET-RESULT", "SECRET-BYTES")


def _texts(record: logging.LogRecord) -> list[str]:
    """Everything a handler or formatter could print from a record."""
    texts = [record.getMessage(), str(record.msg), repr(record.args)]
    texts.extend(f"{key}={value!r}" for key, value in vars(record).items())
    return texts


def _assert_no_secret(records: list[logging.LogRecord]) -> None:
    for record in records:
        for text in _texts(record):
            for secret in SECRETS:
                assert secret not in text, (secret, text[:200])


@pytest.fixture
def data(store: unistore.Store) -> NamespacedStore[str]:
    return NamespacedStore(store, prefix="t", default_ttl=60)


async def test_logs_carry_events_but_no_values(
    data: NamespacedStore[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ns = data.namespace("user-42")
    other = data.namespace("user-42")
    await ns.set("scalar", "SECRET-VALUE")
    await ns.set("binary", b"SECRET-BYTES")
    await ns.hset("hash", "SECRET-FIELD", "SECRET-HASH-VALUE")
    await ns.hset("hash", {"SECRET-FIELD-2": "SECRET-HASH-VALUE"})
    await ns.incr("counter")
    runs = 0

    async def fn(snap: CasSnapshot[str], ops: CasOps) -> str:
        nonlocal runs
        runs += 1
        assert await snap.get("scalar") == "SECRET-VALUE"
        ops.hset("hash", "SECRET-FIELD", "SECRET-HASH-VALUE")
        if runs == 1:
            await other.set("scalar", "SECRET-VALUE")  # forces one retry
        return "SECRET-RESULT"

    assert await ns.with_cas("scalar", fn) == "SECRET-RESULT"

    async def always_conflicts(snap: CasSnapshot[str], ops: CasOps) -> str:
        await other.set("scalar", "SECRET-VALUE")
        ops.set("scalar", "SECRET-VALUE")
        return "SECRET-RESULT"

    with pytest.raises(ContentionError) as info:
        await ns.with_cas("scalar", always_conflicts, max_retries=1)
    for secret in SECRETS:
        assert secret not in str(info.value)

    assert await ns.touch() == 4
    assert await ns.purge() == 4

    records = [r for r in caplog.records if r.name == "unistore.namespaced"]
    events: list[tuple[int, str]] = [(r.levelno, r.__dict__["event"]) for r in records]
    assert events == [
        (logging.WARNING, "cas-retry"),
        (logging.WARNING, "cas-retry"),
        (logging.WARNING, "cas-exhausted"),
        (logging.INFO, "touch"),
        (logging.INFO, "purge"),
    ]
    touch, purge = records[3], records[4]
    for record in (touch, purge):
        assert record.__dict__["namespace"] == "'t:user-42'"
        assert record.__dict__["slot_count"] == 4
        assert record.__dict__["ts"].endswith("+00:00")
        assert "'t:user-42'" in record.getMessage()
        assert "4 slots" in record.getMessage()
    assert records[2].__dict__["attempts"] == 2
    assert records[2].__dict__["slots"] == ("scalar",)
    # The whole capture, the driver's records included, holds no value.
    _assert_no_secret(caplog.records)


async def test_a_huge_or_hostile_id_is_logged_truncated_and_escaped(
    data: NamespacedStore[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="unistore.namespaced")
    hostile = "evil\nFORGED LINE\x00" + "k" * 10_000
    ns = data.namespace(hostile)
    await ns.set("s", "v")
    await ns.purge()
    (record,) = [r for r in caplog.records if r.name == "unistore.namespaced"]
    message = record.getMessage()
    assert "\n" not in message
    assert "\x00" not in message
    assert len(message) < 300
    assert "chars)" in record.__dict__["namespace"]


async def test_a_logger_can_be_passed_in(
    store: unistore.Store, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("myapp.audit")
    caplog.set_level(logging.INFO, logger="myapp.audit")
    data = NamespacedStore(store, prefix="t", default_ttl=60, logger=logger)
    assert data.logger is logger
    await data.namespace("x").purge()
    assert [r.name for r in caplog.records if "event" in r.__dict__] == ["myapp.audit"]


async def test_nothing_is_formatted_when_the_level_is_off(
    data: NamespacedStore[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="unistore.namespaced")
    await data.namespace("x").touch()
    await data.namespace("x").purge()
    assert not [r for r in caplog.records if r.name == "unistore.namespaced"]
