"""The basket example in a real browser: two tabs of one session, a second visitor.

Headless Chromium (Debian's ``chromium``, driven by playwright, never a
downloaded browser) against ``python -m examples.basket`` served by uvicorn on
a loopback port, on the SQLite default and on Redis. Without a browser the
tests skip locally and fail under ``CI``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from unistore_test_support import destroy_url, make_store_url

ROOT = Path(__file__).resolve().parents[2]
# Adds 20 items from one tab, all at once; resolves when every add has answered.
ADD_20 = """(tab) => Promise.all(Array.from({length: 20},
    (_, i) => addItem(`${tab}-${i}`, PRICES[tab] + i)))"""
PRICES = {"a": 100, "b": 200, "c": 300}


def price_of(name: str) -> int:
    tab, _, index = name.partition("-")
    return PRICES[tab] + int(index)


def names(tab: str) -> set[str]:
    return {f"{tab}-{i}" for i in range(20)}


@pytest.fixture
def chromium() -> str:
    """The path of Debian's chromium; skips (fails under CI) without one."""
    path = shutil.which("chromium")
    message = None
    if path is None:
        message = "no chromium on the PATH (Debian: apt-get install chromium)"
    elif importlib.util.find_spec("playwright") is None:
        message = "playwright is not installed (the web dependency group)"
    if message is not None:
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    assert path is not None
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def basket_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = make_store_url(request.param, tmp_path, "basket")
    yield url
    if request.param == "redis":
        destroy_url(url)


@pytest.fixture
def basket_server(basket_url: str, tmp_path: Path) -> Iterator[str]:
    """The example served by uvicorn in a subprocess; yields its base URL."""
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    command = [sys.executable, "-m", "examples.basket", "--url", basket_url]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/api/basket", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        if process.poll() is not None or time.monotonic() >= deadline:
            pytest.fail(f"the example did not start:\n{(tmp_path / 'server.log').read_text()}")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def test_two_tabs_share_one_basket_and_a_second_visitor_sees_none(
    chromium: str, basket_server: str
) -> None:
    from playwright.async_api import async_playwright

    errors: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, headless=True)
        try:
            context = await browser.new_context()
            tabs = []
            for _ in range(2):
                tab = await context.new_page()
                tab.on("pageerror", lambda exc: errors.append(str(exc)))
                await tab.goto(basket_server)
                await tab.evaluate(f"PRICES = {PRICES}")
                tabs.append(tab)
            first, second = tabs
            cookies = await context.cookies()
            assert [c["name"] for c in cookies] == ["session"]
            assert cookies[0]["httpOnly"] is True

            # Two tabs, one session, 20 items each at the same time: all 40 land.
            await asyncio.gather(first.evaluate(ADD_20, "a"), second.evaluate(ADD_20, "b"))
            basket: dict[str, Any] = await first.evaluate("refresh()")
            assert {item["name"] for item in basket["items"]} == names("a") | names("b")
            assert len(basket["items"]) == 40
            assert basket["total"] == sum(price_of(n) for n in names("a") | names("b"))

            # A checkout while the other tab adds: the order holds what it took.
            order, _ = await asyncio.gather(
                first.evaluate("checkout()"), second.evaluate(ADD_20, "c")
            )
            basket = await second.evaluate("refresh()")
            taken = [item["name"] for item in order["items"]]
            left = [item["name"] for item in basket["items"]]
            assert len(set(taken)) == len(taken)
            assert set(taken).isdisjoint(left)
            assert set(taken) | set(left) == names("a") | names("b") | names("c")
            assert names("a") | names("b") <= set(taken)
            assert order["total"] == sum(price_of(name) for name in taken)
            assert basket["total"] == sum(price_of(name) for name in left)
            assert basket["orders"] == [order]

            # Another browser context is another visitor: none of it is theirs.
            stranger = await (await browser.new_context()).new_page()
            await stranger.goto(basket_server)
            theirs = await stranger.evaluate("refresh()")
            assert theirs == {"items": [], "total": 0, "orders": []}
            other_cookies = await stranger.context.cookies()
            assert other_cookies[0]["value"] != cookies[0]["value"]
        finally:
            await browser.close()
    assert errors == []
