"""Device targets: reads what a device's target document is made of and hands it to target_state."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from fleetgate import fleets

from .. import devices, variables
from ..devices import Device, UnknownKey
from . import target_state
from .target_state import DeviceFacts, FleetFacts, RegistryCredentials, ReleaseFacts


def load_target(
    session: Session, device: Device, registry: RegistryCredentials | None
) -> tuple[dict[str, Any], str]:
    """The device's target document and its ETag, as they are in the database now."""
    fleet = fleets.fleet_by_id(session, device.fleet_id)
    if fleet is None:
        raise UnknownKey("this device's fleet was removed; register it to another fleet")
    release = devices.target_release(session, device)
    facts = None
    env: dict[str, dict[str, str]] = {}
    if release is not None and release.composition is not None:
        facts = ReleaseFacts(release.hash, release.name, release.composition)
        names = target_state.service_names(target_state.parse_composition(release.composition))
        env = variables.effective_by_service(session, fleet.id, names, device.uuid)
    doc = target_state.target_document(
        DeviceFacts(device.uuid, device.name, device.device_type, device.lock_override),
        FleetFacts(fleet.id, fleet.slug, fleet.name),
        facts,
        env,
        registry,
    )
    return doc, target_state.etag(doc)
