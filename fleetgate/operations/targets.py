"""What a fleet runs: pin, rollback and deploy, with the fleet's servers switched first (DESIGN.md §2.5)."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass

from fleetgate import fleets, releases
from fleetgate.deploy import targets
from fleetgate.deploy.servers import inventory as servers

from .actor import Actor
from .scope import Context, fleet_for, release_in

Say = Callable[[str], None]


class RolloutFailed(ValueError):
    """The fleet's servers did not all switch to the release; the target did not move."""


@dataclass(frozen=True)
class Deployed:
    """What `deploy` did: the release the servers run, and whether the fleet got pinned to it."""

    fleet: fleets.Fleet
    release: releases.Release
    pinned: bool


def _who(actor: Actor, why: str) -> str:
    return f"{getpass.getuser() if actor.is_operator else actor.user} ({why})"


def roll_out(
    ctx: Context, actor: Actor, fleet: fleets.Fleet, release: releases.Release, why: str, say: Say
) -> None:
    """Roll `release` out to the fleet's servers; RolloutFailed when one did not switch."""
    # Imported here: the rollout engine brings the SSH stack, which most operations do without.
    from fleetgate.deploy.servers import fleet_rollout
    from fleetgate.deploy.servers.fleet_rollout import FleetRolloutError, RolloutConfig
    from fleetgate.deploy.servers.rollout import RolloutError
    from fleetgate.hooks.output import sanitise

    say(f"rolling out {release.name} ({release.short_hash}) to the servers of {fleet.slug}")
    config = RolloutConfig.from_settings(ctx.settings)
    try:
        result = fleet_rollout.roll_out(
            ctx.database, fleet, release, config, _who(actor, why), lambda line: say(sanitise(line))
        )
    except (FleetRolloutError, RolloutError) as error:
        raise RolloutFailed(f"rollout failed: {error}") from None
    for host in result.hosts:
        say(
            f"{host.endpoint}: {host.state} in {host.seconds:.1f} s"
            + (f" ({host.message})" if host.message else "")
        )
    if not result.ok:
        raise RolloutFailed(result.failure)


def _servers_follow(
    ctx: Context, actor: Actor, fleet: fleets.Fleet, chosen: releases.Release | None, why: str, say: Say
) -> None:
    """Switch the fleet's servers to the release about to become its target, before it does."""
    with ctx.database.session(readonly=True) as session:
        if not servers.has_servers(session, fleet.id):
            return
        current = targets.target_of(session, fleet.id).release
    if chosen is None or (current is not None and chosen.id == current.id):
        return  # the servers run the target already
    roll_out(ctx, actor, fleet, chosen, why, say)


def pin(ctx: Context, actor: Actor, slug: str, spec: str | None, say: Say) -> targets.Target:
    """Keep the fleet on release `spec` whatever is pushed next; `spec` None follows the newest again."""
    with ctx.database.session(readonly=True) as session:
        found = fleet_for(session, actor, slug, "pin")
        if spec is None:
            chosen = releases.latest_success(session, found.id)
        else:
            chosen = release_in(session, actor, found, spec)
            targets.check_target(found, chosen)
    _servers_follow(ctx, actor, found, chosen, "fleetgate fleet pin", say)
    with ctx.database.session() as session:
        if spec is None:
            return targets.unpin_latest(session, found)
        assert chosen is not None
        return targets.pin(session, found, chosen)


def rollback(ctx: Context, actor: Actor, slug: str, spec: str | None, say: Say) -> targets.Target:
    """Make the previous deployed release (or `spec`) the target, and pin the fleet to it."""
    with ctx.database.session(readonly=True) as session:
        found = fleet_for(session, actor, slug, "rollback")
        chosen = (
            targets.previous_target(session, found)
            if spec is None
            else release_in(session, actor, found, spec)
        )
        targets.check_target(found, chosen)
        rolls = servers.has_servers(session, found.id)
    if rolls:
        roll_out(ctx, actor, found, chosen, "fleetgate rollback", say)
    with ctx.database.session() as session:
        return targets.rollback(session, found, chosen)


def deploy(ctx: Context, actor: Actor, slug: str, spec: str | None, say: Say) -> Deployed:
    """Roll the fleet's target (or `spec`, which then becomes the pinned target) out to its servers again."""
    with ctx.database.session(readonly=True) as session:
        found = fleet_for(session, actor, slug, "deploy")
        target = targets.target_of(session, found.id).release
        chosen = target if spec is None else release_in(session, actor, found, spec)
        if chosen is None:
            raise targets.TargetError(f"{found.slug} has no target yet: push a release first, or name one")
        targets.check_target(found, chosen)
    roll_out(ctx, actor, found, chosen, "fleetgate deploy", say)
    if target is not None and chosen.id == target.id:
        return Deployed(found, chosen, pinned=False)
    with ctx.database.session() as session:
        targets.pin(session, found, chosen)
    return Deployed(found, chosen, pinned=True)
