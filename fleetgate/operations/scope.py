"""What an operation works in, and how it finds a fleet, release or device *as the actor may see it*."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from fleetgate import fleets, releases
from fleetgate.db import Database
from fleetgate.deploy import devices
from fleetgate.settings import Settings

from .actor import Actor
from .permissions import MEMBER, OPERATOR, OWNER, STRANGER, AccessDenied, NotVisible, check


@dataclass(frozen=True)
class Context:
    """The gateway an operation runs against: its database and the operator's settings."""

    database: Database
    settings: Settings


def role_of(session: Session, actor: Actor, fleet: fleets.Fleet | None) -> str:
    """The actor's role on the fleet: operator, owner, member or stranger (also for no fleet at all)."""
    if actor.is_operator:
        return OPERATOR
    if fleet is None:
        return STRANGER
    if fleet.owner == actor.user:
        return OWNER
    return MEMBER if fleets.may_push(session, actor.user or "", fleet.id) else STRANGER


def fleet_for(session: Session, actor: Actor, slug: str, operation: str) -> fleets.Fleet:
    """The fleet OWNER/NAME if the actor may run `operation` on it; else AccessDenied (or FleetError)."""
    owner, name = fleets.parse_slug(slug)
    if actor.is_operator:
        return fleets.get_fleet(session, owner, name)  # the operator sees every fleet, and what is missing
    found = fleets.find_fleet(session, owner, name)
    check(operation, role_of(session, actor, found), f"{owner}/{name}", actor.read_only)
    assert found is not None  # a missing fleet is a stranger's: check() raised
    return found


def release_for(session: Session, actor: Actor, spec: str, operation: str) -> releases.Release:
    """The release named by `spec` if the actor may run `operation` on its fleet."""
    if actor.is_operator:
        return releases.find_release(session, spec)
    found = _found_or_hidden(
        lambda: releases.find_release(session, spec), releases.ReleaseError, "release", spec
    )
    _check_hidden(session, actor, found.fleet_id, found.fleet, operation, "release", spec)
    return found


def device_for(session: Session, actor: Actor, uuid: str, operation: str) -> devices.Device:
    """The device (uuid or a unique prefix) if the actor may run `operation` on its fleet."""
    if actor.is_operator:
        return devices.get_device(session, uuid)
    found = _found_or_hidden(lambda: devices.get_device(session, uuid), devices.DeviceError, "device", uuid)
    _check_hidden(session, actor, found.fleet_id, found.fleet, operation, "device", uuid)
    return found


def check_own(actor: Actor, operation: str) -> None:
    """For operations on the actor's own keys and tokens: only the read-only rule applies."""
    check(operation, OPERATOR if actor.is_operator else OWNER, "your account", actor.read_only)


def whose(actor: Actor, user: str | None) -> str:
    """The user whose keys are meant: the actor's own, or any user for the operator."""
    if actor.is_operator:
        if user is None:
            raise AccessDenied("name the user whose keys you mean")
        return user
    if user not in (None, actor.user):
        raise AccessDenied("you may only manage your own keys")
    return actor.user or ""


def release_in(session: Session, actor: Actor, fleet: fleets.Fleet, spec: str) -> releases.Release:
    """Release `spec` of `fleet` (already authorised); a user learns nothing of other fleets' releases."""
    if actor.is_operator:
        return releases.find_release(session, spec)  # its errors name the fleet a release belongs to
    hidden = NotVisible(f"release {spec[:80]} not found in {fleet.slug}; see: releases {fleet.slug}")
    try:
        found = releases.find_release(session, spec)
    except releases.ReleaseError:
        raise hidden from None  # an ambiguous prefix would list other tenants' release names
    if found.fleet_id != fleet.id:
        raise hidden
    return found


def _hidden(what: str, name: str) -> NotVisible:
    return NotVisible(f"{what} {name[:80]} not found, or you do not have access to it")


def _found_or_hidden(find, missing: type[Exception], what: str, name: str):
    """What `find` finds; "no such thing" reads exactly as "not yours" does."""
    try:
        return find()
    except missing:
        raise _hidden(what, name) from None


def _check_hidden(
    session: Session, actor: Actor, fleet_id: int, slug: str, operation: str, what: str, name: str
) -> None:
    """Check `operation` on the thing's fleet; a stranger learns nothing of the thing, not even its fleet."""
    role = role_of(session, actor, fleets.fleet_by_id(session, fleet_id))
    if role == STRANGER:
        raise _hidden(what, name)
    check(operation, role, slug, actor.read_only)
