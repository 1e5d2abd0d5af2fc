"""Secrets in URLs never reach an error line, whatever put them in the message."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import unistore
from unistore import StoreURL
from unistore.protocols import Option
from unistore.sdk import CREATE_OPTION
from unistore_test_support import invoke, one_error_line


class _LeakyStore:
    """A careless third-party store: its client's errors quote the full URL."""

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
        raise RuntimeError(f"cannot connect to {self.url.render(hide_secrets=False)}")


@pytest.fixture
def leaky() -> Iterator[str]:
    token = Option("token", str, None, "An API token.", secret=True)
    # It declares the open mode (it has nothing to create), so commands reach its errors.
    unistore.register(
        "leaky", lambda url, options: _LeakyStore(url), options=(token, CREATE_OPTION)
    )
    yield "leaky://admin:p%40ss%2Fw0rd@127.0.0.1:1/db?token=t0ps3cret"
    unistore.unregister("leaky")


@pytest.mark.parametrize(
    "command",
    [["ns", "slots", "{url}", "ns"], ["ns", "get", "{url}", "ns", "slot"], ["info", "{url}"]],
)
def test_a_driver_message_quoting_the_url_is_scrubbed(leaky: str, command: list[str]) -> None:
    result = invoke(*(arg.format(url=leaky) for arg in command))
    assert result.exit_code != 0
    line = one_error_line(result)
    for secret in ("p@ss/w0rd", "p%40ss%2Fw0rd", "t0ps3cret"):
        assert secret not in line
    assert result.stdout.count("w0rd") == 0
