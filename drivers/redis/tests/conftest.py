"""Fixtures of the redis driver tests.

The shared server comes from ``UNISTORE_TEST_REDIS_URL`` (default
``redis://127.0.0.1:6379/15``; under pytest-xdist each worker uses a database
of its own, see ``unistore_test_support.redis_test_url``). Every test gets its
own key prefix and deletes what it wrote with ``destroy()``. Tests that must
stop a server start a private ``redis-server`` on a free loopback port instead;
the Redis Cluster and Sentinel servers come from ``servers.py`` (fixtures
``cluster_servers`` and ``sentinel_servers``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.asyncio.connection import AbstractConnection

import unistore
from unistore import StoreURL
from unistore_redis import RedisStore
from unistore_test_support import redis_test_url

# servers.py is a plain module of this folder that the tests import by name;
# pytest's importlib mode does not put the folder on the path by itself.
if str(Path(__file__).parent) not in sys.path:
    sys.path.append(str(Path(__file__).parent))

from servers import RedisCluster, cluster_servers, sentinel_servers

__all__ = ["cluster_servers", "sentinel_servers"]

ENV_VAR = "UNISTORE_TEST_REDIS_URL"

_reachable: dict[str, str | None] = {}


def redis_url() -> str:
    """The server URL of this process's tests (a database per xdist worker)."""
    return redis_test_url()


def _probe(url: str) -> str | None:
    """Return why the server cannot be used, or None if it answers."""
    if url not in _reachable:
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
            try:
                client.ping()
            finally:
                client.close()
            _reachable[url] = None
        except redis.RedisError as exc:
            _reachable[url] = f"{type(exc).__name__}: {exc}"
    return _reachable[url]


def require_server(url: str) -> None:
    """Skip (or fail under CI) when the test server does not answer."""
    problem = _probe(url)
    if problem is None:
        return
    # The URL may carry a password: only its redacted form may reach the report.
    message = f"no Redis server at {ENV_VAR}={str(StoreURL.parse(url))!r} ({problem})"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def unique_prefix() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def url() -> str:
    """The shared test server's URL (skips when unreachable)."""
    target = redis_url()
    require_server(target)
    return target


@contextlib.asynccontextmanager
async def _own_store(url: str) -> AsyncIterator[RedisStore]:
    """A store on ``url`` with a key prefix of its own, destroyed and closed after use."""
    opened = unistore.connect(url, key_prefix=unique_prefix())
    assert isinstance(opened, RedisStore)
    async with opened:
        try:
            yield opened
        finally:
            await opened.destroy()


@pytest.fixture
async def store(url: str) -> AsyncIterator[RedisStore]:
    """A store with a key prefix of its own, destroyed after the test."""
    async with _own_store(url) as opened:
        yield opened


@pytest.fixture
async def cluster_store(cluster_servers: RedisCluster) -> AsyncIterator[RedisStore]:
    """A store on the test Redis Cluster, with a key prefix of its own, destroyed after the test."""
    async with _own_store(cluster_servers.url) as opened:
        yield opened


@pytest.fixture
def raw(url: str) -> Iterator[redis.Redis]:
    """A synchronous redis-py client on the test server, for inspection."""
    client = redis.Redis.from_url(url)
    try:
        yield client
    finally:
        client.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateServer:
    """A ``redis-server`` of the test's own, on a loopback port, in a temp dir."""

    def __init__(self, directory: Path, *args: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI"):
                pytest.fail("redis-server is not installed", pytrace=False)
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
            *self.args,
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.02)
        self.stop()
        pytest.fail(f"private redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[PrivateServer]:
    """A started private redis-server, killed after the test."""
    server = PrivateServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses."""
    return unique_prefix()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[type[PrivateServer]]:
    """The PrivateServer class; servers made in a test are killed after it."""
    made: list[PrivateServer] = []

    class _Tracked(PrivateServer):
        def __init__(self, *args: str) -> None:
            super().__init__(tmp_path / f"srv{len(made)}", *args)
            self.directory.mkdir()
            made.append(self)

    try:
        yield _Tracked
    finally:
        for server in made:
            server.stop()


@pytest.fixture
async def private_store(private_server: PrivateServer) -> AsyncIterator[RedisStore]:
    """A store on a private server: its command statistics are this test's alone."""
    opened = unistore.connect(private_server.url, key_prefix=unique_prefix())
    assert isinstance(opened, RedisStore)
    async with opened:
        yield opened


@pytest.fixture
def private_raw(private_server: PrivateServer) -> Iterator[redis.Redis]:
    """A synchronous client on the private server."""
    client = redis.Redis.from_url(private_server.url)
    try:
        yield client
    finally:
        client.close()


def _command_counts(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


@pytest.fixture
def command_counts() -> Callable[[redis.Redis], dict[str, int]]:
    """Return a function giving how often each command ran (scripts' inner calls included)."""
    return _command_counts


@contextmanager
def count_round_trips() -> Iterator[list[int]]:
    """Count the requests sent by any redis-py asyncio connection."""
    sent = [0]
    original = AbstractConnection.send_packed_command

    async def counting(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
        sent[0] += 1
        await original(self, *args, **kwargs)

    AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign]


@pytest.fixture
def round_trips() -> Callable[[], AbstractContextManager[list[int]]]:
    """Return a context manager counting the requests sent inside it (``sent[0]``)."""
    return count_round_trips
