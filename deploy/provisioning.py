"""Provisioning: the keys that let new devices join a fleet, and the rules a registration must meet.

A provisioning key is shown once and stored as its SHA-256: keys are 32 random bytes, so a plain hash
is as strong as a slow one and lets the API find a key with one indexed lookup. The same holds for the
device API keys that registration hands out (deploy/devices.py).
"""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetgate import fleets, models
from fleetgate.device_types import DEVICE_TYPES, UnknownDeviceType, device_type
from fleetgate.fleets import Fleet

UUID = re.compile(r"[0-9a-f]{32}|[0-9a-f]{62}")  # balena's device uuids: 32 hex (62 on old devices)
NAME = re.compile(r"[^\x00-\x1f\x7f]{1,255}")
NO_REGISTRY = (
    "deploying to devices needs a registry: images that live only in the build daemon cannot reach "
    "devices; the operator must set FLEETGATE_REGISTRY (and FLEETGATE_REGISTRY_USER/PASSWORD)"
)


class RegistrationError(ValueError):
    """A device's registration was refused; the message says what the device (or its owner) must change."""


def new_key() -> str:
    """A fresh random key (provisioning or device API key)."""
    return secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    """What is stored for a key: its SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def check_registration(uuid: str, type_slug: str, name: str | None, fleet_device_type: str) -> str:
    """The uuid (lower case) if a device with it, this type and this name may join the fleet."""
    if not UUID.fullmatch(uuid.lower()):
        raise RegistrationError(f"device uuid {uuid[:80]!r} is not 32 hexadecimal digits; generate a new one")
    if name is not None and not NAME.fullmatch(name):
        raise RegistrationError("device name must be 1 to 255 characters, with no control characters")
    try:
        kind = device_type(type_slug)
    except UnknownDeviceType:
        known = ", ".join(d.slug for d in DEVICE_TYPES)
        raise RegistrationError(f"unknown device type {type_slug[:64]!r}; use one of: {known}") from None
    fleet_arch = device_type(fleet_device_type).arch
    if kind.arch != fleet_arch:
        raise RegistrationError(
            f"device type {kind.slug} is {kind.arch}, but the fleet's releases are built for {fleet_arch}; "
            f"register it to a fleet of {kind.arch} devices"
        )
    return uuid.lower()


def issue_key(session: Session, fleet: Fleet) -> str:
    """A new provisioning key for the fleet; only its hash is kept, so show it now or never."""
    fleets.lock(session, fleet.id)
    key = new_key()
    session.add(models.ProvisioningKey(fleet_id=fleet.id, key_hash=key_hash(key)))
    session.flush()
    return key


def fleet_for_key(session: Session, key: str) -> Fleet | None:
    """The fleet a provisioning key lets devices join, None for an unknown key."""
    fleet_id = session.scalar(
        select(models.ProvisioningKey.fleet_id).where(models.ProvisioningKey.key_hash == key_hash(key))
    )
    return None if fleet_id is None else fleets.fleet_by_id(session, fleet_id)
