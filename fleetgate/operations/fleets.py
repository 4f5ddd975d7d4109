"""Fleets and their members, as the actor may see and change them."""

from __future__ import annotations

from dataclasses import dataclass

from fleetgate import fleets
from fleetgate.deploy import targets

from .actor import Actor
from .permissions import OPERATOR, STRANGER, AccessDenied, check_operator
from .scope import Context, check_own, fleet_for


@dataclass(frozen=True)
class FleetDetails:
    """A fleet with who may push to it and what its devices and servers should run."""

    fleet: fleets.Fleet
    members: tuple[str, ...]
    target: targets.Target


def list_fleets(ctx: Context, actor: Actor, user: str | None = None) -> list[fleets.Fleet]:
    """Every fleet (or `user`'s) for the operator; the fleets a user owns or is a member of otherwise."""
    check_own(actor, "fleet.list")
    if not actor.is_operator and user not in (None, actor.user):
        raise AccessDenied("only the operator lists another user's fleets; leave out --user")
    with ctx.database.session(readonly=True) as session:
        return fleets.list_fleets(session, actor.user if user is None else user)


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


class RepositoryInTheWay(ValueError):
    """A repository directory exists where a new fleet's would go; the operator must move it away."""


def create_fleet(ctx: Context, actor: Actor, slug: str, type_slug: str) -> fleets.Fleet:
    """A new fleet and its bare repository (both, or neither)."""
    from fleetgate.gitd import repos

    owner, name = fleets.parse_slug(slug)
    _operator_only(actor, "fleet.create")
    root, created, made = ctx.settings.repositories, None, None
    try:
        with ctx.database.session() as session:
            made = fleets.create_fleet(session, owner, name, type_slug)
            path = repos.repository_path(root, made.id)
            if path.exists():
                raise RepositoryInTheWay(
                    f"{path} exists but no fleet owns it (left from an older database?); move it away"
                )
            created = repos.create_repository(root, made.id)
    except BaseException:
        if created is not None and made is not None:  # the row was rolled back: the repository goes too
            repos.remove_repository(root, made.id)
        raise
    return made


def remove_fleet(ctx: Context, actor: Actor, slug: str) -> fleets.Fleet:
    """Remove the fleet's row, then its repository (after the commit: a failed one loses nothing)."""
    from fleetgate.gitd import repos

    with ctx.database.session() as session:
        found = fleet_for(session, actor, slug, "fleet.remove")
        removed = fleets.remove_fleet(session, found.owner, found.name)
    repos.remove_repository(ctx.settings.repositories, removed.id)
    return removed


def _operator_only(actor: Actor, operation: str) -> None:
    check_operator(operation, OPERATOR if actor.is_operator else STRANGER)
