"""A fleet's prune on its servers (issue 19, `fleetgate prune`): lock every host, read what each runs,
plan each with the fleet's retention (what any host runs counts as needed), remove, audit, unlock.

A host that cannot be asked (unreachable, or a rollout holds the fleet's deploy lock there) is one
problem line, and the fleet is incomplete: the caller leaves its registry manifests alone, since that
host may need them. A dry run reads and takes no lock.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from ..retention import FleetFacts, Retention, retain
from . import commands as cmd
from .host_containers import HostError, list_containers
from .prune import RUNNING, HostPruned, prune
from .rollout import RolloutOptions, ServerTarget, connect_to
from .ssh import Connection, SSHError


@dataclass(frozen=True)
class HostOutcome:
    """One host of the fleet: what was (or would be) removed there, or why it could not be pruned."""

    endpoint: str
    pruned: HostPruned | None = None
    problem: str | None = None


@dataclass(frozen=True)
class FleetPruned:
    """The fleet's retention, as its servers' running releases made it, and each host's outcome."""

    retention: Retention
    hosts: tuple[HostOutcome, ...] = ()

    @property
    def complete(self) -> bool:
        """Every host was asked (the registry may be pruned for the fleet)."""
        return all(host.problem is None for host in self.hosts)


@dataclass
class _Host:
    """A host while the fleet is pruned (mutable on purpose: each step fills it in)."""

    server: ServerTarget
    conn: Connection | None = None
    locked: bool = False
    running: set[str] = field(default_factory=set)
    problem: str | None = None


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _open(host: _Host, slug: str, options: RolloutOptions, who: str, dry_run: bool) -> None:
    try:
        host.conn = connect_to(host.server, options)
        if not dry_run:
            out = host.conn.run(cmd.lock(slug, {"who": who, "since": _stamp(), "release": "prune"}))
            if out.status == cmd.LOCK_HELD:
                raise HostError(cmd.lock_held(out.stdout, slug, host.server.endpoint))
            host.locked = True
        host.running = {c.release for c in list_containers(host.conn, slug) if c.state in RUNNING}
    except (SSHError, HostError) as error:
        host.problem = str(error)


def _prune(host: _Host, retention: Retention, who: str, dry_run: bool) -> HostOutcome:
    endpoint = host.server.endpoint
    if host.problem is not None or host.conn is None:
        return HostOutcome(endpoint, problem=host.problem)
    try:
        pruned = prune(host.conn, retention, lambda _: None, dry_run)
        gone = len(pruned.plan.containers) + len(pruned.plan.images) - len(pruned.refused)
        if gone and not dry_run:
            host.conn.call(
                cmd.audit(f"{_stamp()} {who} pruned {gone} container(s) and image(s) of {retention.slug}")
            )
        return HostOutcome(endpoint, pruned)
    except (SSHError, HostError) as error:
        return HostOutcome(endpoint, problem=str(error))


def _close(host: _Host, slug: str) -> None:
    if host.conn is not None:
        if host.locked:
            host.conn.call(cmd.unlock(slug))
        host.conn.close()


def prune_servers(
    facts: FleetFacts,
    keep: int,
    servers: tuple[ServerTarget, ...],
    options: RolloutOptions,
    who: str,
    dry_run: bool = False,
) -> FleetPruned:
    """Prune the fleet on each of its servers; with none, just the fleet's retention."""
    if not servers:
        return FleetPruned(retain(facts, keep))
    hosts = [_Host(server) for server in servers]
    with ThreadPoolExecutor(max_workers=max(1, min(len(hosts), options.parallel))) as pool:
        try:
            list(pool.map(lambda h: _open(h, facts.slug, options, who, dry_run), hosts))
            running = set().union(*(h.running for h in hosts))
            retention = retain(replace(facts, needed=facts.needed | running), keep)
            outcomes = tuple(pool.map(lambda h: _prune(h, retention, who, dry_run), hosts))
        finally:
            for host in hosts:
                _close(host, facts.slug)
    return FleetPruned(retention, outcomes)
