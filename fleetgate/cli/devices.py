"""`fleetgate device list|pin|remove|lock-override` and `fleetgate fleet provisioning-key` (issue 4)."""

from __future__ import annotations

import click

from fleetgate.deploy import devices
from fleetgate.deploy.devices import Device
from fleetgate.operations import devices as device_ops
from fleetgate.operations import views

from .context import app_of
from .output import echo, format_time, json_option, print_table, to_json


def _label(device: Device) -> str:
    return f"{device.uuid[: devices.UUID_PREFIX]} ({device.name})"


@click.command("provisioning-key")
@click.argument("slug", metavar="OWNER/NAME")
@click.pass_context
def provisioning_key(ctx: click.Context, slug: str) -> None:
    """Issue a key that lets new devices join the fleet; it is printed once, never again."""
    app = app_of(ctx)
    fleet, key = device_ops.issue_provisioning_key(app.context, app.actor, slug)
    echo(key)
    echo(f"devices register to {fleet} with it; it is not shown again", err=True)


@click.group()
def device() -> None:
    """List a fleet's devices, pin one to a release, or remove one (revoking its key)."""


@device.command("list")
@click.argument("slug", metavar="OWNER/NAME")
@json_option
@click.pass_context
def device_list(ctx: click.Context, slug: str, as_json: bool) -> None:
    """List the fleet's devices: status, the release each runs, its target, progress, last seen."""
    app = app_of(ctx)
    listed = [views.device(row) for row in device_ops.list_devices(app.context, app.actor, slug)]
    if as_json:
        echo(to_json(listed))
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
    app = app_of(ctx)
    done = device_ops.pin_device(app.context, app.actor, uuid, None if follow else spec or "")
    pinned, target = done.device, done.target
    shown = "-" if target is None else f"{target.name} ({target.short_hash})"
    if follow:
        echo(f"device {_label(pinned)} follows {pinned.fleet} again; target: {shown}")
        return
    echo(f"pinned device {_label(pinned)} to {shown}")
    echo(f"it follows its fleet again after: fleetgate device pin {pinned.uuid} --fleet")


@device.command("lock-override")
@click.argument("uuid", metavar="UUID")
@click.argument("setting", type=click.Choice(["on", "off"]))
@click.pass_context
def device_lock_override(ctx: click.Context, uuid: str, setting: str) -> None:
    """Let the device replace services even while they hold update locks (on), or honour them (off)."""
    app = app_of(ctx)
    changed = device_ops.set_lock_override(app.context, app.actor, uuid, setting == "on")
    honoured = "overrides" if changed.lock_override else "honours"
    echo(f"device {_label(changed)} now {honoured} update locks")


@device.command("remove")
@click.argument("uuid", metavar="UUID")
@click.pass_context
def device_remove(ctx: click.Context, uuid: str) -> None:
    """Remove a device from its fleet: its API key stops working at once."""
    app = app_of(ctx)
    removed = device_ops.remove_device(app.context, app.actor, uuid)
    echo(f"removed device {_label(removed)} from {removed.fleet}; its API key no longer works")
