"""Devices: registration with a provisioning key, API keys, state reports, pins and removal (issue 4).

A device's API key is shown once, at registration, and stored as its SHA-256 (deploy/provisioning.py
says why that suffices). Removing a device revokes its key; the row stays, hidden, so that the uuid
can register again (a re-flashed device) and its history is not silently reused by another fleet.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleetgate import fleets, models, releases
from fleetgate.models import utcnow
from fleetgate.releases import Release

from . import changes, provisioning, targets

UUID_PREFIX = 7  # the shortest uuid prefix a command accepts, as balena's CLI shows them


class DeviceError(ValueError):
    """A device command or request was refused; the message says what to do."""


class UnknownKey(DeviceError):
    """A provisioning or device key that fleetgate does not know (or that was revoked)."""


class DeviceExists(DeviceError):
    """A device with this uuid is registered already."""


@dataclass(frozen=True)
class Device:
    """A registered device as the rest of fleetgate sees it; `release` is what it reports running."""

    id: int
    uuid: str
    fleet_id: int
    fleet: str
    name: str
    device_type: str
    pinned_release: str | None  # hash
    lock_override: bool
    status: str | None
    release: str | None
    progress: int | None
    services: Mapping[str, Any] = field(repr=False)
    message: str | None
    last_seen: datetime | None
    registered_at: datetime


@dataclass(frozen=True)
class StateReport:
    """What a device says about itself; a field left None in `given` is not changed."""

    given: frozenset[str]
    status: str | None = None
    release: str | None = None
    progress: int | None = None
    message: str | None = None
    services: Mapping[str, Any] | None = None


def _query():
    pinned = models.Release.__table__.alias("pinned")
    return (
        select(models.Device, models.User.name, models.Fleet.name, pinned.c.hash)
        .join(models.Fleet, models.Device.fleet_id == models.Fleet.id)
        .join(models.User, models.Fleet.owner_id == models.User.id)
        .outerjoin(pinned, pinned.c.id == models.Device.pinned_release_id)
        .where(models.Device.revoked_at.is_(None))
    )


def _device(row: models.Device, owner: str, fleet: str, pinned: str | None) -> Device:
    return Device(
        id=row.id,
        uuid=row.uuid,
        fleet_id=row.fleet_id,
        fleet=f"{owner}/{fleet}",
        name=row.name,
        device_type=row.device_type,
        pinned_release=pinned,
        lock_override=row.lock_override,
        status=row.status,
        release=row.release_hash,
        progress=row.progress,
        services=dict(row.services or {}),
        message=row.message,
        last_seen=row.last_seen,
        registered_at=row.registered_at,
    )


def _one(session: Session, query) -> Device | None:
    found = session.execute(query.execution_options(populate_existing=True)).first()
    return None if found is None else _device(*found)


def register(
    session: Session, provisioning_key: str, uuid: str, type_slug: str, name: str | None = None
) -> tuple[Device, str]:
    """Register a device to the fleet of `provisioning_key`; returns it and its new API key."""
    fleet = provisioning.fleet_for_key(session, provisioning_key)
    if fleet is None:
        raise UnknownKey(
            "unknown provisioning key; ask the fleet's operator: fleetgate fleet provisioning-key"
        )
    uuid = provisioning.check_registration(uuid, type_slug, name, fleet.device_type)
    fleets.lock(session, fleet.id)
    row = session.scalar(select(models.Device).where(models.Device.uuid == uuid).with_for_update())
    if row is not None and row.revoked_at is None:
        raise DeviceExists(f"device {uuid} is registered already; use its API key, or generate a new uuid")
    if row is None:
        row = models.Device(uuid=uuid)
        session.add(row)
    api_key = provisioning.new_key()
    row.fleet_id, row.name, row.device_type = fleet.id, name or uuid[:UUID_PREFIX], type_slug
    row.api_key_hash, row.pinned_release_id, row.lock_override = provisioning.key_hash(api_key), None, False
    row.status = row.release_hash = row.progress = row.message = row.last_seen = row.revoked_at = None
    row.services, row.registered_at = {}, utcnow()
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # registered by a concurrent request since the check above
        raise DeviceExists(
            f"device {uuid} is registered already; use its API key, or generate a new uuid"
        ) from None
    return _by_id(session, row.id), api_key


def _by_id(session: Session, device_id: int) -> Device:
    found = _one(session, _query().where(models.Device.id == device_id))
    if found is None:
        raise UnknownKey("this device was removed; register it again with a provisioning key")
    return found


def device_by_id(session: Session, device_id: int) -> Device | None:
    """The device with this id, None when it was removed."""
    return _one(session, _query().where(models.Device.id == device_id))


def authenticate(session: Session, uuid: str, api_key: str) -> Device | None:
    """The device if `api_key` is the current key of device `uuid`, else None."""
    found = _one(session, _query().where(models.Device.api_key_hash == provisioning.key_hash(api_key)))
    if found is None or not hmac.compare_digest(found.uuid, uuid.lower()):
        return None
    return found


def by_api_key(session: Session, api_key: str) -> Device | None:
    """The device whose API key this is (revoked keys: None); records that it was seen now."""
    row = session.scalar(
        select(models.Device).where(
            models.Device.api_key_hash == provisioning.key_hash(api_key), models.Device.revoked_at.is_(None)
        )
    )
    if row is None:
        return None
    row.last_seen = utcnow()
    session.flush()
    return _by_id(session, row.id)


def report(session: Session, device_id: int, state: StateReport) -> None:
    """Record what the device reports about itself, and that it was seen now."""
    row = session.get(models.Device, device_id)
    if row is None or row.revoked_at is not None:
        raise UnknownKey("this device was removed; register it again with a provisioning key")
    for name, column in (("status", "status"), ("release", "release_hash"), ("progress", "progress")):
        if name in state.given:
            setattr(row, column, getattr(state, name))
    if "message" in state.given:
        row.message = state.message
    if "services" in state.given:
        row.services = dict(state.services or {})
    row.last_seen = utcnow()
    session.flush()


def uuid_prefix(text: str) -> str:
    """`text` as a device uuid or uuid prefix (lower case), or a DeviceError saying what one looks like."""
    uuid = text.lower()
    if len(uuid) < UUID_PREFIX or not all(c in "0123456789abcdef" for c in uuid):
        raise DeviceError(
            f"{uuid[:80]!r} is not a device uuid; name a device by at least 7 leading hex digits"
        )
    return uuid


def get_device(session: Session, uuid: str) -> Device:
    """The device with this uuid (or a unique prefix of at least 7 characters), or a DeviceError."""
    uuid = uuid_prefix(uuid)
    found = session.execute(_query().where(models.Device.uuid.startswith(uuid)).limit(2)).all()
    if not found:
        raise DeviceError(f"no device {uuid}; see: fleetgate device list OWNER/NAME")
    if len(found) > 1:
        raise DeviceError(f"{uuid} names more than one device; give more of its uuid")
    return _device(*found[0])


def list_devices(session: Session, fleet_id: int) -> list[Device]:
    """The fleet's devices, by name then uuid."""
    query = (
        _query().where(models.Device.fleet_id == fleet_id).order_by(models.Device.name, models.Device.uuid)
    )
    return [_device(*found) for found in session.execute(query)]


def pin(session: Session, uuid: str, release: Release | None) -> Device:
    """Keep the device on `release` whatever its fleet targets; None: follow the fleet again."""
    device = get_device(session, uuid)
    if release is not None:
        if release.fleet_id != device.fleet_id:
            raise DeviceError(
                f"release {release.name} belongs to {release.fleet}, not {device.fleet}; "
                f"see: fleetgate release list {device.fleet}"
            )
        if release.status != "success":
            raise DeviceError(
                f"release {release.name} is {release.status}; only a successful release can be pinned, "
                f"see: fleetgate release list {device.fleet} --status success"
            )
    row = session.get(models.Device, device.id)
    assert row is not None  # found just above, in this transaction
    row.pinned_release_id = None if release is None else release.id
    session.flush()
    changes.notify(session, device.fleet_id)
    return _by_id(session, device.id)


def set_lock_override(session: Session, uuid: str, override: bool) -> Device:
    """Let the device's agent replace services even while they hold update locks (or not)."""
    device = get_device(session, uuid)
    row = session.get(models.Device, device.id)
    assert row is not None
    row.lock_override = override
    session.flush()
    changes.notify(session, device.fleet_id)
    return _by_id(session, device.id)


def remove(session: Session, uuid: str) -> Device:
    """Revoke the device's API key and hide it; its waiting requests end with 401."""
    device = get_device(session, uuid)
    row = session.get(models.Device, device.id)
    assert row is not None
    row.revoked_at = utcnow()
    session.flush()
    changes.notify(session, device.fleet_id)
    return device


def target_release(session: Session, device: Device) -> Release | None:
    """The release the device should run: its pin, else its fleet's target."""
    if device.pinned_release is not None:
        return releases.find_release(session, device.pinned_release)
    return targets.target_of(session, device.fleet_id).release
