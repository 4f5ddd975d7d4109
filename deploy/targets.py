"""Fleet targets: the release a fleet's devices should run (DESIGN.md §2.5 deploy).

A successful release becomes its fleet's target unless the fleet is pinned. `fleetgate fleet pin`
sets the target by hand and pins it; `--latest` unpins it and targets the newest successful release.
Rollback pins too, like balena's pinning: a push after a rollback must not undo it behind the
operator's back, so new releases wait until `fleet pin --latest`. Every target a fleet had is kept
in `fleet_target_log`; rollback steps back along it to the newest release older than the current
target that was once the target, so repeated rollbacks walk further back instead of toggling.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetgate import fleets, models, releases
from fleetgate.fleets import Fleet
from fleetgate.models import utcnow
from fleetgate.releases import Release

from . import changes


class TargetError(ValueError):
    """A release cannot become a fleet's target; the message says what to do."""


@dataclass(frozen=True)
class Target:
    """What a fleet's devices should run; `pinned` means new releases leave it alone."""

    release: Release | None
    pinned: bool


def _release(session: Session, release_id: int) -> Release:
    found = session.scalar(select(models.Release.hash).where(models.Release.id == release_id))
    if found is None:
        raise TargetError(f"no release with id {release_id}; it was removed with its fleet")
    return releases.find_release(session, found)


def _row(session: Session, fleet_id: int) -> models.FleetTarget | None:
    query = select(models.FleetTarget).where(models.FleetTarget.fleet_id == fleet_id)
    return session.scalar(query.execution_options(populate_existing=True))


def target_of(session: Session, fleet_id: int) -> Target:
    """The fleet's target; no release before its first successful one."""
    row = _row(session, fleet_id)
    if row is None:
        return Target(release=None, pinned=False)
    release = None if row.release_id is None else _release(session, row.release_id)
    return Target(release=release, pinned=row.pinned)


def _set(session: Session, fleet_id: int, release: Release | None, pinned: bool, reason: str) -> Target:
    row = _row(session, fleet_id)
    if row is None:
        row = models.FleetTarget(fleet_id=fleet_id)
        session.add(row)
    row.release_id, row.pinned, row.set_at = (release.id if release else None), pinned, utcnow()
    if release is not None:
        session.add(models.FleetTargetLog(fleet_id=fleet_id, release_id=release.id, reason=reason))
    session.flush()
    changes.notify(session, fleet_id)  # the fleet's devices wake at commit (long-polls answer at once)
    return Target(release=release, pinned=pinned)


def _check(fleet: Fleet, release: Release) -> None:
    if release.fleet_id != fleet.id:
        raise TargetError(
            f"release {release.name} belongs to {release.fleet}, not {fleet.slug}; "
            f"see: fleetgate release list {fleet.slug}"
        )
    if release.status != "success":
        raise TargetError(
            f"release {release.name} is {release.status}; only a successful release can be the target, "
            f"see: fleetgate release list {fleet.slug} --status success"
        )


def check_target(fleet: Fleet, release: Release) -> None:
    """Raise a TargetError unless `release` may become the fleet's target (before servers roll to it)."""
    _check(fleet, release)


def on_release_success(session: Session, release: Release) -> Target:
    """Make a release that just succeeded its fleet's target, unless the fleet is pinned."""
    if release.status != "success":
        raise TargetError(f"release {release.name} is {release.status}, not success; it cannot be the target")
    fleets.lock(session, release.fleet_id)
    current = target_of(session, release.fleet_id)
    if current.pinned:
        return current
    if current.release is not None and current.release.number > release.number:
        return current  # a late success of an older release never replaces a newer target
    return _set(session, release.fleet_id, release, pinned=False, reason="success")


def pin(session: Session, fleet: Fleet, release: Release) -> Target:
    """Make `release` the fleet's target and keep it there whatever is pushed next."""
    _check(fleet, release)
    fleets.lock(session, fleet.id)
    return _set(session, fleet.id, release, pinned=True, reason="pin")


def unpin_latest(session: Session, fleet: Fleet) -> Target:
    """Follow new releases again: target the newest successful release, unpinned."""
    fleets.lock(session, fleet.id)
    return _set(session, fleet.id, releases.latest_success(session, fleet.id), pinned=False, reason="latest")


def target_before(session: Session, fleet_id: int, number: int) -> str | None:
    """The hash of the newest successful release older than #`number` that was once the fleet's target."""
    query = (
        select(models.Release.hash)
        .join(models.FleetTargetLog, models.FleetTargetLog.release_id == models.Release.id)
        .where(models.Release.fleet_id == fleet_id, models.Release.number < number)
        .where(models.Release.status == "success")
        .order_by(models.Release.number.desc())
        .limit(1)
    )
    return session.scalar(query)


def previous_target(session: Session, fleet: Fleet) -> Release:
    """The newest release older than the current target that was once the target."""
    current = target_of(session, fleet.id).release
    if current is None:
        raise TargetError(f"{fleet.slug} has no target yet; there is nothing to roll back from")
    found = target_before(session, fleet.id, current.number)
    if found is None:
        raise TargetError(
            f"{fleet.slug} had no target before {current.name}; name a release: "
            f"fleetgate rollback {fleet.slug} RELEASE"
        )
    return releases.find_release(session, found)


def rollback(session: Session, fleet: Fleet, release: Release | None = None) -> Target:
    """Make the previous deployed release (or `release`) the target, and pin the fleet to it."""
    fleets.lock(session, fleet.id)
    chosen = previous_target(session, fleet) if release is None else release
    _check(fleet, chosen)
    return _set(session, fleet.id, chosen, pinned=True, reason="rollback")
