"""Private Redis Cluster and Sentinel servers for the tests that need them.

Every server is a ``redis-server`` process of the test run's own, bound to
127.0.0.1 on a free port, with its files in a temporary folder; it is killed
by PID when the context manager exits, also when starting it failed. Without
``redis-server`` or ``redis-cli`` the tests skip, and fail under CI (the
``CI`` environment variable), like the other server tests of the driver.

* :class:`RedisCluster`: six nodes, three masters with a replica each, made
  with ``redis-cli --cluster create``; ready when every node reports
  ``cluster_state:ok``.
* :class:`SentinelSet`: one master, one replica and three sentinels
  monitoring them under :data:`SERVICE` (quorum 2).

The session-scoped fixtures :func:`cluster_servers` and
:func:`sentinel_servers` start one of each per pytest process (per xdist
worker); a test that kills a node makes its own with the context managers.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest
import redis

__all__ = [
    "SERVICE",
    "RedisCluster",
    "SentinelSet",
    "cluster_servers",
    "require_binaries",
    "sentinel_servers",
]

#: The service name the sentinels monitor.
SERVICE = "unistore-main"

#: Cluster nodes talk on ``port + 10000`` (the cluster bus): both must be free.
_BUS_OFFSET = 10000


def require_binaries() -> tuple[str, str]:
    """Return the paths of ``redis-server`` and ``redis-cli``; skip (fail under CI) without."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        missing = " and ".join(
            name for name, path in (("redis-server", server), ("redis-cli", cli)) if path is None
        )
        message = f"{missing} not installed: no private Redis Cluster or Sentinel servers"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return server, cli


def _is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int, *, bus: bool = False) -> list[int]:
    """Return ``count`` distinct free loopback ports (with a free bus port each if ``bus``)."""
    found: list[int] = []
    # Below 55536 so that the bus port stays a port; random so that parallel
    # runs rarely race for the same numbers.
    while len(found) < count:
        port = random.randint(20000, 55000)
        if port in found or (bus and port + _BUS_OFFSET in found):
            continue
        if _is_free(port) and (not bus or _is_free(port + _BUS_OFFSET)):
            found.append(port)
    return found


def _wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} within {timeout} s")


class _Processes:
    """Processes started by one server set, killed by PID on exit."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="unistore-redis-")
        self.directory = Path(self._folder.name)
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def spawn(self, port: int, command: list[str]) -> None:
        log = (self.directory / f"{port}.log").open("wb")
        try:
            self.processes[port] = subprocess.Popen(
                command, cwd=self.directory, stdout=log, stderr=subprocess.STDOUT
            )
        finally:
            log.close()

    def wait_listening(self, port: int, timeout: float = 10) -> None:
        def listening() -> bool:
            process = self.processes[port]
            if process.poll() is not None:
                raise RuntimeError(f"redis-server on port {port} exited: {self.log(port)}")
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True

        _wait(f"redis-server on port {port} did not listen", listening, timeout)

    def log(self, port: int) -> str:
        path = self.directory / f"{port}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def kill(self, port: int) -> None:
        """``kill -9`` the server on ``port`` and reap it."""
        process = self.processes.get(port)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def stop_all(self) -> None:
        for port in list(self.processes):
            self.kill(port)
        self.processes.clear()
        self._folder.cleanup()


def _client(port: int, password: str | None = None) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        password=password,
        socket_timeout=2,
        socket_connect_timeout=2,
    )


class RedisCluster:
    """A six-node Redis Cluster (three masters, three replicas) on free loopback ports.

    Use as a context manager; :attr:`url` opens a store on it.

    Args:
        node_timeout_ms: ``cluster-node-timeout``: how long a master may be
            silent before its replica takes over.
    """

    def __init__(self, node_timeout_ms: int = 2000) -> None:
        self.server, self.cli = require_binaries()
        self.node_timeout_ms = node_timeout_ms
        self.ports = free_ports(6, bus=True)
        self._procs = _Processes()

    @property
    def url(self) -> str:
        """A ``redis+cluster://`` URL naming one node; the client discovers the rest."""
        return f"redis+cluster://127.0.0.1:{self.ports[0]}/"

    def __enter__(self) -> Self:
        try:
            self._start()
        except BaseException:
            self._procs.stop_all()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._procs.stop_all()

    def _start(self) -> None:
        for port in self.ports:
            folder = self._procs.directory / str(port)
            folder.mkdir()
            self._procs.spawn(
                port,
                [
                    self.server,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    str(self.node_timeout_ms),
                    # Redis waits 5 s for more replicas before a first sync by
                    # default; until it is done a replica has no data to take over.
                    "--repl-diskless-sync-delay",
                    "0",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(folder),
                ],
            )
        for port in self.ports:
            self._procs.wait_listening(port)
        created = subprocess.run(
            [
                self.cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout[-2000:]!r}")
        self.wait_ok(self.ports)
        self.wait_replicas_synced()

    def wait_replicas_synced(self, timeout: float = 30) -> None:
        """Wait until each master's replica acknowledges a write (``WAIT 1``).

        A replica reports its link up before ``redis-cli`` has finished
        moving it to its master; a write acknowledged then may never reach
        it. A probe write per master, acknowledged by a replica, proves the
        replica streams from that master.
        """

        def acknowledged() -> bool:
            masters = self.masters()
            if len(masters) != 3:
                return False
            for port in masters:
                key = self._key_served_by(port)
                with _client(port) as client:
                    client.set(key, b"probe")
                    if int(client.execute_command("WAIT", 1, 200)) < 1:
                        return False
                    client.delete(key)
            return True

        _wait("the replicas did not acknowledge writes", acknowledged, timeout)

    def _key_served_by(self, port: int) -> str:
        """A key in one of the slots the master on ``port`` serves."""
        with _client(port) as client:
            for index in range(100_000):
                key = f"probe-{index}"
                slot = int(client.cluster("KEYSLOT", key))
                for start, end, master, *_ in client.execute_command("CLUSTER SLOTS"):
                    if start <= slot <= end and int(master[1]) == port:
                        return key
        raise RuntimeError(f"no key found for the master on port {port}")

    def wait_ok(self, ports: list[int], timeout: float = 30) -> None:
        """Wait until every node on ``ports`` reports ``cluster_state:ok``."""

        def ok() -> bool:
            for port in ports:
                with _client(port) as client:
                    info = client.cluster("INFO")
                    if info.get("cluster_state") != "ok":
                        return False
            return True

        _wait("the cluster did not reach cluster_state:ok", ok, timeout)

    def masters(self) -> list[int]:
        """The ports of the nodes that are masters now."""
        found = []
        for port in self.live_ports():
            with _client(port) as client:
                if client.info("replication")["role"] == "master":
                    found.append(port)
        return found

    def live_ports(self) -> list[int]:
        """The ports of the nodes not killed."""
        return [port for port, proc in self._procs.processes.items() if proc.poll() is None]

    def owner_of(self, key: bytes) -> int:
        """The port of the master that serves ``key``'s slot now."""
        with _client(self.live_ports()[0]) as client:
            slot = int(client.cluster("KEYSLOT", key))
            for start, end, master, *_ in client.execute_command("CLUSTER SLOTS"):
                if start <= slot <= end:
                    return int(master[1])
        raise RuntimeError(f"no node serves slot {slot}")

    def kill(self, port: int) -> None:
        """``kill -9`` the node on ``port``."""
        self._procs.kill(port)


class SentinelSet:
    """One master, one replica and three sentinels (quorum 2) on free loopback ports.

    Use as a context manager; :attr:`url` opens a store on the master.
    """

    def __init__(
        self,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 5000,
        sentinel_password: str | None = None,
    ) -> None:
        self.server, _ = require_binaries()
        #: The password of the sentinels (``requirepass``), if any.
        self.sentinel_password = sentinel_password
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        ports = free_ports(5)
        self.master_port, self.replica_port = ports[:2]
        self.sentinel_ports = ports[2:]
        self._procs = _Processes()

    @property
    def url(self) -> str:
        """A ``redis+sentinel://`` URL naming the first sentinel and the service."""
        return f"redis+sentinel://127.0.0.1:{self.sentinel_ports[0]}/{SERVICE}"

    def __enter__(self) -> Self:
        try:
            self._start()
        except BaseException:
            self._procs.stop_all()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._procs.stop_all()

    def _data_server(self, port: int, *extra: str) -> None:
        folder = self._procs.directory / str(port)
        folder.mkdir()
        self._procs.spawn(
            port,
            [
                self.server,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                # No 5 s wait for more replicas before the first sync.
                "--repl-diskless-sync-delay",
                "0",
                "--dir",
                str(folder),
                *extra,
            ],
        )

    def _start(self) -> None:
        self._data_server(self.master_port)
        self._procs.wait_listening(self.master_port)
        self._data_server(self.replica_port, "--replicaof", "127.0.0.1", str(self.master_port))
        self._procs.wait_listening(self.replica_port)
        for port in self.sentinel_ports:
            folder = self._procs.directory / str(port)
            folder.mkdir()
            # A sentinel rewrites its configuration file: each gets its own.
            conf = folder / "sentinel.conf"
            conf.write_text(
                f"port {port}\n"
                "bind 127.0.0.1\n"
                f"dir {folder}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.master_port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}\n"
                f"sentinel failover-timeout {SERVICE} {self.failover_timeout_ms}\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
            )
            if self.sentinel_password is not None:
                # Clients and the other sentinels must both authenticate.
                with conf.open("a") as out:
                    out.write(f"requirepass {self.sentinel_password}\n")
                    out.write(f"sentinel sentinel-pass {self.sentinel_password}\n")
            self._procs.spawn(port, [self.server, str(conf), "--sentinel"])
        for port in self.sentinel_ports:
            self._procs.wait_listening(port)

        def replicated() -> bool:
            # "up" only once the first sync is done: before that the replica
            # holds nothing to take over with.
            with _client(self.replica_port) as client:
                link: object = client.info("replication").get("master_link_status")
                return link == "up"

        _wait("the replica did not finish its first sync", replicated, 20)
        self.wait_sentinels_agree(self.master_port)

    def wait_sentinels_agree(self, master_port: int, timeout: float = 30) -> None:
        """Wait until every live sentinel names ``master_port`` and knows the others."""

        def agreed() -> bool:
            for port in self.sentinel_ports:
                if self._procs.processes[port].poll() is not None:
                    continue
                with _client(port, self.sentinel_password) as client:
                    state = client.sentinel_master(SERVICE)
                    if int(state["port"]) != master_port:
                        return False
                    if int(state["num-other-sentinels"]) < len(self.sentinel_ports) - 1:
                        return False
            return True

        _wait("the sentinels did not agree on the master", agreed, timeout)

    def current_master(self) -> int:
        """The port of the master the first sentinel names now."""
        with _client(self.sentinel_ports[0], self.sentinel_password) as client:
            _, port = client.sentinel_get_master_addr_by_name(SERVICE)
        return int(port)

    def kill(self, port: int) -> None:
        """``kill -9`` the server on ``port``."""
        self._procs.kill(port)


@pytest.fixture(scope="session")
def cluster_servers() -> Iterator[RedisCluster]:
    """A Redis Cluster shared by the tests of this process (never killed by them)."""
    with RedisCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def sentinel_servers() -> Iterator[SentinelSet]:
    """A Sentinel set shared by the tests of this process (never failed over by them)."""
    with SentinelSet() as servers:
        yield servers
