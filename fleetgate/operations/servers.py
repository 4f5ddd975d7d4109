"""A fleet's servers as its users see them: the list, and what each runs (release, health, lock)."""

from __future__ import annotations

from dataclasses import dataclass

from fleetgate import fleets
from fleetgate.deploy.servers import inventory as servers
from fleetgate.deploy.servers import known_hosts
from fleetgate.deploy.servers.inventory import Server

from .actor import Actor
from .permissions import OPERATOR, STRANGER, check_operator
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
    from fleetgate.deploy.servers import fleet_rollout  # brings the SSH stack; only this operation needs it
    from fleetgate.deploy.servers.fleet_rollout import RolloutConfig

    with ctx.database.session(readonly=True) as session:
        found = fleet_for(session, actor, slug, "server.status")
        names = fleet_rollout.release_names(session, found.id)
    return fleet_rollout.statuses(ctx.database, found, RolloutConfig.from_settings(ctx.settings)), names


def add_server(
    ctx: Context,
    actor: Actor,
    slug: str,
    address: str,
    role: str | None,
    key_path: str | None,
    proxy: servers.Proxy,
) -> ServerRow:
    """Roll the fleet's releases out to the server at `address` too (and set the fleet's proxy, if given)."""
    parsed = servers.parse_address(address)
    with ctx.database.session() as session:
        found = fleet_for(session, actor, slug, "server.add")
        added = servers.add_server(session, found, parsed, role, key_path)
        if proxy != servers.Proxy():
            servers.set_proxy(session, found.id, proxy)
    return ServerRow(found, added, _trusted(ctx, added))


def remove_server(ctx: Context, actor: Actor, slug: str, endpoint: str) -> ServerRow:
    """Stop rolling the fleet out to a server (what runs there keeps running)."""
    with ctx.database.session() as session:
        found = fleet_for(session, actor, slug, "server.remove")
        removed = servers.remove_server(session, found, endpoint)
    return ServerRow(found, removed, _trusted(ctx, removed))


def set_proxy(
    ctx: Context, actor: Actor, slug: str, proxy: servers.Proxy
) -> tuple[fleets.Fleet, servers.Proxy]:
    """The fleet's proxy settings; set them first when `proxy` names any."""
    with ctx.database.session() as session:
        found = fleet_for(session, actor, slug, "server.proxy")
        if proxy == servers.Proxy():
            return found, servers.proxy_of(session, found.id)
        return found, servers.set_proxy(session, found.id, proxy)


def unlock(ctx: Context, actor: Actor, slug: str, endpoint: str):
    """Remove a deploy lock a killed rollout left on a server; returns the server and the lock (or None)."""
    from fleetgate.deploy.servers import fleet_rollout
    from fleetgate.deploy.servers.fleet_rollout import RolloutConfig

    with ctx.database.session(readonly=True) as session:
        found = fleet_for(session, actor, slug, "server.unlock")
    return found, *fleet_rollout.unlock(
        ctx.database, found, endpoint, RolloutConfig.from_settings(ctx.settings)
    )


def ports_on(ctx: Context, actor: Actor, host: str) -> list[int]:
    """The SSH ports the servers on `host` use (for `server trust HOST` without a port)."""
    check_operator("server.trust", OPERATOR if actor.is_operator else STRANGER)
    with ctx.database.session(readonly=True) as session:
        return servers.ports_of(session, host)
