"""Host containers: what a host says about the fleet's containers (issue 5)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import commands as cmd
from .ssh import Connection


class HostError(RuntimeError):
    """A rollout step failed on this host; the message is one line for the pusher."""


@dataclass(frozen=True)
class Container:
    """A container of the fleet on the host, as `docker ps` lists it (newest first)."""

    name: str
    release: str
    service: str
    state: str
    image: str


def list_containers(conn: Connection, slug: str) -> list[Container]:
    """The fleet's containers on the host, newest first."""
    out = conn.run(cmd.containers(slug)).stdout
    return [Container(*line.split("\t")[:5]) for line in out.splitlines() if line.count("\t") >= 4]


def published_address(conn: Connection, name: str, port: int) -> str:
    """`HOST:PORT` where the container publishes `port` (IPv4; 0.0.0.0 means the loopback works)."""
    lines = conn.run(cmd.published_port(name, port)).stdout.split()
    for line in lines:
        host, _, number = line.rpartition(":")
        if not host.startswith("["):
            return f"{'127.0.0.1' if host == '0.0.0.0' else host}:{number}"
    raise HostError(f"container {name} publishes no address for port {port}")


@dataclass(frozen=True)
class ContainerState:
    """What `docker inspect` says of a container's run."""

    status: str  # running, exited, restarting, created, dead...
    health: str  # healthy, unhealthy, starting; none without a health check
    restarts: int  # by its restart policy since it was started
    exit_code: int  # of its last run

    @property
    def died(self) -> bool:
        """It stopped on its own since it was started (restarted by its policy or not)."""
        return self.status in ("exited", "dead", "restarting") or self.restarts > 0


def container_state(conn: Connection, name: str) -> ContainerState:
    status, health, restarts, code = conn.run(cmd.state(name)).stdout.split()
    return ContainerState(status, health, int(restarts), int(code))


def show_logs(conn: Connection, name: str, lines: int, say: Callable[[str], None]) -> None:
    """Tell the pusher the container's last log lines (why it failed, usually)."""
    out = conn.call(cmd.logs(name, lines))
    text = (out.stdout + out.stderr).rstrip()
    say(f"last log lines of {name}:" if text else f"{name} wrote no log lines")
    for line in text.splitlines()[-lines:]:
        say(f"  | {line}")


def label_of(conn: Connection, name: str, label: str) -> str:
    """A label of a container ("" when it has none)."""
    template = '{{index .Config.Labels "' + label + '"}}'
    return conn.run(cmd.Command(("docker", "inspect", "-f", template, name))).stdout.strip()
