"""`fleetgate device list|pin|remove|lock-override` and `fleetgate fleet provisioning-key` (issue 4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from . import fleets, releases
from .cli_output import Failure, format_time, json_option, print_table, to_json
from .deploy import devices, provisioning, targets
from .deploy.devices import Device

if TYPE_CHECKING:
    from .cli import App


def _app(ctx: click.Context) -> App:
    return ctx.find_root().obj


def _label(device: Device) -> str:
    return f"{device.uuid[: devices.UUID_PREFIX]} ({device.name})"


@click.command("provisioning-key")
@click.argument("slug", metavar="OWNER/NAME")
@click.pass_context
def provisioning_key(ctx: click.Context, slug: str) -> None:
    """Issue a key that lets new devices join the fleet; it is printed once, never again."""
    app = _app(ctx)
    if not app.settings.registry:
        raise Failure(provisioning.NO_REGISTRY)
    with app.database.session() as session:
        fleet = fleets.get_fleet(session, *fleets.parse_slug(slug))
        key = provisioning.issue_key(session, fleet)
    click.echo(key)
    click.echo(f"devices register to {fleet.slug} with it; it is not shown again", err=True)


@click.group()
def device() -> None:
    """List a fleet's devices, pin one to a release, or remove one (revoking its key)."""


def _facts(device: Device, target: str | None) -> dict[str, object]:
    return {
        "uuid": device.uuid,
        "name": device.name,
        "device_type": device.device_type,
        "status": device.status,
        "release": device.release,
        "target": target,
        "pinned": device.pinned_release is not None,
        "progress": device.progress,
        "services": dict(device.services),
        "message": device.message,
        "last_seen": device.last_seen,
        "registered_at": device.registered_at,
    }


@device.command("list")
@click.argument("slug", metavar="OWNER/NAME")
@json_option
@click.pass_context
def device_list(ctx: click.Context, slug: str, as_json: bool) -> None:
    """List the fleet's devices: status, the release each runs, its target, progress, last seen."""
    with _app(ctx).database.session(readonly=True) as session:
        fleet = fleets.get_fleet(session, *fleets.parse_slug(slug))
        found = devices.list_devices(session, fleet.id)
        fleet_target = targets.target_of(session, fleet.id).release
    default = fleet_target.hash if fleet_target else None
    listed = [_facts(d, d.pinned_release or default) for d in found]
    if as_json:
        click.echo(to_json(listed))
        return

    def short(value: object, pinned: bool = False) -> str:
        return "-" if value is None else str(value)[:7] + (" (pinned)" if pinned else "")

    rows = (
        (
            f["uuid"],
            f["name"],
            f["status"] or "-",
            short(f["release"]),
            short(f["target"], bool(f["pinned"])),
            "-" if f["progress"] is None else f"{f['progress']}%",
            "never" if f["last_seen"] is None else format_time(f["last_seen"]),  # type: ignore[arg-type]
        )
        for f in listed
    )
    print_table(("UUID", "NAME", "STATUS", "RELEASE", "TARGET", "PROGRESS", "LAST SEEN"), rows)


@device.command("pin")
@click.argument("uuid", metavar="UUID")
@click.argument("spec", metavar="[RELEASE]", required=False)
@click.option("--fleet", "follow", is_flag=True, help="Unpin: follow the fleet's target again.")
@click.pass_context
def device_pin(ctx: click.Context, uuid: str, spec: str | None, follow: bool) -> None:
    """Keep one device on RELEASE whatever its fleet targets, or follow the fleet again (--fleet)."""
    if (spec is None) == (not follow):
        raise click.UsageError("give either RELEASE or --fleet")
    with _app(ctx).database.session() as session:
        release = None if follow else releases.find_release(session, spec or "")
        pinned = devices.pin(session, uuid, release)
        target = devices.target_release(session, pinned)
    shown = "-" if target is None else f"{target.name} ({target.short_hash})"
    if follow:
        click.echo(f"device {_label(pinned)} follows {pinned.fleet} again; target: {shown}")
        return
    click.echo(f"pinned device {_label(pinned)} to {shown}")
    click.echo(f"it follows its fleet again after: fleetgate device pin {pinned.uuid} --fleet")


@device.command("lock-override")
@click.argument("uuid", metavar="UUID")
@click.argument("setting", type=click.Choice(["on", "off"]))
@click.pass_context
def device_lock_override(ctx: click.Context, uuid: str, setting: str) -> None:
    """Let the device replace services even while they hold update locks (on), or honour them (off)."""
    with _app(ctx).database.session() as session:
        changed = devices.set_lock_override(session, uuid, setting == "on")
    honoured = "overrides" if changed.lock_override else "honours"
    click.echo(f"device {_label(changed)} now {honoured} update locks")


@device.command("remove")
@click.argument("uuid", metavar="UUID")
@click.pass_context
def device_remove(ctx: click.Context, uuid: str) -> None:
    """Remove a device from its fleet: its API key stops working at once."""
    with _app(ctx).database.session() as session:
        removed = devices.remove(session, uuid)
    click.echo(f"removed device {_label(removed)} from {removed.fleet}; its API key no longer works")
