"""Status: what `fleetgate server status` and `server unlock` ask a host (issue 5)."""

from __future__ import annotations

import json

from . import commands as cmd
from .host_containers import HostError, list_containers
from .host_rollout import host_routes, stats
from .rollout import LockInfo, RolloutError, RolloutOptions, ServerStatus, ServerTarget, connect_to
from .ssh import SSHError


def server_status(server: ServerTarget, fleet_slug: str, options: RolloutOptions) -> ServerStatus:
    """The fleet's state on one host: running release, its health, the deploy lock, its containers."""
    try:
        conn = connect_to(server, options)
    except SSHError as error:
        return ServerStatus(server.endpoint, False, str(error), None, None, None, ())
    try:
        text = conn.run(cmd.lock_details(fleet_slug)).stdout.strip()
        lock = _lock_info(text)
        found = list_containers(conn, fleet_slug)
        containers = tuple((c.name, c.release, c.state) for c in found)
        running = [c for c in found if c.state == "running"]
        release = running[0].release if running else None
        healthy = None
        routes = [r for r in host_routes(conn) if r.fleet == fleet_slug]
        if routes and routes[0].live and routes[0].slot(routes[0].live):
            route = routes[0]
            release = route.slot(route.live).release
            stat = stats(conn, route).get(route.live)
            healthy = bool(stat and stat.healthy and stat.status == "UP")
        return ServerStatus(server.endpoint, True, None, release, healthy, lock, containers)
    except (SSHError, HostError) as error:
        return ServerStatus(server.endpoint, True, str(error), None, None, None, ())
    finally:
        conn.close()


def _lock_info(text: str) -> LockInfo | None:
    if not text:
        return None
    try:
        data = json.loads(text)
        return LockInfo(str(data.get("who")), str(data.get("since")), str(data.get("release")))
    except ValueError:
        return LockInfo("?", "?", "?")


def remove_lock(server: ServerTarget, fleet_slug: str, options: RolloutOptions) -> LockInfo | None:
    """Remove the fleet's deploy lock on the host; the lock that was held, None when there was none."""
    try:
        conn = connect_to(server, options)
    except SSHError as error:
        raise RolloutError(str(error)) from None
    try:
        held = _lock_info(conn.run(cmd.lock_details(fleet_slug)).stdout.strip())
        conn.run(cmd.unlock(fleet_slug))
        return held
    except SSHError as error:
        raise RolloutError(str(error)) from None
    finally:
        conn.close()
