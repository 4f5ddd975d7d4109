"""The fleet's variables (env), per fleet, service and device; secret values never leave masked."""

from __future__ import annotations

from fleetgate import fleets
from fleetgate.deploy import variables

from .actor import Actor
from .scope import Context, fleet_for


def list_variables(
    ctx: Context, actor: Actor, slug: str, service: str | None = None, device: str | None = None
) -> list[variables.Variable]:
    """The fleet's variables (only those of `service` or `device` when given); `shown` masks secrets."""
    with ctx.database.session(readonly=True) as session:
        found = fleet_for(session, actor, slug, "env.list")
        return variables.list_variables(session, found.id, service, device)


def set_variable(
    ctx: Context,
    actor: Actor,
    slug: str,
    key: str,
    value: str,
    service: str | None = None,
    device: str | None = None,
    secret: bool = False,
) -> fleets.Fleet:
    """Set KEY for the fleet's containers, or one service's or one device's."""
    with ctx.database.session() as session:
        found = fleet_for(session, actor, slug, "env.set")
        variables.set_variable(session, found.id, key, value, service, secret, device)
        return found


def unset_variable(
    ctx: Context, actor: Actor, slug: str, key: str, service: str | None = None, device: str | None = None
) -> fleets.Fleet:
    """Remove KEY from the fleet, or from one service or device."""
    with ctx.database.session() as session:
        found = fleet_for(session, actor, slug, "env.unset")
        variables.unset_variable(session, found.id, key, service, device)
        return found
