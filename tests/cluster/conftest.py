"""A real six-node Redis Cluster (three masters, three replicas) on loopback, never a fake.

Each test gets a fresh cluster: nodes can be SIGKILLed to exercise failover, which takes about
2 s with `--cluster-node-timeout 1000`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from service.store.embedded import free_port, wait_until_answering

NODES = 6
SLOTS = 16384
READY_TIMEOUT = 30.0


def _binaries() -> tuple[str, str]:
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        pytest.fail("redis-server or redis-cli is not installed: run `make test`, which installs them "
                    "(Debian's redis-server package depends on redis-tools, which ships redis-cli)")
    return server, cli


def _free_ports(count: int) -> list[int]:
    """Distinct free ports; bus ports are picked here too, since free_port() may exceed 55535 (port+10000)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _command(port: int, *args: str | int) -> str:
    """One command on one node, answer as raw text (split args bypass redis-py's CLUSTER parsers)."""
    with redis.Redis(port=port, decode_responses=True, socket_timeout=2) as client:
        return client.execute_command(*args)


def _info(port: int) -> dict[str, str]:
    """CLUSTER INFO as a dict of strings."""
    lines = _command(port, "CLUSTER", "INFO").splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line)


@dataclass(frozen=True)
class Node:
    """One line of CLUSTER NODES."""

    node_id: str
    port: int
    flags: frozenset[str]
    master_id: str | None
    slots: frozenset[int]

    @property
    def alive_master(self) -> bool:
        return "master" in self.flags and not self.flags & {"fail", "fail?", "noaddr"}


def _nodes(port: int) -> list[Node]:
    """The cluster as `port` sees it."""
    nodes = []
    for line in _command(port, "CLUSTER", "NODES").splitlines():
        node_id, address, flags, master, *_ = fields = line.split()
        slots: set[int] = set()
        for spec in fields[8:]:
            if spec.startswith("["):  # a slot being migrated or imported, not owned
                continue
            first, _, last = spec.partition("-")
            slots.update(range(int(first), int(last or first) + 1))
        nodes.append(Node(node_id, int(address.split("@")[0].rsplit(":", 1)[1]), frozenset(flags.split(",")),
                          None if master == "-" else master, frozenset(slots)))
    return nodes


@dataclass
class ClusterProcesses:
    """Six redis-server children formed into a cluster with `redis-cli --cluster create`."""

    directory: Path
    ports: list[int] = field(default_factory=list)
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    node_ids: dict[int, str] = field(default_factory=dict)

    @property
    def startup_url(self) -> str:
        """A URL for bootstrapping cluster clients: the first node still running, so it survives kill()."""
        alive = self._alive()
        if not alive:
            raise AssertionError("no cluster node is running")
        return f"redis://127.0.0.1:{alive[0]}"

    def start(self) -> None:
        server, cli = _binaries()
        ports = _free_ports(2 * NODES)
        self.ports, bus_ports = ports[:NODES], ports[NODES:]
        for port, bus_port in zip(self.ports, bus_ports):
            node_dir = self.directory / str(port)
            node_dir.mkdir(parents=True)
            self.processes[port] = subprocess.Popen(
                [server, "--port", str(port), "--cluster-port", str(bus_port), "--cluster-enabled", "yes",
                 "--cluster-config-file", str(node_dir / "nodes.conf"), "--cluster-node-timeout", "1000",
                 "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                 "--repl-diskless-sync-delay", "0",  # replicas sync at once, not after 5 s
                 "--dir", str(node_dir), "--daemonize", "no", "--loglevel", "warning",
                 "--logfile", str(node_dir / "redis.log")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        for port in self.ports:
            wait_until_answering(port, self.processes[port])
            self.node_ids[port] = _command(port, "CLUSTER", "MYID")
        addresses = [f"127.0.0.1:{port}" for port in self.ports]
        try:
            created = subprocess.run([cli, "--cluster", "create", *addresses, "--cluster-replicas", "1",
                                      "--cluster-yes"], capture_output=True, text=True, timeout=READY_TIMEOUT)
            output = re.sub(r"\x1b\[[0-9;]*m", "", created.stdout + created.stderr)  # it colours even into a pipe
        except subprocess.TimeoutExpired as exc:  # it waits forever if the nodes cannot meet over the bus
            output = f"(timed out after {READY_TIMEOUT:.0f} s)\n{exc.stdout or ''}{exc.stderr or ''}"
        self._wait(self._ready, f"the cluster did not form; redis-cli --cluster create said:\n{output}")

    def _ready(self) -> bool:
        """All slots served, every node agrees, and every replica has synced: WAIT and failover need that."""
        for port in self.ports:
            info = _info(port)
            if (info.get("cluster_state"), info.get("cluster_slots_ok"), info.get("cluster_known_nodes")) != (
                    "ok", str(SLOTS), str(NODES)):
                return False
            with redis.Redis(port=port, socket_timeout=2) as client:
                replication = client.info("replication")
            if replication["role"] == "slave" and replication["master_link_status"] != "up":
                return False
        return len(self.masters()) == NODES // 2

    def _wait(self, predicate: Callable[[], bool], message: str, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if predicate():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{message}\nlast CLUSTER NODES:\n{self._describe()}", pytrace=False)
            time.sleep(0.1)

    def _describe(self) -> str:
        for port in self._alive():
            try:
                return _command(port, "CLUSTER", "NODES")
            except redis.RedisError as exc:
                return f"(127.0.0.1:{port} did not answer: {exc})"
        return "(no node is running)"

    def _alive(self) -> list[int]:
        return [port for port in self.ports if self.processes[port].poll() is None]

    def masters(self) -> list[tuple[int, str]]:
        """(port, node id) of every live master, as a running node sees the cluster now."""
        return sorted((node.port, node.node_id) for node in _nodes(self._alive()[0]) if node.alive_master)

    def replica_of(self, node_id: str) -> int:
        """The port of a live replica of the master `node_id`."""
        for node in _nodes(self._alive()[0]):
            if node.master_id == node_id and not node.flags & {"fail", "fail?"}:
                return node.port
        raise AssertionError(f"master {node_id} has no live replica:\n{self._describe()}")

    def kill(self, port: int) -> None:
        """SIGKILL: the node vanishes without a word, as in a crash."""
        self.processes[port].kill()
        self.processes[port].wait(10)

    def failed_over(self, killed_port: int) -> bool:
        """Whether every survivor reports cluster_state:ok with every slot on a live master other than
        the dead one."""
        killed = self.node_ids[killed_port]
        survivors = self._alive()
        if any(_info(port).get("cluster_state") != "ok" for port in survivors):
            return False
        nodes = _nodes(survivors[0])
        served = set().union(*(node.slots for node in nodes if node.alive_master and node.node_id != killed))
        return len(served) == SLOTS

    def wait_for_failover(self, killed_port: int, timeout: float = 30) -> None:
        self._wait(lambda: self.failed_over(killed_port),
                   f"no failover within {timeout:.0f} s after killing 127.0.0.1:{killed_port}", timeout)

    def stop(self) -> None:
        """SIGTERM everyone at once (they flush and exit), SIGKILL whoever is still there after 10 s."""
        running = [process for process in self.processes.values() if process.poll() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + 10
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[ClusterProcesses]:
    """A fresh cluster per test: tests kill nodes, and starting one takes only a few seconds."""
    cluster = ClusterProcesses(tmp_path / "cluster")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
