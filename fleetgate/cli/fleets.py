"""`fleetgate fleet`, `fleetgate fleet member`, `fleetgate rollback` and `fleetgate device-types`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from fleetgate import fleets, releases
from fleetgate.device_types import DEVICE_TYPES, device_type
from fleetgate.operations import devices as device_ops
from fleetgate.operations import fleets as fleet_ops
from fleetgate.operations import releases as release_ops
from fleetgate.operations import servers as server_ops
from fleetgate.operations import targets as target_ops
from fleetgate.operations import views

from .confirmation import confirm_removal, counted, listing, yes_option
from .context import app_of
from .output import echo, json_option, print_table, to_json

if TYPE_CHECKING:
    from .context import App


def release_label(release: releases.Release | None) -> str:
    """`alice/demo#3 (1a2b3c4)`, or `-` for none."""
    return "-" if release is None else f"{release.name} ({release.short_hash})"


@click.command("device-types")
@json_option
def device_types(as_json: bool) -> None:
    """List the device types a fleet can be made of."""
    if as_json:
        echo(to_json(list(DEVICE_TYPES)))
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
    app = app_of(ctx)
    made = fleet_ops.create_fleet(app.context, app.actor, slug, type_slug)
    arch = device_type(made.device_type).arch
    echo(f"created fleet {made.slug} ({made.device_type}, {arch})")
    echo("add it as a git remote in your project:")
    echo(f"  git remote add balena {views.remote_url(app.settings, made)}")


@fleet.command("list")
@click.option("--user", "user_name", metavar="USER", help="Only the fleets USER may push to.")
@json_option
@click.pass_context
def fleet_list(ctx: click.Context, user_name: str | None, as_json: bool) -> None:
    """List fleets (yours, or every fleet for the operator)."""
    app = app_of(ctx)
    found = fleet_ops.list_fleets(app.context, app.actor, user_name)
    if as_json:
        echo(to_json([views.fleet(f) for f in found]))
        return
    print_table(("FLEET", "DEVICE TYPE", "ID"), ((f.slug, f.device_type, f.id) for f in found))


@fleet.command("show")
@click.argument("slug", metavar="OWNER/NAME")
@json_option
@click.pass_context
def fleet_show(ctx: click.Context, slug: str, as_json: bool) -> None:
    """Show a fleet: device type, members, the git remote to push to and its target release."""
    app = app_of(ctx)
    details = fleet_ops.show_fleet(app.context, app.actor, slug)
    facts = views.fleet_details(details, app.settings)
    if as_json:
        echo(to_json(facts))
        return
    facts["target"] = release_label(details.target.release)
    facts["pinned"] = "yes" if details.target.pinned else "no"
    wait = facts.pop("wait_for_devices")
    facts["push waits"] = "for devices" if wait else "no"
    for label, value in facts.items():
        shown = (", ".join(value) or "-") if isinstance(value, list) else value
        echo(f"{label.replace('_', ' ') + ':':<13}{shown}")


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
    app = app_of(ctx)
    found = fleet_ops.set_wait_for_devices(app.context, app.actor, slug, wait)
    said = "waits for its devices" if wait else "no longer waits for its devices (unless -o wait=devices)"
    echo(f"every push to {found.slug} {said}")


def _fleet_contents(app: App, slug: str) -> str:
    """What removing the fleet deletes: `fleet alice/demo, its repository and its 12 releases`."""
    found = fleet_ops.show_fleet(app.context, app.actor, slug).fleet
    numbers = {
        "release": len(release_ops.list_releases(app.context, app.actor, found.slug)),
        "device": len(device_ops.list_devices(app.context, app.actor, found.slug)),
        "server": len(server_ops.list_servers(app.context, app.actor, found.slug)),
    }
    held = [f"its {counted(number, noun)}" for noun, number in numbers.items() if number]
    return listing([f"fleet {found.slug}", "its repository", *held])


@fleet.command("remove")
@click.argument("slug", metavar="OWNER/NAME")
@yes_option
@click.pass_context
def fleet_remove(ctx: click.Context, slug: str, yes: bool) -> None:
    """Remove a fleet with its releases, devices and servers, and delete its git repository.

    Asks first on a terminal; elsewhere (a script, CI) it needs --yes.
    """
    app = app_of(ctx)
    confirm_removal(app, _fleet_contents(app, slug), yes)
    removed = fleet_ops.remove_fleet(app.context, app.actor, slug)
    echo(f"removed fleet {removed.slug} and its repository")


@fleet.group("member")
def member() -> None:
    """Let users other than the owner push to a fleet, or stop them."""


@member.command("list")
@click.argument("slug", metavar="OWNER/NAME")
@json_option
@click.pass_context
def member_list(ctx: click.Context, slug: str, as_json: bool) -> None:
    """List who may use the fleet: its owner and its members."""
    app = app_of(ctx)
    details = fleet_ops.list_members(app.context, app.actor, slug)
    rows = [{"user": details.fleet.owner, "role": "owner"}] + [
        {"user": name, "role": "member"} for name in details.members
    ]
    if as_json:
        echo(to_json(rows))
        return
    print_table(("USER", "ROLE"), ((r["user"], r["role"]) for r in rows))


@member.command("add")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("user_name", metavar="USER")
@click.pass_context
def member_add(ctx: click.Context, slug: str, user_name: str) -> None:
    """Let USER push to the fleet."""
    app = app_of(ctx)
    found = fleet_ops.add_member(app.context, app.actor, slug, user_name)
    echo(f"{user_name} may now push to {found.slug}")


@member.command("remove")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("user_name", metavar="USER")
@click.pass_context
def member_remove(ctx: click.Context, slug: str, user_name: str) -> None:
    """Stop USER pushing to the fleet."""
    app = app_of(ctx)
    found = fleet_ops.remove_member(app.context, app.actor, slug, user_name)
    echo(f"{user_name} may no longer push to {found.slug}")


@fleet.command("pin")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("spec", metavar="[RELEASE]", required=False)
@click.option("--latest", is_flag=True, help="Unpin: follow the newest successful release again.")
@click.pass_context
def fleet_pin(ctx: click.Context, slug: str, spec: str | None, latest: bool) -> None:
    """Keep the fleet on RELEASE whatever is pushed next, or follow new releases again (--latest)."""
    if (spec is None) == (not latest):
        raise click.UsageError("give either RELEASE or --latest")
    app = app_of(ctx)
    target = target_ops.pin(app.context, app.actor, slug, spec, echo)
    slug = "/".join(fleets.parse_slug(slug))
    if latest:
        echo(f"{slug} follows its newest release again; target: {release_label(target.release)}")
        return
    echo(f"pinned {slug} to {release_label(target.release)}")
    echo(f"new releases wait until: fleetgate fleet pin {slug} --latest")


@click.command("rollback")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("spec", metavar="[RELEASE]", required=False)
@click.pass_context
def rollback(ctx: click.Context, slug: str, spec: str | None) -> None:
    """Make the previous deployed release (or RELEASE) the fleet's target, and pin the fleet to it.

    A fleet's servers switch back first (to the container kept for that release); the target moves after.
    """
    app = app_of(ctx)
    target = target_ops.rollback(app.context, app.actor, slug, spec, echo)
    slug = "/".join(fleets.parse_slug(slug))
    echo(f"rolled {slug} back to {release_label(target.release)}; the fleet is pinned to it")
    echo(f"new releases wait until: fleetgate fleet pin {slug} --latest")
