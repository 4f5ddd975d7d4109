"""What the actor may do on a fleet: front-ends offer only those actions (each is still checked when run)."""

from __future__ import annotations

from collections.abc import Iterable

from .actor import Actor
from .permissions import decide
from .scope import Context, fleet_for, role_of


def abilities(ctx: Context, actor: Actor, slug: str, operations: Iterable[str]) -> frozenset[str]:
    """Those of `operations` the actor may run on the fleet OWNER/NAME (NotVisible for a stranger)."""
    with ctx.database.session(readonly=True) as session:
        found = fleet_for(session, actor, slug, "fleet.show")
        role = role_of(session, actor, found)
    return frozenset(op for op in operations if decide(op, role, actor.read_only) == "allowed")
