"""`fleetgate deploy`, `fleetgate server status|unlock`: rollouts to servers run from the terminal (issue 5).

The rollout engine (and the SSH stack it brings) is imported inside the commands: other commands start
without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from fleetgate.operations import servers as server_ops
from fleetgate.operations import targets as target_ops
from fleetgate.operations import views

from .context import app_of
from .output import Failure, echo, json_option, print_table, to_json
from .servers import server

if TYPE_CHECKING:
    from fleetgate.deploy.servers.fleet_rollout import RolloutConfig

    from .context import App


def _config(app: App) -> RolloutConfig:
    # Imported here: the rollout engine brings the SSH stack, which other commands do without.
    from fleetgate.deploy.servers.fleet_rollout import RolloutConfig

    return RolloutConfig.from_settings(app.settings)


@click.command("deploy")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("spec", metavar="[RELEASE]", required=False)
@click.pass_context
def deploy(ctx: click.Context, slug: str, spec: str | None) -> None:
    """Roll the fleet's target (or RELEASE, which then becomes the pinned target) out to its servers again."""
    app = app_of(ctx)
    done = target_ops.deploy(app.context, app.actor, slug, spec, echo)
    if not done.pinned:
        echo(f"{done.fleet.slug}'s servers run its target {done.release.name}")
        return
    echo(f"{done.fleet.slug} is pinned to {done.release.name}")
    echo(f"new releases wait until: fleetgate fleet pin {done.fleet.slug} --latest")


def _health(healthy: bool | None) -> str:
    return {True: "healthy", False: "unhealthy", None: "-"}[healthy]


def _trouble(row: dict) -> str | None:
    """What is wrong with one server's status (`10.0.0.5:22 unreachable`), or None."""
    if not row["reachable"]:
        return f"{row['server']} unreachable"
    if row["error"]:
        return f"{row['server']} status unknown"
    return f"{row['server']} unhealthy" if row["healthy"] is False else None


def _shown(row: dict) -> tuple[str, str, str, str]:
    if not row["reachable"] or row["error"]:
        health = "unreachable" if not row["reachable"] else "unknown"
        return (row["server"], "?", health, row["error"] or "-")
    release = "-" if row["release"] is None else f"{row['release_name'] or '?'} ({row['release'][:7]})"
    lock = "-" if row["lock"] is None else f"held by {row['lock']['who']} since {row['lock']['since']}"
    return (row["server"], release, _health(row["healthy"]), lock)


@server.command("status")
@click.argument("slug", metavar="OWNER/NAME")
@json_option
@click.pass_context
def server_status(ctx: click.Context, slug: str, as_json: bool) -> None:
    """Show what each server runs: the release, its health and the deploy lock.

    Exits 1 (after the table) when a server is unreachable or unhealthy: a check for cron or monitoring.
    """
    app = app_of(ctx)
    statuses, names = server_ops.server_status(app.context, app.actor, slug)
    rows = [views.server_status(s, names) for s in statuses]
    if as_json:
        echo(to_json(rows))
    else:
        print_table(("SERVER", "RELEASE", "HEALTH", "LOCK"), (_shown(r) for r in rows))
    troubles = [found for found in map(_trouble, rows) if found]
    if troubles:
        raise Failure(f"{len(troubles)} of {len(rows)} servers need attention: {', '.join(troubles)}")


@server.command("unlock")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("endpoint", metavar="HOST[:PORT]")
@click.pass_context
def server_unlock(ctx: click.Context, slug: str, endpoint: str) -> None:
    """Remove a deploy lock left on a server (by a rollout that was killed, say)."""
    from fleetgate.deploy.servers.rollout import RolloutError

    app = app_of(ctx)
    try:
        found, server_found, lock = server_ops.unlock(app.context, app.actor, slug, endpoint)
    except RolloutError as error:
        raise Failure(str(error)) from None
    if lock is None:
        echo(f"{server_found.address.endpoint} had no deploy lock for {found.slug}")
        return
    echo(
        f"removed the deploy lock on {server_found.address.endpoint} held by {lock.who} since {lock.since} "
        f"(release {lock.release})"
    )
