"""Prune: every fleet's images beyond its retention, on its servers, in the registry and on the build
daemons, in that order (issue 19; `fleetgate prune` and `serve`'s daily prune).

Servers first, because what they run is kept everywhere; the registry next, for the fleets whose servers
all answered (a server not asked may need a manifest); the build daemons last. The plans are pure
(deploy/retention.py, deploy/prune_plan.py, deploy/servers/prune.py); this sequences the I/O top to
bottom and says what it removed, or on a dry run would remove, per place.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from fleetgate.build.daemon_images import DaemonError, list_tags, remove_tags
from fleetgate.build.publish import Registry
from fleetgate.build.registry_manifests import RegistryClient, RegistryError

from fleetgate import fleets
from fleetgate.db import Database

from .prune_plan import daemon_deletions, registry_deletions, registry_repositories
from .retention import FleetFacts, Retention
from .retention_facts import fleet_facts
from .servers import inventory
from .servers.fleet_prune import FleetPruned, prune_servers
from .servers.fleet_rollout import RolloutConfig, target
from .servers.rollout import ServerTarget


class PruneOff(ValueError):
    """FLEETGATE_RELEASES_KEPT is off: nothing is pruned; says how to turn it on."""


@dataclass(frozen=True)
class PruneConfig:
    """What a prune reaches: the retention, the build daemons by name, the registry, the servers' access."""

    keep: int | None
    builders: tuple[tuple[str, str | None], ...]  # (name, DOCKER_HOST URL; None: Docker's default)
    registry: Registry | None
    servers: RolloutConfig


@dataclass(frozen=True)
class Removal:
    """One thing removed (or, on a dry run, to remove) at one place, and the release it belonged to."""

    place: str  # `server HOST[:PORT]`, `registry HOST:PORT`, `build daemon NAME`
    kind: str  # container, image, manifest, tag
    name: str
    fleet: str
    release: str  # OWNER/NAME#N
    status: str  # the release's status (failed ones go first); "" when no release was recorded with it
    refused: str | None = None  # why the place refused to remove it; None: removed

    def describe(self, dry_run: bool) -> str:
        """One line for the operator; a dry run's differs from the real run's only in its first words."""
        what = f"{self.kind} {self.name} from {self.place}"
        release = self.release if self.status in ("success", "") else f"{self.release}, {self.status}"
        if self.refused:
            return f"could not remove {what} ({release}): {self.refused}"
        return f"{'would remove' if dry_run else 'removed'} {what} ({release})"


@dataclass(frozen=True)
class PruneReport:
    """What a prune did: the retention, each removal, what each fleet keeps, and places not pruned."""

    keep: int
    dry_run: bool
    removals: tuple[Removal, ...]
    kept: tuple[tuple[str, tuple[str, ...]], ...]  # (fleet, release names kept, newest first)
    problems: tuple[str, ...]  # one line per place that could not be pruned


def _removal(
    place: str, kind: str, name: str, retention: Retention, release: str, refused: str | None = None
) -> Removal:
    if not release:  # an image of the fleet's repositories no release was recorded with
        return Removal(place, kind, name, retention.slug, "recorded by no release", "", refused)
    return Removal(
        place, kind, name, retention.slug, retention.name(release), retention.status(release), refused
    )


def _facts(database: Database, config: PruneConfig) -> list[tuple[FleetFacts, tuple[ServerTarget, ...]]]:
    with database.session(readonly=True) as session:
        return [
            (
                fleet_facts(session, fleet),
                tuple(
                    target(s, config.servers.known_hosts) for s in inventory.list_servers(session, fleet.id)
                ),
            )
            for fleet in fleets.list_fleets(session)
        ]


def _servers(fleet: FleetPruned) -> Iterable[Removal]:
    for host in fleet.hosts:
        if host.pruned is None:
            continue
        place, refused = f"server {host.endpoint}", host.pruned.refused
        for name, release in host.pruned.plan.containers:
            yield _removal(place, "container", name, fleet.retention, release, refused.get(name))
        for name, release in host.pruned.plan.images:
            yield _removal(place, "image", name, fleet.retention, release, refused.get(name))


def _registry(client: RegistryClient, retention: Retention, dry_run: bool) -> list[Removal]:
    host = client.registry.host
    repositories = {
        repository: {tag: client.digest(repository, tag) for tag in client.tags(repository)}
        for repository in registry_repositories(retention, host)
    }
    found = {r: {t: d for t, d in tags.items() if d} for r, tags in repositories.items()}
    removals = []
    for deletion in registry_deletions(found, retention):
        if not dry_run:
            repository, _, digest = deletion.name.partition("@")
            client.delete(repository, digest)
        removals.append(_removal(f"registry {host}", "manifest", deletion.name, retention, deletion.release))
    return removals


def _daemon(name: str, url: str | None, retentions: list[Retention], dry_run: bool) -> list[Removal]:
    deletions = daemon_deletions(list_tags(url), retentions)
    refused = {} if dry_run else remove_tags(url, [d.name for d in deletions])
    by_slug = {r.slug: r for r in retentions}
    return [
        _removal(f"build daemon {name}", "tag", d.name, by_slug[d.slug], d.release, refused.get(d.name))
        for d in deletions
    ]


def _daemons(builders: Iterable[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    """Each daemon once, named by its builders (two builders may share one daemon)."""
    names: dict[str | None, list[str]] = {}
    for name, url in builders:
        names.setdefault(url, []).append(name)
    return [(", ".join(found), url) for url, found in names.items()]


def prune(
    database: Database,
    config: PruneConfig,
    who: str,
    dry_run: bool = False,
    stop: threading.Event | None = None,
) -> PruneReport:
    """Remove (or on a dry run only list) what no fleet keeps, everywhere; `stop` ends it between fleets."""
    stop = stop or threading.Event()
    if config.keep is None:
        raise PruneOff("pruning is off (FLEETGATE_RELEASES_KEPT=off); set it to a number of releases to keep")
    removals: list[Removal] = []
    problems: list[str] = []
    retentions: list[Retention] = []
    client = RegistryClient(config.registry) if config.registry else None
    for facts, servers in _facts(database, config):
        if stop.is_set():  # the gateway stops: every host's lock is released already, the rest waits
            return _report(config.keep, dry_run, removals, retentions, problems + ["stopped early"])
        fleet = prune_servers(facts, config.keep, servers, config.servers.options, who, dry_run)
        retentions.append(fleet.retention)
        removals += _servers(fleet)
        problems += [f"server {h.endpoint} ({facts.slug}): {h.problem}" for h in fleet.hosts if h.problem]
        if client is None:
            continue
        if not fleet.complete:
            problems.append(
                f"registry {client.registry.host}: {facts.slug} left alone until all its servers answer"
            )
            continue
        try:
            removals += _registry(client, fleet.retention, dry_run)
        except RegistryError as error:
            problems.append(f"registry {client.registry.host} ({facts.slug}): {error}")
    for name, url in _daemons(config.builders):
        if stop.is_set():
            return _report(config.keep, dry_run, removals, retentions, problems + ["stopped early"])
        try:
            removals += _daemon(name, url, retentions, dry_run)
        except DaemonError as error:
            problems.append(f"build daemon {name}: {error}")
    return _report(config.keep, dry_run, removals, retentions, problems)


def _report(
    keep: int, dry_run: bool, removals: list[Removal], retentions: list[Retention], problems: list[str]
) -> PruneReport:
    kept = tuple((r.slug, tuple(r.name(h) for h in r.kept)) for r in retentions)
    return PruneReport(keep, dry_run, tuple(removals), kept, tuple(problems))
