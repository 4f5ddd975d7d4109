"""Leases: running work (a push, a build) held by one node and kept alive by heartbeats (DESIGN.md §2.2, §8).

A lease is a row unique per (kind, subject): whoever holds the row holds the work. A node that dies
stops heartbeating; once `expires` passes, another node may find the lease with `expired()`, clean up
(mark the release interrupted) and take the work over with `acquire()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import models
from .models import utcnow


@dataclass(frozen=True)
class Lease:
    """A held lease."""

    id: int
    kind: str
    subject: str
    node_id: str
    heartbeat: datetime
    expires: datetime


def _lease(row: models.Lease) -> Lease:
    return Lease(row.id, row.kind, row.subject, row.node_id, row.heartbeat, row.expires)


def _take_over(session: Session, kind: str, subject: str, node_id: str, now: datetime, ttl: float) -> bool:
    # Compare-and-swap on `expires`: of two nodes taking over the same expired lease, one wins.
    result = session.execute(
        update(models.Lease)
        .where(models.Lease.kind == kind, models.Lease.subject == subject, models.Lease.expires <= now)
        .values(node_id=node_id, heartbeat=now, expires=now + timedelta(seconds=ttl))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _insert(session: Session, kind: str, subject: str, node_id: str, now: datetime, ttl: float) -> bool:
    row = models.Lease(
        kind=kind, subject=subject, node_id=node_id, heartbeat=now, expires=now + timedelta(seconds=ttl)
    )
    try:
        # A savepoint, so that losing the race to another node leaves the caller's transaction usable.
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def acquire(
    session: Session, kind: str, subject: str, node_id: str, ttl: float, now: datetime | None = None
) -> Lease | None:
    """Take the lease on (kind, subject) for `ttl` seconds; None while another holder's lease is live."""
    now = now or utcnow()
    if _get(session, kind, subject) is None:
        won = _insert(session, kind, subject, node_id, now, ttl)
    else:
        won = _take_over(session, kind, subject, node_id, now, ttl)
    return _get(session, kind, subject) if won else None


def _get(session: Session, kind: str, subject: str) -> Lease | None:
    row = session.scalar(
        select(models.Lease)
        .where(models.Lease.kind == kind, models.Lease.subject == subject)
        .execution_options(populate_existing=True)
    )
    return None if row is None else _lease(row)


def heartbeat(session: Session, lease: Lease, ttl: float, now: datetime | None = None) -> Lease | None:
    """Extend a held lease by `ttl` seconds from now; None if it was lost (expired and taken over)."""
    now = now or utcnow()
    result = session.execute(
        update(models.Lease)
        .where(models.Lease.id == lease.id, models.Lease.node_id == lease.node_id)
        .values(heartbeat=now, expires=now + timedelta(seconds=ttl))
        .execution_options(synchronize_session=False)
    )
    return _get(session, lease.kind, lease.subject) if result.rowcount == 1 else None


def release(session: Session, lease: Lease) -> bool:
    """Give the lease up; False if this node no longer held it."""
    result = session.execute(
        delete(models.Lease)
        .where(models.Lease.id == lease.id, models.Lease.node_id == lease.node_id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def expired(session: Session, kind: str, now: datetime | None = None) -> list[Lease]:
    """The leases of `kind` whose holder stopped heartbeating, oldest first."""
    now = now or utcnow()
    rows = session.scalars(
        select(models.Lease)
        .where(models.Lease.kind == kind, models.Lease.expires <= now)
        .order_by(models.Lease.expires, models.Lease.id)
    )
    return [_lease(row) for row in rows]


def held(session: Session, kind: str, subject: str, now: datetime | None = None) -> Lease | None:
    """The live lease on (kind, subject), None when nobody holds it."""
    lease = _get(session, kind, subject)
    return lease if lease is not None and lease.expires > (now or utcnow()) else None
