"""Stores the benchmarks run on: one URL per driver, or a note why it is skipped.

Servers come from ``UNISTORE_TEST_REDIS_URL`` and ``UNISTORE_TEST_POSTGRES_URL``;
each run uses a unique key or table prefix, so benchmarks never touch data of
their own earlier runs or of the tests.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import unistore
from unistore import StoreURL, UnknownSchemeError

REDIS_URL = os.environ.get("UNISTORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get(
    "UNISTORE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
ALL_DRIVERS = ("memory", "sqlite", "file", "redis", "postgresql")


def bench_store_url(driver: str, tmp: Path) -> str | None:
    """Return a URL for ``driver``, or ``None`` (printing why) if it cannot run."""
    tag = f"b{uuid.uuid4().hex[:10]}"
    urls = {
        "memory": "memory://",
        "sqlite": f"sqlite:///{tmp / 'bench.db'}",
        "file": f"file://{tmp / 'bench'}",
        "redis": StoreURL.parse(REDIS_URL).with_options(key_prefix=tag).render(hide_secrets=False),
        "postgresql": StoreURL.parse(POSTGRES_URL)
        .with_options(table_prefix=f"{tag}_")
        .render(hide_secrets=False),
    }
    url = urls[driver]
    parsed = StoreURL.parse(url)
    try:
        unistore.get_driver(parsed.scheme)
    except UnknownSchemeError:
        print(f"# {driver}: driver not installed, skipped")
        return None
    if parsed.host and driver in ("redis", "postgresql"):
        try:
            with socket.create_connection((parsed.host, parsed.port or 0), timeout=1):
                pass
        except OSError:
            print(f"# {driver}: server {parsed} not reachable, skipped")
            return None
    return url
