"""Rollout: a release onto a fleet's servers over SSH, kamal style (issue 5, DESIGN.md §2.5).

Per host: lock, log in, pull by digest, ensure the proxy, start the new containers, health-check the web
service through the proxy, switch the proxy to it, drain and stop the old ones, prune, audit, unlock.
The first server is the canary; the rest follow in parallel (`RolloutOptions.parallel`). When any host
fails, every host already switched is switched back to the containers it served before, and the result
says why. The commands are data (`server_commands`); this module only sequences them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ServerTarget:
    """A host to roll out to, as the operator configured it (`fleetgate server add`)."""

    host: str
    port: int
    user: str
    key_path: Path | None
    role: str | None
    known_hosts: Path  # the operator's known-hosts file; unknown keys are refused (RejectPolicy)
    services: tuple[str, ...] | None = None  # the compose services this host runs; None: all

    @property
    def endpoint(self) -> str:
        """`HOST` on port 22, else `HOST:PORT`, as the CLI names a server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 22 else f"{host}:{self.port}"


@dataclass(frozen=True)
class RolloutRelease:
    """What to run: a successful release of a fleet, with the operator's runtime configuration."""

    fleet_slug: str
    fleet_id: int
    release_hash: str
    release_name: str  # e.g. alice/demo#4, shown in output and the audit log
    composition: Mapping[str, Any]  # the release's compose document, images by digest
    environment: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # per service
    registry: tuple[str, str, str] | None = None  # (server, username, password)
    proxy_host: str | None = None  # the fleet's --host; None: the proxy's default route
    tls_cert: Path | None = None  # the operator's certificate and key files, on the gateway
    tls_key: Path | None = None
    keep: int = 5  # releases kept on each host (containers and images) beyond the running one
    retained: tuple[str, ...] = ()  # release hashes never pruned (rollback targets)


@dataclass(frozen=True)
class RolloutOptions:
    """How to roll out; the defaults are for real servers, tests change the ports and addresses."""

    proxy_image: str = "fleetgate-proxy:2.6"
    http_port: int = 80
    https_port: int = 443
    proxy_bind: str = ""  # address the proxy listens on; "" all; "{host}" the server's SSH host
    upstream_bind: str = "127.0.0.1"  # address web containers publish on; "{host}" as above
    health_timeout: float = 60.0  # seconds for a new container to answer its health check
    drain_timeout: float = 30.0  # seconds in-flight requests get on the old container
    stop_timeout: int = 10  # seconds `docker stop` waits before SIGKILL
    parallel: int = 4  # hosts rolled out at once after the canary
    connect_timeout: float = 10.0
    command_timeout: float = 600.0  # one command on a host (a pull can be long)
    log_lines: int = 30  # last lines of a failed container's log shown to the pusher


@dataclass(frozen=True)
class HostResult:
    """How the rollout went on one host."""

    endpoint: str
    state: str  # "switched", "failed", "switched back", "not started", "unchanged"
    seconds: float
    message: str = ""


@dataclass(frozen=True)
class RolloutResult:
    """The outcome of a rollout: ok, or the reason it failed (one line for the pusher)."""

    ok: bool
    reason: str | None
    hosts: tuple[HostResult, ...]


@dataclass(frozen=True)
class LockInfo:
    """A deploy lock held on a host: who, since when (UTC, ISO 8601), for which release."""

    who: str
    since: str
    release: str


@dataclass(frozen=True)
class ServerStatus:
    """What `fleetgate server status` shows for one host."""

    endpoint: str
    reachable: bool
    error: str | None  # why the host could not be asked, one line
    release: str | None  # the release hash the proxy sends traffic to (or the running one)
    healthy: bool | None  # the proxy's health check of that container; None without a web service
    lock: LockInfo | None
    containers: tuple[tuple[str, str, str], ...]  # (name, release hash, docker state) of the fleet


class RolloutError(RuntimeError):
    """A rollout step failed on a host; the message says which and why, in one line."""


Say = Callable[[str], None]


def rollout(
    release: RolloutRelease,
    servers: tuple[ServerTarget, ...] | list[ServerTarget],
    *,
    who: str,
    say: Say,
    options: RolloutOptions = RolloutOptions(),
) -> RolloutResult:
    """Roll `release` out: the first server (canary), then the rest in parallel; switch all back on failure.

    A host that already has a container of this release (a retained one: a rollback) starts it again
    instead of pulling and creating a new one.
    """
    raise NotImplementedError


def status(server: ServerTarget, fleet_slug: str, options: RolloutOptions = RolloutOptions()) -> ServerStatus:
    """The fleet's state on one host: running release, its health, the deploy lock, its containers."""
    raise NotImplementedError


def unlock(
    server: ServerTarget, fleet_slug: str, options: RolloutOptions = RolloutOptions()
) -> LockInfo | None:
    """Remove the fleet's deploy lock on the host; the lock that was held, None when there was none."""
    raise NotImplementedError
