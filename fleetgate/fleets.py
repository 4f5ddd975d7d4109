"""Fleets: a named set of devices or servers, owned by a user, with members who may push."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import models, users
from .device_types import UnknownDeviceType, device_type


class FleetError(ValueError):
    """A fleet command was refused; the message says what to do."""


@dataclass(frozen=True)
class Fleet:
    """A fleet; its repository on disk is found by `id`, never by name."""

    id: int
    owner: str
    name: str
    device_type: str
    wait_for_devices: bool = False  # every push streams the devices' rollout (`-o wait=devices`)

    @property
    def slug(self) -> str:
        """`OWNER/NAME`, as users type it."""
        return f"{self.owner}/{self.name}"


def parse_slug(text: str) -> tuple[str, str]:
    """Split and check `OWNER/NAME`."""
    owner, sep, name = text.partition("/")
    if not sep:
        raise FleetError(f"{text!r} is not OWNER/NAME; name a fleet like alice/frontend")
    return check_name(owner, "owner name"), check_name(name)


def check_name(name: str, what: str = "fleet name") -> str:
    """Return `name` if it is a slug, else raise a FleetError saying the rule."""
    try:
        return users.check_name(name, what)
    except users.UserError as error:
        raise FleetError(str(error)) from None


def _query() -> Select[tuple[models.Fleet, str]]:
    return select(models.Fleet, models.User.name).join(models.User, models.Fleet.owner_id == models.User.id)


def _fleet(row: models.Fleet, owner: str) -> Fleet:
    return Fleet(
        id=row.id,
        owner=owner,
        name=row.name,
        device_type=row.device_type,
        wait_for_devices=row.wait_for_devices,
    )


def _row(session: Session, owner: str, name: str) -> models.Fleet:
    found = session.execute(_query().where(models.User.name == owner, models.Fleet.name == name)).first()
    if found is None:
        raise FleetError(f"no fleet {owner}/{name}; see: fleetgate fleet list")
    return found[0]


def create_fleet(session: Session, owner: str, name: str, device_type_slug: str) -> Fleet:
    """Create a fleet owned by `owner`; the caller creates its repository from the returned id."""
    check_name(name)
    try:
        device_type(device_type_slug)
    except UnknownDeviceType as error:
        raise FleetError(str(error)) from None
    user = users.row(session, owner)
    if find_fleet(session, owner, name) is not None:
        raise FleetError(f"fleet {owner}/{name} already exists")
    row = models.Fleet(owner_id=user.id, name=name, device_type=device_type_slug)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # created by someone else since the check above
        raise FleetError(f"fleet {owner}/{name} already exists") from None
    return _fleet(row, owner)


def find_fleet(session: Session, owner: str, name: str) -> Fleet | None:
    """The fleet `OWNER/NAME`, None when there is none."""
    found = session.execute(_query().where(models.User.name == owner, models.Fleet.name == name)).first()
    return None if found is None else _fleet(*found)


def get_fleet(session: Session, owner: str, name: str) -> Fleet:
    """The fleet `OWNER/NAME`, or a FleetError."""
    return _fleet(_row(session, owner, name), owner)


def fleet_by_id(session: Session, fleet_id: int) -> Fleet | None:
    """The fleet with this id, None when it was removed."""
    found = session.execute(_query().where(models.Fleet.id == fleet_id)).first()
    return None if found is None else _fleet(*found)


def list_fleets(session: Session, user: str | None = None) -> list[Fleet]:
    """Every fleet by slug, or only those `user` may push to."""
    query = _query().order_by(models.User.name, models.Fleet.name)
    if user is not None:
        member = exists().where(
            models.FleetMember.fleet_id == models.Fleet.id,
            models.FleetMember.user_id == users.row(session, user).id,
        )
        query = query.where(or_(models.User.name == user, member))
    return [_fleet(*found) for found in session.execute(query)]


def remove_fleet(session: Session, owner: str, name: str) -> Fleet:
    """Delete the fleet's row (and memberships); the caller removes its repository after commit."""
    row = _row(session, owner, name)
    removed = _fleet(row, owner)
    session.delete(row)
    session.flush()
    return removed


def set_wait_for_devices(session: Session, owner: str, name: str, wait: bool) -> Fleet:
    """Make every push to the fleet wait for its devices (or stop doing so)."""
    row = _row(session, owner, name)
    row.wait_for_devices = wait
    session.flush()
    return _fleet(row, owner)


def list_members(session: Session, fleet_id: int) -> list[str]:
    """The names of the fleet's members (the owner is not listed)."""
    query = (
        select(models.User.name)
        .join(models.FleetMember, models.FleetMember.user_id == models.User.id)
        .where(models.FleetMember.fleet_id == fleet_id)
        .order_by(models.User.name)
    )
    return list(session.scalars(query))


def add_member(session: Session, owner: str, name: str, user: str) -> None:
    """Let `user` push to the fleet."""
    fleet = get_fleet(session, owner, name)
    member = users.row(session, user)
    if user == owner:
        raise FleetError(f"{user} owns {fleet.slug} and may push to it already")
    if session.get(models.FleetMember, (fleet.id, member.id)) is not None:
        raise FleetError(f"{user} is a member of {fleet.slug} already")
    session.add(models.FleetMember(fleet_id=fleet.id, user_id=member.id))
    session.flush()


def remove_member(session: Session, owner: str, name: str, user: str) -> None:
    """Stop `user` pushing to the fleet; a push in flight is stopped before its ref moves."""
    fleet = get_fleet(session, owner, name)
    row = session.get(models.FleetMember, (fleet.id, users.row(session, user).id))
    if row is None:
        raise FleetError(f"{user} is not a member of {fleet.slug}; see: fleetgate fleet show {fleet.slug}")
    session.delete(row)
    session.flush()


def may_push(session: Session, user_name: str, fleet_id: int) -> bool:
    """Whether the user owns the fleet or is one of its members."""
    owner = (
        select(models.Fleet.id)
        .join(models.User, models.Fleet.owner_id == models.User.id)
        .where(models.Fleet.id == fleet_id, models.User.name == user_name)
    )
    member = (
        select(models.FleetMember.fleet_id)
        .join(models.User, models.FleetMember.user_id == models.User.id)
        .where(models.FleetMember.fleet_id == fleet_id, models.User.name == user_name)
    )
    return session.scalar(select(exists(owner) | exists(member))) or False


def lock(session: Session, fleet_id: int) -> None:
    """Serialise changes to the fleet's deploy state (target, variables) until the transaction ends."""
    # FOR NO KEY UPDATE on PostgreSQL (rows referencing the fleet are not blocked); on SQLite, BEGIN
    # IMMEDIATE serialises every writer already.
    locked = select(models.Fleet.id).where(models.Fleet.id == fleet_id).with_for_update(key_share=True)
    if session.scalar(locked) is None:
        raise FleetError(f"no fleet with id {fleet_id}; it was removed")
