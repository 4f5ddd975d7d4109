"""A fleet's devices: list, pin one to a release, override its update locks, remove it."""

from __future__ import annotations

from dataclasses import dataclass

from fleetgate import fleets, releases
from fleetgate.deploy import devices, provisioning, targets
from fleetgate.deploy.devices import Device

from .actor import Actor
from .scope import Context, device_for, fleet_for, release_in


@dataclass(frozen=True)
class DeviceRow:
    """A device with the release it should run (its pin, else the fleet's target)."""

    device: Device
    target: str | None


@dataclass(frozen=True)
class PinnedDevice:
    """A device after a pin, with the release it now targets."""

    device: Device
    target: releases.Release | None


def list_devices(ctx: Context, actor: Actor, slug: str) -> list[DeviceRow]:
    """The fleet's devices with what each runs and should run."""
    with ctx.database.session(readonly=True) as session:
        found = fleet_for(session, actor, slug, "device.list")
        fleet_target = targets.target_of(session, found.id).release
        default = fleet_target.hash if fleet_target else None
        return [DeviceRow(d, d.pinned_release or default) for d in devices.list_devices(session, found.id)]


def pin_device(ctx: Context, actor: Actor, uuid: str, spec: str | None) -> PinnedDevice:
    """Keep one device on release `spec` whatever its fleet targets; None follows the fleet again."""
    with ctx.database.session() as session:
        device = device_for(session, actor, uuid, "device.pin")
        fleet = fleets.fleet_by_id(session, device.fleet_id)
        release = None if spec is None or fleet is None else release_in(session, actor, fleet, spec)
        pinned = devices.pin(session, device.uuid, release)
        return PinnedDevice(pinned, devices.target_release(session, pinned))


def set_lock_override(ctx: Context, actor: Actor, uuid: str, override: bool) -> Device:
    """Let the device replace services while they hold update locks (or honour the locks again)."""
    with ctx.database.session() as session:
        device = device_for(session, actor, uuid, "device.lock_override")
        return devices.set_lock_override(session, device.uuid, override)


def remove_device(ctx: Context, actor: Actor, uuid: str) -> Device:
    """Remove a device from its fleet: its API key stops working at once."""
    with ctx.database.session() as session:
        device = device_for(session, actor, uuid, "device.remove")
        return devices.remove(session, device.uuid)


def issue_provisioning_key(ctx: Context, actor: Actor, slug: str) -> tuple[str, str]:
    """A new key that lets devices join the fleet; returns (fleet slug, key). Shown once."""
    if not ctx.settings.registry:
        raise provisioning.RegistrationError(provisioning.NO_REGISTRY)
    with ctx.database.session() as session:
        found = fleet_for(session, actor, slug, "provisioning_key")
        return found.slug, provisioning.issue_key(session, found)
