"""The build lease of a release: kept alive by its builder, swept when its node died (DESIGN.md §2.2).

The lease is taken by `releases.start_release` and given up by `releases.finish_release`; its kind
and lifetime are `releases.LEASE_KIND` and `releases.LEASE_TTL`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from . import leases, models
from .models import utcnow
from .releases import LEASE_KIND, LEASE_TTL, Release, _by_id, _end, _query, _release


def heartbeat(
    session: Session, release: Release, ttl: float = LEASE_TTL, now: datetime | None = None
) -> bool:
    """Extend the build lease of `release` by `ttl` seconds; False once the release was lost or ended."""
    now = now or utcnow()
    running = select(models.Release.id).where(
        models.Release.id == release.id, models.Release.status == "running"
    )
    renewed = session.execute(
        update(models.Lease)
        .where(
            models.Lease.kind == LEASE_KIND,
            models.Lease.subject == release.hash,
            models.Lease.node_id == release.node_id,
            running.exists(),
        )
        .values(heartbeat=now, expires=now + timedelta(seconds=ttl))
        .execution_options(synchronize_session=False)
    )
    return renewed.rowcount == 1


def _drop_lease(session: Session, release: Release, node_id: str | None, now: datetime) -> bool:
    """Delete the release's lease when it is dead; False when a live holder still builds it."""
    lease = leases.held(session, LEASE_KIND, release.hash, now)
    ours = node_id is not None and release.node_id == node_id
    if lease is not None and not (ours and lease.node_id == node_id):
        return False
    # At this node's start its own leases are stale even if unexpired: the process that held them is gone.
    dead = models.Lease.expires <= now
    if ours:
        dead = dead | (models.Lease.node_id == node_id)
    gone = session.execute(
        delete(models.Lease)
        .where(models.Lease.kind == LEASE_KIND, models.Lease.subject == release.hash, dead)
        .execution_options(synchronize_session=False)
    )
    # Nothing deleted: either there was no lease at all, or it was renewed meanwhile (then it lives).
    return gone.rowcount == 1 or leases.held(session, LEASE_KIND, release.hash, now) is None


def mark_interrupted(
    session: Session, node_id: str | None = None, now: datetime | None = None
) -> list[Release]:
    """Mark `interrupted` the running releases no live lease covers; given `node_id`, also its own."""
    now = now or utcnow()
    running = session.execute(_query().where(models.Release.status == "running").order_by(models.Release.id))
    ended = []
    for release in [_release(*found) for found in running]:
        if not _drop_lease(session, release, node_id, now):
            continue
        why = f"the gateway node {release.node_id} stopped while building; push again to rebuild"
        if _end(session, release.id, "interrupted", now, error=why):
            ended.append(_by_id(session, release.id))
    return ended


def started_since(session: Session, fleet_id: int, node_id: str, since: datetime) -> list[Release]:
    """The releases of the fleet this node started since `since`, newest first (what one push started)."""
    rows = session.execute(
        _query()
        .where(
            models.Release.fleet_id == fleet_id,
            models.Release.node_id == node_id,
            models.Release.created_at >= since,
        )
        .order_by(models.Release.id.desc())
    )
    return [_release(*found) for found in rows]


def interrupt(
    session: Session, fleet_id: int, node_id: str, since: datetime, why: str, now: datetime | None = None
) -> list[Release]:
    """Mark `interrupted` the fleet's running releases this node started since `since` (a shutdown)."""
    now = now or utcnow()
    ended = []
    for release in started_since(session, fleet_id, node_id, since):
        # Compare-and-swap on `running`: a build that ended meanwhile keeps its own ending.
        if release.status == "running" and _end(session, release.id, "interrupted", now, error=why):
            session.execute(
                delete(models.Lease)
                .where(models.Lease.kind == LEASE_KIND, models.Lease.subject == release.hash)
                .execution_options(synchronize_session=False)
            )
            ended.append(_by_id(session, release.id))
    return ended
