"""`fleetgate fleet`, `fleetgate fleet member` and `fleetgate device-types` (DESIGN.md §3)."""

from __future__ import annotations

import dataclasses
import socket
from typing import TYPE_CHECKING

import click

from . import fleets
from .cli_output import Failure, json_option, print_table, to_json
from .device_types import DEVICE_TYPES, device_type

if TYPE_CHECKING:
    from .cli import App
    from .settings import Settings


def _app(ctx: click.Context) -> App:
    return ctx.find_root().obj


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
    """Show a fleet: device type, members and the git remote to push to."""
    app = _app(ctx)
    with app.database.session(readonly=True) as session:
        found = fleets.get_fleet(session, *fleets.parse_slug(slug))
        members = fleets.list_members(session, found.id)
    facts = {
        "fleet": found.slug,
        "id": found.id,
        "device_type": found.device_type,
        "arch": device_type(found.device_type).arch,
        "owner": found.owner,
        "members": members,
        "remote": remote_url(app.settings, found),
    }
    if as_json:
        click.echo(to_json(facts))
        return
    for label, value in facts.items():
        shown = (", ".join(value) or "-") if isinstance(value, list) else value
        click.echo(f"{label.replace('_', ' ') + ':':<13}{shown}")


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
