"""A fleet's rollout: its release and servers turned into the rollout engine's input, and run (issue 5).

Used by the push (before the ref moves, DESIGN.md §2.3), `fleetgate deploy` and `fleetgate rollback`.
What a host runs is the operator's configuration plus the release: each server's services by its role
(`roles`), each service's environment as compose wrote it overlaid by `fleetgate env` (secret values are
passed, never printed), the registry credentials, the fleet's proxy host name and TLS files, and what
each host keeps after switching: the fleet's retention with the new release counted in
(deploy/retention.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy.orm import Session

from fleetgate import releases
from fleetgate.db import Database
from fleetgate.fleets import Fleet
from fleetgate.releases import Release

from .. import variables
from ..registry_token_route import rollout_registry
from ..retention import retain
from ..retention_facts import fleet_facts
from . import inventory as servers
from . import rollout as engine
from .roles import services_for
from .rollout import RolloutOptions, RolloutRelease, RolloutResult, ServerStatus, ServerTarget
from .status import remove_lock, server_status

if TYPE_CHECKING:
    from fleetgate.settings import Settings

NO_REGISTRY = (
    "server rollouts pull images from a registry and none is configured: "
    "set FLEETGATE_REGISTRY (and FLEETGATE_REGISTRY_USER/FLEETGATE_REGISTRY_PASSWORD)"
)


class FleetRolloutError(ValueError):
    """A rollout cannot start (no registry, no servers, a role no service has); says what to do."""


@dataclass(frozen=True)
class RolloutConfig:
    """The operator's settings a rollout needs; the composition root builds it from its settings."""

    registry: tuple[str, str, str] | None  # (server, user, password); None: no registry configured
    registry_configured: bool
    known_hosts: Path
    options: RolloutOptions
    keep: int | None  # FLEETGATE_RELEASES_KEPT; None: nothing is pruned
    # A fleet's own pull credential (token auth: pull-only, that fleet, an hour); None: `registry` for all.
    registry_for: Callable[[str], tuple[str, str, str] | None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> RolloutConfig:
        """The rollout configuration in `settings` (FLEETGATE_REGISTRY*, FLEETGATE_PROXY_*, …)."""
        r = settings.rollout
        registry = None
        if settings.registry and settings.registry_user:
            registry = (settings.registry, settings.registry_user, settings.registry_password or "")
        options = RolloutOptions(
            proxy_image=r.proxy_image,
            http_port=r.http_port,
            https_port=r.https_port,
            proxy_bind=r.proxy_bind,
            upstream_bind=r.upstream_bind,
            health_timeout=r.health_timeout,
            drain_timeout=r.drain_timeout,
            readiness_delay=r.readiness_delay,
            parallel=r.parallel,
        )
        return cls(
            registry,
            bool(settings.registry),
            settings.known_hosts_path,
            options,
            settings.releases_kept,
            functools.partial(rollout_registry, settings),
        )


def compose_environment(body: Mapping[str, Any]) -> dict[str, str]:
    """A compose service's `environment`, written as a mapping or as a list of KEY=VALUE."""
    given = body.get("environment") or {}
    if isinstance(given, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in given.items()}
    return {key: value for key, _, value in (str(item).partition("=") for item in given)}


def target(
    server: servers.Server, known_hosts: Path, services: tuple[str, ...] | None = None
) -> ServerTarget:
    """The engine's view of one server."""
    key = None if server.key_path is None else Path(server.key_path)
    address = server.address
    return ServerTarget(address.host, address.port, address.user, key, server.role, known_hosts, services)


def server_targets(
    listed: list[servers.Server], services: Mapping[str, Mapping[str, Any]], known_hosts: Path, release: str
) -> tuple[ServerTarget, ...]:
    """The fleet's servers, each with the services its role selects (pure)."""
    chosen = []
    for server in listed:
        names = services_for(server.role, services)
        if not names:
            raise FleetRolloutError(
                f"server {server.address.endpoint} has role {server.role} but no service of {release} is "
                f"labelled io.fleetgate.role={server.role}; label one or change the server's role"
            )
        chosen.append(target(server, known_hosts, names))
    return tuple(chosen)


def prepare(
    session: Session, fleet: Fleet, release: Release, config: RolloutConfig
) -> tuple[RolloutRelease, tuple[ServerTarget, ...]]:
    """The engine's input for rolling `release` out to the fleet's servers."""
    if not config.registry_configured:
        raise FleetRolloutError(NO_REGISTRY)
    listed = servers.list_servers(session, fleet.id)
    if not listed:
        raise FleetRolloutError(
            f"{fleet.slug} has no servers; add one: fleetgate server add {fleet.slug} ssh://USER@HOST"
        )
    if release.composition is None:
        raise FleetRolloutError(f"release {release.name} has no composition; it never finished building")
    composition = yaml.safe_load(release.composition)
    services = composition.get("services") or {}
    environment = {
        name: {**compose_environment(body), **variables.effective(session, fleet.id, name)}
        for name, body in services.items()
    }
    proxy = servers.proxy_of(session, fleet.id)
    given = RolloutRelease(
        fleet_slug=fleet.slug,
        fleet_id=fleet.id,
        release_hash=release.hash,
        release_name=release.name,
        composition=composition,
        environment=environment,
        registry=config.registry_for(fleet.slug) if config.registry_for else config.registry,
        proxy_host=proxy.host,
        tls_cert=None if proxy.tls_cert is None else Path(proxy.tls_cert),
        tls_key=None if proxy.tls_key is None else Path(proxy.tls_key),
        # Each host keeps what the fleet keeps once this release runs (it counts as the newest).
        retention=None
        if config.keep is None
        else retain(fleet_facts(session, fleet, becoming=release), config.keep, release.hash),
    )
    return given, server_targets(listed, services, config.known_hosts, release.name)


def roll_out(
    database: Database,
    fleet: Fleet,
    release: Release,
    config: RolloutConfig,
    who: str,
    say: Callable[[str], None],
) -> RolloutResult:
    """Roll `release` out to every server of the fleet: the canary, then the rest; all back on failure."""
    with database.session(readonly=True) as session:
        given, hosts = prepare(session, fleet, release, config)
    return engine.rollout(given, hosts, who=who, say=say, options=config.options)


def _targets(database: Database, fleet: Fleet, config: RolloutConfig) -> tuple[ServerTarget, ...]:
    with database.session(readonly=True) as session:
        return tuple(target(s, config.known_hosts) for s in servers.list_servers(session, fleet.id))


def statuses(database: Database, fleet: Fleet, config: RolloutConfig) -> list[ServerStatus]:
    """What each of the fleet's servers runs, asked of all of them at once."""
    hosts = _targets(database, fleet, config)
    if not hosts:
        return []
    with ThreadPoolExecutor(max_workers=min(len(hosts), config.options.parallel + 1)) as pool:
        return list(pool.map(lambda h: server_status(h, fleet.slug, config.options), hosts))


def unlock(
    database: Database, fleet: Fleet, endpoint: str, config: RolloutConfig
) -> tuple[servers.Server, engine.LockInfo | None]:
    """Remove the fleet's deploy lock on one of its servers; the lock that was held, if any."""
    with database.session(readonly=True) as session:
        server = servers.find_server(session, fleet, endpoint)
    return server, remove_lock(target(server, config.known_hosts), fleet.slug, config.options)


def release_names(session: Session, fleet_id: int) -> dict[str, str]:
    """Release hash → `OWNER/NAME#N` for the fleet, to show what servers run."""
    return {r.hash: r.name for r in releases.list_releases(session, fleet_id)}
