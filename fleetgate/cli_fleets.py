"""`fleetgate fleet`, `fleetgate fleet member` and `fleetgate device-types` (DESIGN.md §3)."""

from __future__ import annotations

import dataclasses
import socket
from typing import TYPE_CHECKING

import click

from . import fleets, releases
from .cli_output import Failure, json_option, print_table, to_json
from .deploy import targets
from .device_types import DEVICE_TYPES, device_type

if TYPE_CHECKING:
    from .cli import App
    from .settings import Settings


def _app(ctx: click.Context) -> App:
    return ctx.find_root().obj


def _release_label(release: releases.Release | None) -> str:
    return "-" if release is None else f"{release.name} ({release.short_hash})"


def _target_facts(target: targets.Target) -> dict[str, object]:
    release = target.release
    shown = None if release is None else {"release": release.name, "id": release.number, "hash": release.hash}
    return {"target": shown, "pinned": target.pinned}


def remote_url(settings: Settings, fleet: fleets.Fleet) -> str:
    """The git remote a user adds for the fleet: `ssh://git@HOST:PORT/OWNER/NAME.git`."""
    host = settings.ssh_host
    if host in ("", "0.0.0.0", "::"):
        # A wildcard listen address is no address to connect to; the machine's name is.
        host = socket.getfqdn()
    if ":" in host:
        host = f"[{host}]"
    return f"ssh://git@{host}:{settings.ssh_port}/{fleet.owner}/{fleet.name}.git"


@click.command("device-types")
@json_option
def device_types(as_json: bool) -> None:
    """List the device types a fleet can be made of."""
    if as_json:
        click.echo(to_json(list(DEVICE_TYPES)))
        return
    print_table(("SLUG", "NAME", "ARCH"), ((d.slug, d.name, d.arch) for d in DEVICE_TYPES))


@click.group()
def fleet() -> None:
    """Create, list, show and remove fleets, and manage who may push to them."""


@fleet.command("create")
@click.argument("slug", metavar="OWNER/NAME")
@click.option(
    "--device-type", "type_slug", required=True, metavar="SLUG", help="See `fleetgate device-types`."
)
@click.pass_context
def fleet_create(ctx: click.Context, slug: str, type_slug: str) -> None:
    """Create a fleet and its git repository."""
    from fleetgate.gitd import repos

    app = _app(ctx)
    owner, name = fleets.parse_slug(slug)
    root, created = app.settings.repositories, None
    try:
        with app.database.session() as session:
            made = fleets.create_fleet(session, owner, name, type_slug)
            path = repos.repository_path(root, made.id)
            if path.exists():
                raise Failure(
                    f"{path} exists but no fleet owns it (left from an older database?); move it away"
                )
            created = repos.create_repository(root, made.id)
    except BaseException:
        if created is not None:  # the row was rolled back: the repository must go with it
            repos.remove_repository(root, made.id)
        raise
    arch = device_type(made.device_type).arch
    click.echo(f"created fleet {made.slug} ({made.device_type}, {arch})")
    click.echo("add it as a git remote in your project:")
    click.echo(f"  git remote add balena {remote_url(app.settings, made)}")


@fleet.command("list")
@click.option("--user", "user_name", metavar="USER", help="Only the fleets USER may push to.")
@json_option
@click.pass_context
def fleet_list(ctx: click.Context, user_name: str | None, as_json: bool) -> None:
    """List fleets."""
    with _app(ctx).database.session(readonly=True) as session:
        found = fleets.list_fleets(session, user_name)
    if as_json:
        click.echo(to_json([{**dataclasses.asdict(f), "slug": f.slug} for f in found]))
        return
    print_table(("FLEET", "DEVICE TYPE", "ID"), ((f.slug, f.device_type, f.id) for f in found))


@fleet.command("show")
@click.argument("slug", metavar="OWNER/NAME")
@json_option
@click.pass_context
def fleet_show(ctx: click.Context, slug: str, as_json: bool) -> None:
    """Show a fleet: device type, members, the git remote to push to and its target release."""
    app = _app(ctx)
    with app.database.session(readonly=True) as session:
        found = fleets.get_fleet(session, *fleets.parse_slug(slug))
        members = fleets.list_members(session, found.id)
        target = targets.target_of(session, found.id)
    facts = {
        "fleet": found.slug,
        "id": found.id,
        "device_type": found.device_type,
        "arch": device_type(found.device_type).arch,
        "owner": found.owner,
        "members": members,
        "remote": remote_url(app.settings, found),
        "wait_for_devices": found.wait_for_devices,
    }
    if as_json:
        click.echo(to_json({**facts, **_target_facts(target)}))
        return
    facts["target"] = _release_label(target.release)
    facts["pinned"] = "yes" if target.pinned else "no"
    del facts["wait_for_devices"]
    facts["push waits"] = "for devices" if found.wait_for_devices else "no"
    for label, value in facts.items():
        shown = (", ".join(value) or "-") if isinstance(value, list) else value
        click.echo(f"{label.replace('_', ' ') + ':':<13}{shown}")


@fleet.command("set")
@click.argument("slug", metavar="OWNER/NAME")
@click.option(
    "--wait-for-devices/--no-wait-for-devices",
    "wait",
    required=True,
    help="Every push streams the devices' rollout until they run it (as `git push -o wait=devices`).",
)
@click.pass_context
def fleet_set(ctx: click.Context, slug: str, wait: bool) -> None:
    """Change a fleet's settings."""
    with _app(ctx).database.session() as session:
        found = fleets.set_wait_for_devices(session, *fleets.parse_slug(slug), wait)
    said = "waits for its devices" if wait else "no longer waits for its devices (unless -o wait=devices)"
    click.echo(f"every push to {found.slug} {said}")


@fleet.command("remove")
@click.argument("slug", metavar="OWNER/NAME")
@click.pass_context
def fleet_remove(ctx: click.Context, slug: str) -> None:
    """Remove a fleet and delete its git repository."""
    from fleetgate.gitd import repos

    app = _app(ctx)
    with app.database.session() as session:
        removed = fleets.remove_fleet(session, *fleets.parse_slug(slug))
    # After the commit: a failed commit must not have lost the repository.
    repos.remove_repository(app.settings.repositories, removed.id)
    click.echo(f"removed fleet {removed.slug} and its repository")


@fleet.group("member")
def member() -> None:
    """Let users other than the owner push to a fleet, or stop them."""


@member.command("add")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("user_name", metavar="USER")
@click.pass_context
def member_add(ctx: click.Context, slug: str, user_name: str) -> None:
    """Let USER push to the fleet."""
    owner, name = fleets.parse_slug(slug)
    with _app(ctx).database.session() as session:
        fleets.add_member(session, owner, name, user_name)
    click.echo(f"{user_name} may now push to {owner}/{name}")


@member.command("remove")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("user_name", metavar="USER")
@click.pass_context
def member_remove(ctx: click.Context, slug: str, user_name: str) -> None:
    """Stop USER pushing to the fleet."""
    owner, name = fleets.parse_slug(slug)
    with _app(ctx).database.session() as session:
        fleets.remove_member(session, owner, name, user_name)
    click.echo(f"{user_name} may no longer push to {owner}/{name}")


@fleet.command("pin")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("spec", metavar="[RELEASE]", required=False)
@click.option("--latest", is_flag=True, help="Unpin: follow the newest successful release again.")
@click.pass_context
def fleet_pin(ctx: click.Context, slug: str, spec: str | None, latest: bool) -> None:
    """Keep the fleet on RELEASE whatever is pushed next, or follow new releases again (--latest)."""
    if (spec is None) == (not latest):
        raise click.UsageError("give either RELEASE or --latest")
    app = _app(ctx)
    _servers_follow(app, slug, spec, latest)
    with app.database.session() as session:
        found = fleets.get_fleet(session, *fleets.parse_slug(slug))
        if latest:
            target = targets.unpin_latest(session, found)
        else:
            target = targets.pin(session, found, releases.find_release(session, spec or ""))
    if latest:
        click.echo(f"{found.slug} follows its newest release again; target: {_release_label(target.release)}")
        return
    click.echo(f"pinned {found.slug} to {_release_label(target.release)}")
    click.echo(f"new releases wait until: fleetgate fleet pin {found.slug} --latest")


def _servers_follow(app: App, slug: str, spec: str | None, latest: bool) -> None:
    """Roll the fleet's servers to the release about to become its target, before it does."""
    from .cli_rollouts import roll_out
    from .deploy import servers

    with app.database.session(readonly=True) as session:
        found = fleets.get_fleet(session, *fleets.parse_slug(slug))
        if not servers.has_servers(session, found.id):
            return
        current = targets.target_of(session, found.id).release
        chosen = (
            releases.latest_success(session, found.id)
            if latest
            else releases.find_release(session, spec or "")
        )
        if chosen is None or (current is not None and chosen.id == current.id):
            return  # the servers run the target already
        targets.check_target(found, chosen)
    roll_out(app, found, chosen, "fleetgate fleet pin")


@click.command("rollback")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("spec", metavar="[RELEASE]", required=False)
@click.pass_context
def rollback(ctx: click.Context, slug: str, spec: str | None) -> None:
    """Make the previous deployed release (or RELEASE) the fleet's target, and pin the fleet to it.

    A fleet's servers switch back first (to the container kept for that release); the target moves after.
    """
    from .cli_rollouts import roll_out
    from .deploy import servers

    app = _app(ctx)
    with app.database.session(readonly=True) as session:
        found = fleets.get_fleet(session, *fleets.parse_slug(slug))
        if spec is None:
            chosen = targets.previous_target(session, found)
        else:
            chosen = releases.find_release(session, spec)
        targets.check_target(found, chosen)
        rolls = servers.has_servers(session, found.id)
    if rolls:
        roll_out(app, found, chosen, "fleetgate rollback")
    with app.database.session() as session:
        target = targets.rollback(session, found, chosen)
    click.echo(f"rolled {found.slug} back to {_release_label(target.release)}; the fleet is pinned to it")
    click.echo(f"new releases wait until: fleetgate fleet pin {found.slug} --latest")
