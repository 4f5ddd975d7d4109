"""Rollout: a release onto a fleet's servers over SSH, kamal style (issue 5, DESIGN.md §2.5).

Per host: lock, log in, pull by digest, ensure the proxy, start the new containers, health-check the web
service through the proxy, switch the proxy to it, drain and stop the old ones, prune, audit, unlock.
The first server is the canary; the rest follow in parallel (`RolloutOptions.parallel`). When any host
fails, every host already switched is switched back to the containers it served before, and the result
says why. The commands are data (`commands`); this module only sequences them.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..retention import Retention
from . import commands as cmd
from .container_spec import SpecError, check_services, create, environment_of, web_service
from .host_rollout import Deployed, HostError, Plan, deploy, switch_back
from .prune import prune
from .roles import RoleError
from .ssh import Connection, SSHError, connect


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
    # What each host keeps of the fleet after switching (deploy/retention.py); None: prune nothing.
    retention: Retention | None = None


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
    readiness_delay: float = 7.0  # seconds a service without a health check must keep running (Kamal's)
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

    @property
    def failure(self) -> str:
        """Why it failed, in one line that says "rollout failed" once ("" when it did not fail)."""
        if self.ok:
            return ""
        reason = self.reason or "see the lines above"
        # A host's failure reads "rollout failed on HOST: …"; a refusal before any host is the bare cause.
        return reason if reason.startswith("rollout failed") else f"rollout failed: {reason}"


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
log = logging.getLogger(__name__)


def _plan(release: RolloutRelease, server: ServerTarget, options: RolloutOptions) -> Plan:
    services = dict((release.composition.get("services") or {}).items())
    if server.services is not None:
        services = {name: body for name, body in services.items() if name in server.services}
    certificate = None
    if release.tls_cert and release.tls_key:
        try:
            certificate = release.tls_cert.read_bytes().rstrip() + b"\n" + release.tls_key.read_bytes()
        except OSError as error:
            raise RolloutError(f"cannot read the TLS files of {release.fleet_slug}: {error}") from None
    # Every host's env files and containers are made here, before any host changes: a value found bad
    # on the third host would leave the canary serving a release the push then rejects.
    web = web_service(services)
    upstream = options.upstream_bind.replace("{host}", server.host)
    env_files, creates = {}, {}
    for name, body in services.items():
        container = cmd.container_name(release.fleet_slug, name, release.release_hash)
        try:
            env_files[name] = cmd.env_file(container, environment_of(body, release.environment.get(name, {})))
        except cmd.CommandError as error:
            raise cmd.CommandError(f"service {name}: {error}") from None
        creates[name] = create(
            release.fleet_slug, release.release_hash, name, body, container, web, upstream, len(services) > 1
        )
    return Plan(
        release.fleet_slug,
        release.release_hash,
        release.release_name,
        services,
        env_files,
        creates,
        web,
        release.registry,
        release.proxy_host,
        certificate,
        options,
        server.host,
    )


def connect_to(server: ServerTarget, options: RolloutOptions) -> Connection:
    return connect(
        server.host, server.port, server.user, server.key_path, server.known_hosts, options.connect_timeout
    )


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Host:
    """One host during a rollout (mutable on purpose: the thread running it fills it in)."""

    server: ServerTarget
    plan: Plan
    conn: Connection | None = None
    locked: bool = False
    deployed: Deployed | None = None
    result: HostResult | None = None


def _run_host(host: _Host, release: RolloutRelease, who: str, say: Say) -> None:
    endpoint, started = host.server.endpoint, time.monotonic()
    tell = lambda line: say(f"{endpoint}: {line}")  # noqa: E731
    try:
        host.conn = connect_to(host.server, host.plan.options)
        since = _stamp()
        details = {"who": who, "since": since, "release": release.release_name}
        out = host.conn.run(cmd.lock(release.fleet_slug, details))
        if out.status == cmd.LOCK_HELD:
            raise HostError(cmd.lock_held(out.stdout, release.fleet_slug, endpoint))
        host.locked = True
        tell(f"rolling out {release.release_name}")
        host.deployed = deploy(host.conn, host.plan, tell)
        try:
            if release.retention is not None:
                # What the host ran before stays: another host may fail yet, and this one switch back.
                prune(host.conn, release.retention, tell, also=host.deployed.previous_releases)
            line = f"{since} {who} deployed {release.release_name} {release.release_hash}"
            host.conn.run(cmd.audit(line))
        except (SSHError, HostError) as error:  # the host serves the release: a warning, not a failure
            tell(f"warning: {error}")
        seconds = time.monotonic() - started
        tell(f"serving {release.release_name} ({seconds:.1f}s)")
        host.result = HostResult(endpoint, "switched", seconds)
    except (HostError, SSHError, SpecError, cmd.CommandError) as error:
        _failed(host, release, who, tell, started, str(error))
    except Exception:  # a fault of fleetgate: the host still fails, so every other host switches back
        reference = uuid.uuid4().hex[:8]
        log.exception("rollout of %s to %s failed (ref %s)", release.release_name, endpoint, reference)
        _failed(host, release, who, tell, started, f"internal error (ref {reference}; see the gateway's log)")


def _failed(host: _Host, release: RolloutRelease, who: str, tell: Say, started: float, why: str) -> None:
    tell(f"failed: {why}")
    if host.locked and host.conn is not None:
        host.conn.call(cmd.audit(f"{_stamp()} {who} failed to deploy {release.release_name}: {why}"))
    host.result = HostResult(host.server.endpoint, "failed", time.monotonic() - started, why)


def _switch_back(host: _Host, release: RolloutRelease, who: str, say: Say) -> None:
    endpoint = host.server.endpoint
    tell = lambda line: say(f"{endpoint}: {line}")  # noqa: E731
    assert host.conn is not None and host.deployed is not None and host.result is not None
    try:
        switch_back(host.conn, host.plan, host.deployed, tell)
        host.conn.run(
            cmd.audit(f"{_stamp()} {who} switched back from {release.release_name} {release.release_hash}")
        )
        host.result = HostResult(endpoint, "switched back", host.result.seconds, "another host failed")
    except (HostError, SSHError) as error:
        tell(f"switching back failed: {error}")
        host.result = HostResult(endpoint, "failed", host.result.seconds, f"switching back failed: {error}")


def _finish(hosts: list[_Host], release: RolloutRelease) -> None:
    for host in hosts:
        if host.conn is not None:
            if host.locked:
                host.conn.call(cmd.unlock(release.fleet_slug))
            host.conn.close()


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
    if not servers:
        return RolloutResult(True, None, ())
    lock = threading.Lock()

    def said(line: str) -> None:
        with lock:
            say(line)

    try:  # every check of every service first: a refused release touches no host
        check_services(release.fleet_slug, release.release_hash, release.composition.get("services") or {})
        hosts = [_Host(server, _plan(release, server, options)) for server in servers]
    except (SpecError, RoleError, RolloutError, cmd.CommandError) as error:
        return RolloutResult(False, str(error), ())
    try:
        _run_host(hosts[0], release, who, said)
        if hosts[0].result.state == "switched" and len(hosts) > 1:
            with ThreadPoolExecutor(max_workers=max(1, options.parallel)) as pool:
                list(pool.map(lambda host: _run_host(host, release, who, said), hosts[1:]))
        failed = [host for host in hosts if host.result and host.result.state == "failed"]
        if failed:
            done = [host for host in hosts if host.result and host.result.state == "switched"]
            with ThreadPoolExecutor(max_workers=max(1, options.parallel)) as pool:
                list(pool.map(lambda host: _switch_back(host, release, who, said), done))
    finally:
        _finish(hosts, release)
    results = tuple(host.result or HostResult(host.server.endpoint, "not started", 0.0) for host in hosts)
    if not failed:
        return RolloutResult(True, None, results)
    first = failed[0].result
    return RolloutResult(False, f"rollout failed on {first.endpoint}: {first.message}", results)
