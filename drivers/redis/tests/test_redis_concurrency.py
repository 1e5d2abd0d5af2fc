"""4 OS processes x 8 asyncio tasks contend on one slot; no increment may be lost."""

from __future__ import annotations

import pytest

from unistore import StoreURL
from unistore.testing.contention import run_contention
from unistore_redis import RedisStore

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.mark.parametrize("mode", ["cas", "tx"])
async def test_processes_and_tasks_lose_no_increment(
    url: str, store: RedisStore, mode: str
) -> None:
    shared = StoreURL.parse(url).with_options(key_prefix=store.key_prefix)
    result = await run_contention(
        shared.render(hide_secrets=False), processes=4, tasks=8, increments=10, mode=mode
    )
    assert result.value == result.expected == 320
    assert result.conflicts > 0  # the test really contended
