"""Retention facts: what the database says a fleet's retention depends on (deploy/retention.py)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetgate import models
from fleetgate.fleets import Fleet
from fleetgate.releases import Release

from . import devices, targets
from .retention import FleetFacts, ReleaseFact


def _releases(session: Session, fleet_id: int) -> tuple[ReleaseFact, ...]:
    query = (
        select(models.Release.hash, models.Release.number, models.Release.status, models.ReleaseImage.image)
        .outerjoin(models.ReleaseImage, models.ReleaseImage.release_id == models.Release.id)
        .where(models.Release.fleet_id == fleet_id)
        .order_by(models.Release.number, models.ReleaseImage.service)
    )
    found: dict[str, tuple[int, str, list[str]]] = {}
    for release_hash, number, status, image in session.execute(query):
        images = found.setdefault(release_hash, (number, status, []))[2]
        if image:
            images.append(image)
    return tuple(ReleaseFact(h, n, s, tuple(images)) for h, (n, s, images) in found.items())


def fleet_facts(
    session: Session, fleet: Fleet, servers_run: Iterable[str] = (), becoming: Release | None = None
) -> FleetFacts:
    """The fleet's releases, target, rollback target and what its devices (and `servers_run`) need.

    `becoming` is a release being rolled out: the facts are those once it is the target (a rollout
    always makes it so), with the current target kept too, since a host that fails switches back to it.
    """
    current = targets.target_of(session, fleet.id).release
    needed = set(servers_run)
    for device in devices.list_devices(session, fleet.id):
        needed |= {device.pinned_release, device.release} - {None}
    target = becoming or current
    if becoming is not None and current is not None:
        needed.add(current.hash)
    return FleetFacts(
        slug=fleet.slug,
        releases=_releases(session, fleet.id),
        target=None if target is None else target.hash,
        rollback=None if target is None else targets.target_before(session, fleet.id, target.number),
        needed=frozenset(needed),
    )
