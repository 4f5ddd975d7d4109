"""A fleet's servers as its users see them: the list, and what each runs (release, health, lock)."""

from __future__ import annotations

from dataclasses import dataclass

from fleetgate import fleets
from fleetgate.deploy import known_hosts, servers
from fleetgate.deploy.servers import Server

from .actor import Actor
from .scope import Context, fleet_for


@dataclass(frozen=True)
class ServerRow:
    """A server of the fleet, and whether its host key is trusted yet."""

    fleet: fleets.Fleet
    server: Server
    trusted: bool


def list_servers(ctx: Context, actor: Actor, slug: str) -> list[ServerRow]:
    """The fleet's servers; the first is the canary of each rollout."""
    with ctx.database.session(readonly=True) as session:
        found = fleet_for(session, actor, slug, "server.list")
        listed = servers.list_servers(session, found.id)
    return [ServerRow(found, s, _trusted(ctx, s)) for s in listed]


def _trusted(ctx: Context, server: Server) -> bool:
    name = known_hosts.host_name(server.address.host, server.address.port)
    return bool(known_hosts.recorded_keys(ctx.settings.known_hosts_path, name))


def server_status(ctx: Context, actor: Actor, slug: str) -> tuple[list, dict[str, str]]:
    """What each server runs (asked over SSH now), and the names of the fleet's releases by hash."""
    from fleetgate.deploy import fleet_rollout  # brings the SSH stack; only this operation needs it
    from fleetgate.deploy.fleet_rollout import RolloutConfig

    with ctx.database.session(readonly=True) as session:
        found = fleet_for(session, actor, slug, "server.status")
        names = fleet_rollout.release_names(session, found.id)
    return fleet_rollout.statuses(ctx.database, found, RolloutConfig.from_settings(ctx.settings)), names
