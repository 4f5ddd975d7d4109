"""Fleets and their members, as the actor may see and change them."""

from __future__ import annotations

from dataclasses import dataclass

from fleetgate import fleets
from fleetgate.deploy import targets

from .actor import Actor
from .scope import Context, check_own, fleet_for


@dataclass(frozen=True)
class FleetDetails:
    """A fleet with who may push to it and what its devices and servers should run."""

    fleet: fleets.Fleet
    members: tuple[str, ...]
    target: targets.Target


def list_fleets(ctx: Context, actor: Actor) -> list[fleets.Fleet]:
    """Every fleet for the operator; the fleets a user owns or is a member of otherwise."""
    check_own(actor, "fleet.list")
    with ctx.database.session(readonly=True) as session:
        return fleets.list_fleets(session, actor.user)


def show_fleet(ctx: Context, actor: Actor, slug: str) -> FleetDetails:
    """The fleet, its members and its target."""
    with ctx.database.session(readonly=True) as session:
        found = fleet_for(session, actor, slug, "fleet.show")
        members = tuple(fleets.list_members(session, found.id))
        return FleetDetails(found, members, targets.target_of(session, found.id))


def set_wait_for_devices(ctx: Context, actor: Actor, slug: str, wait: bool) -> fleets.Fleet:
    """Make every push to the fleet wait for its devices, or stop doing so."""
    with ctx.database.session() as session:
        found = fleet_for(session, actor, slug, "fleet.set")
        return fleets.set_wait_for_devices(session, found.owner, found.name, wait)


def list_members(ctx: Context, actor: Actor, slug: str) -> FleetDetails:
    """The fleet with its members (the owner is `fleet.owner`)."""
    with ctx.database.session(readonly=True) as session:
        found = fleet_for(session, actor, slug, "member.list")
        members = tuple(fleets.list_members(session, found.id))
        return FleetDetails(found, members, targets.target_of(session, found.id))


def add_member(ctx: Context, actor: Actor, slug: str, user: str) -> fleets.Fleet:
    """Let `user` push to the fleet, read it, roll it back and pin it."""
    with ctx.database.session() as session:
        found = fleet_for(session, actor, slug, "member.add")
        fleets.add_member(session, found.owner, found.name, user)
        return found


def remove_member(ctx: Context, actor: Actor, slug: str, user: str) -> fleets.Fleet:
    """Stop `user` using the fleet; a push of theirs in flight stops before its ref moves."""
    with ctx.database.session() as session:
        found = fleet_for(session, actor, slug, "member.remove")
        fleets.remove_member(session, found.owner, found.name, user)
        return found
