"""`fleetgate deploy`, `fleetgate server status|unlock`: rollouts to servers run from the terminal (issue 5).

The rollout engine (and the SSH stack it brings) is imported inside the commands: other commands start
without it.
"""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING

import click

from . import fleets, releases
from .cli_output import Failure, json_option, print_table, to_json
from .cli_servers import server
from .deploy import targets
from .hooks.output import sanitise

if TYPE_CHECKING:
    from .cli import App
    from .deploy.fleet_rollout import RolloutConfig
    from .deploy.rollout import ServerStatus


def _app(ctx: click.Context) -> App:
    return ctx.find_root().obj


def _config(app: App) -> RolloutConfig:
    # Imported here: the rollout engine brings the SSH stack, which other commands do without.
    from .deploy.fleet_rollout import RolloutConfig

    return RolloutConfig.from_settings(app.settings)


def _say(line: str) -> None:
    click.echo(sanitise(line))


def roll_out(app: App, fleet: fleets.Fleet, release: releases.Release, why: str) -> None:
    """Roll `release` out to the fleet's servers from this terminal; a Failure when it did not switch."""
    from .deploy import fleet_rollout
    from .deploy.fleet_rollout import FleetRolloutError
    from .deploy.rollout import RolloutError

    who = f"{getpass.getuser()} ({why})"
    click.echo(f"rolling out {release.name} ({release.short_hash}) to the servers of {fleet.slug}")
    try:
        result = fleet_rollout.roll_out(app.database, fleet, release, _config(app), who, _say)
    except (FleetRolloutError, RolloutError) as error:
        raise Failure(f"rollout failed: {error}") from None
    for host in result.hosts:
        click.echo(
            f"{host.endpoint}: {host.state} in {host.seconds:.1f} s"
            + (f" ({host.message})" if host.message else "")
        )
    if not result.ok:
        raise Failure(f"rollout failed: {result.reason or 'see the lines above'}")


@click.command("deploy")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("spec", metavar="[RELEASE]", required=False)
@click.pass_context
def deploy(ctx: click.Context, slug: str, spec: str | None) -> None:
    """Roll the fleet's target (or RELEASE, which then becomes the pinned target) out to its servers again."""
    app = _app(ctx)
    with app.database.session(readonly=True) as session:
        found = fleets.get_fleet(session, *fleets.parse_slug(slug))
        target = targets.target_of(session, found.id).release
        chosen = target if spec is None else releases.find_release(session, spec)
        if chosen is None:
            raise Failure(f"{found.slug} has no target yet: push a release first, or name one")
        targets.check_target(found, chosen)
    roll_out(app, found, chosen, "fleetgate deploy")
    if target is not None and chosen.id == target.id:
        click.echo(f"{found.slug}'s servers run its target {chosen.name}")
        return
    with app.database.session() as session:
        targets.pin(session, found, chosen)
    click.echo(f"{found.slug} is pinned to {chosen.name}")
    click.echo(f"new releases wait until: fleetgate fleet pin {found.slug} --latest")


def _status_facts(status: ServerStatus, names: dict[str, str]) -> dict[str, object]:
    lock = (
        None
        if status.lock is None
        else {"who": status.lock.who, "since": status.lock.since, "release": status.lock.release}
    )
    return {
        "server": status.endpoint,
        "reachable": status.reachable,
        "error": status.error,
        "release": status.release,
        "release_name": names.get(status.release or ""),
        "healthy": status.healthy,
        "lock": lock,
        "containers": [{"name": n, "release": r, "state": s} for n, r, s in status.containers],
    }


def _health(healthy: bool | None) -> str:
    return {True: "healthy", False: "unhealthy", None: "-"}[healthy]


@server.command("status")
@click.argument("slug", metavar="OWNER/NAME")
@json_option
@click.pass_context
def server_status(ctx: click.Context, slug: str, as_json: bool) -> None:
    """Show what each server runs: the release, its health and the deploy lock."""
    from .deploy import fleet_rollout

    app = _app(ctx)
    with app.database.session(readonly=True) as session:
        found = fleets.get_fleet(session, *fleets.parse_slug(slug))
        names = fleet_rollout.release_names(session, found.id)
    rows = [_status_facts(s, names) for s in fleet_rollout.statuses(app.database, found, _config(app))]
    if as_json:
        click.echo(to_json(rows))
        return

    def shown(row: dict) -> tuple[str, str, str, str]:
        if not row["reachable"]:
            return (row["server"], "?", "unreachable", row["error"] or "-")
        release = "-" if row["release"] is None else f"{row['release_name'] or '?'} ({row['release'][:7]})"
        lock = "-" if row["lock"] is None else f"held by {row['lock']['who']} since {row['lock']['since']}"
        return (row["server"], release, _health(row["healthy"]), lock)

    print_table(("SERVER", "RELEASE", "HEALTH", "LOCK"), (shown(r) for r in rows))


@server.command("unlock")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("endpoint", metavar="HOST[:PORT]")
@click.pass_context
def server_unlock(ctx: click.Context, slug: str, endpoint: str) -> None:
    """Remove a deploy lock left on a server (by a rollout that was killed, say)."""
    from .deploy import fleet_rollout
    from .deploy.rollout import RolloutError

    app = _app(ctx)
    with app.database.session(readonly=True) as session:
        found = fleets.get_fleet(session, *fleets.parse_slug(slug))
    try:
        server_found, lock = fleet_rollout.unlock(app.database, found, endpoint, _config(app))
    except RolloutError as error:
        raise Failure(str(error)) from None
    if lock is None:
        click.echo(f"{server_found.address.endpoint} had no deploy lock for {found.slug}")
        return
    click.echo(
        f"removed the deploy lock on {server_found.address.endpoint} held by {lock.who} since {lock.since} "
        f"(release {lock.release})"
    )
