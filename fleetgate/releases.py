"""Releases: the record of each build of a pushed commit (DESIGN.md §2.4 *record*).

A release is born `running` with a build lease (fleetgate.leases, kind `LEASE_KIND`, subject the
release hash) held by the node that builds it; it ends `success`, `failed`, `cancelled` or, when its
node died, `interrupted` (fleetgate.release_leases). Its number is the per-fleet `id: N` users see.
Its images are in fleetgate.release_images.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.orm import Session

from . import fleets, leases, models
from .models import utcnow

LEASE_KIND = "release"
LEASE_TTL = 60.0  # seconds; the builder heartbeats well within it
STATUSES = ("running", "success", "failed", "cancelled", "interrupted")
ENDINGS = STATUSES[1:]
OPTIONS = ("nocache", "emulated", "detach", "plain")  # in the order they are stored and shown
COMMIT = re.compile(r"[0-9a-f]{40}")
HASH_PREFIX = re.compile(r"[0-9a-f]{4,32}")
NUMBERED = re.compile(r"(?P<slug>[^#]+)#(?P<number>[0-9]{1,9})")
SPEC_HINT = "name a release as OWNER/NAME#N, by its hash, or by at least 4 leading characters of it"


class ReleaseError(ValueError):
    """A release was not found or cannot change as asked; the message says what to do."""


@dataclass(frozen=True)
class Release:
    """A release as the rest of fleetgate sees it."""

    id: int
    fleet_id: int
    fleet: str
    number: int
    hash: str
    commit: str
    branch: str
    options: tuple[str, ...]
    note: str | None
    created_by_user: str
    created_by_key: str
    status: str
    created_at: datetime
    finished_at: datetime | None
    composition: str | None
    error: str | None
    builder: str
    platform: str
    node_id: str

    @property
    def name(self) -> str:
        """`OWNER/NAME#N`, as users type it."""
        return f"{self.fleet}#{self.number}"

    @property
    def short_hash(self) -> str:
        """The first 7 characters of the hash, as git shortens a commit."""
        return self.hash[:7]

    @property
    def duration(self) -> timedelta | None:
        """How long the build took; None while it runs."""
        return None if self.finished_at is None else self.finished_at - self.created_at


def _text(value: str | None) -> str | None:
    # PostgreSQL's text cannot hold NUL, and a build log may contain anything.
    return None if value is None else value.replace("\x00", "\ufffd")


def _query() -> Select[tuple[models.Release, str, str]]:
    return (
        select(models.Release, models.User.name, models.Fleet.name)
        .join(models.Fleet, models.Release.fleet_id == models.Fleet.id)
        .join(models.User, models.Fleet.owner_id == models.User.id)
        .execution_options(populate_existing=True)
    )


def _release(row: models.Release, owner: str, fleet: str) -> Release:
    return Release(
        id=row.id,
        fleet_id=row.fleet_id,
        fleet=f"{owner}/{fleet}",
        number=row.number,
        hash=row.hash,
        commit=row.commit,
        branch=row.branch,
        options=tuple(row.options),
        note=row.note,
        created_by_user=row.created_by_user,
        created_by_key=row.created_by_key,
        status=row.status,
        created_at=row.created_at,
        finished_at=row.finished_at,
        composition=row.composition,
        error=row.error,
        builder=row.builder,
        platform=row.platform,
        node_id=row.node_id,
    )


def _by_id(session: Session, release_id: int) -> Release:
    found = session.execute(_query().where(models.Release.id == release_id)).first()
    if found is None:
        raise ReleaseError(f"no release with id {release_id}; it was removed with its fleet")
    return _release(*found)


def release_by_id(session: Session, release_id: int) -> Release:
    """The release with this database id, or a ReleaseError."""
    return _by_id(session, release_id)


def check_options(options: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The build options in their canonical order, or a ReleaseError naming the known ones."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ReleaseError(f"unknown build option {unknown[0]!r}; use any of: {', '.join(OPTIONS)}")
    return tuple(option for option in OPTIONS if option in options)


def _next_number(session: Session, fleet_id: int) -> int:
    # Locking the fleet's row serialises numbering per fleet on PostgreSQL (FOR NO KEY UPDATE does not
    # block rows that merely reference the fleet); SQLite's BEGIN IMMEDIATE serialises every writer.
    locked = select(models.Fleet.id).where(models.Fleet.id == fleet_id).with_for_update(key_share=True)
    if session.scalar(locked) is None:
        raise ReleaseError(f"no fleet with id {fleet_id}; it was removed")
    top = session.scalar(select(func.max(models.Release.number)).where(models.Release.fleet_id == fleet_id))
    return (top or 0) + 1


def start_release(
    session: Session,
    fleet_id: int,
    commit: str,
    branch: str,
    options: tuple[str, ...] | list[str],
    note: str | None,
    user: str,
    key_fingerprint: str,
    builder: str,
    platform: str,
    node_id: str,
    lease_ttl: float = LEASE_TTL,
) -> Release:
    """Record a `running` release with the fleet's next number; `node_id` takes its build lease at once."""
    if not COMMIT.fullmatch(commit):
        raise ReleaseError(f"{commit!r} is not a commit id; give the 40 hex digits of the pushed commit")
    row = models.Release(
        fleet_id=fleet_id,
        number=_next_number(session, fleet_id),
        hash=uuid.uuid4().hex,
        commit=commit,
        branch=branch,
        options=list(check_options(options)),
        note=_text(note),
        created_by_user=user,
        created_by_key=key_fingerprint,
        status="running",
        created_at=utcnow(),
        builder=builder,
        platform=platform,
        node_id=node_id,
    )
    session.add(row)
    session.flush()
    # A release is never visible without a lease: a sweep on another node must not interrupt it.
    if leases.acquire(session, LEASE_KIND, row.hash, node_id, lease_ttl) is None:
        raise RuntimeError(f"the build lease of new release {row.hash} is held already")
    return _by_id(session, row.id)


def _end(session: Session, release_id: int, status: str, now: datetime, **values: str | None) -> bool:
    # Compare-and-swap on `running`: of a builder finishing and a sweep interrupting, exactly one wins.
    ended = session.execute(
        update(models.Release)
        .where(models.Release.id == release_id, models.Release.status == "running")
        .values(status=status, finished_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if ended.rowcount != 1:
        return False
    if status != "success":
        session.execute(
            update(models.ReleaseImage)
            .where(models.ReleaseImage.release_id == release_id, models.ReleaseImage.status == "building")
            .values(status=status)
            .execution_options(synchronize_session=False)
        )
    return True


def finish_release(
    session: Session,
    release_id: int,
    status: str,
    composition: str | None = None,
    error: str | None = None,
) -> Release:
    """End a running release as `status` and give up its build lease."""
    if status not in ENDINGS:
        raise ReleaseError(f"a release cannot end as {status!r}; use one of: {', '.join(ENDINGS)}")
    release = _by_id(session, release_id)
    composition = composition or release.composition
    if status == "success" and not composition:
        raise ReleaseError("a successful release needs its composition; record it with the release")
    values = {"composition": _text(composition), "error": _text(error)}
    if not _end(session, release_id, status, utcnow(), **values):
        current = _by_id(session, release_id)
        raise ReleaseError(f"release {release.name} is {current.status} already; only a running one can end")
    session.execute(
        delete(models.Lease)
        .where(models.Lease.kind == LEASE_KIND, models.Lease.subject == release.hash)
        .execution_options(synchronize_session=False)
    )
    return _by_id(session, release_id)


def set_composition(session: Session, release_id: int, composition: str) -> Release:
    """Record the composition of a running release (before its ref moves; success comes after)."""
    done = session.execute(
        update(models.Release)
        .where(models.Release.id == release_id, models.Release.status == "running")
        .values(composition=_text(composition))
        .execution_options(synchronize_session=False)
    )
    release = _by_id(session, release_id)
    if done.rowcount != 1:
        raise ReleaseError(f"release {release.name} is {release.status}; only a running release changes")
    return release


def list_running(session: Session) -> list[Release]:
    """Every release still `running`, oldest first."""
    rows = session.execute(_query().where(models.Release.status == "running").order_by(models.Release.id))
    return [_release(*found) for found in rows]


def list_releases(session: Session, fleet_id: int, status: str | None = None) -> list[Release]:
    """The fleet's releases, newest first, optionally only those with `status`."""
    query = _query().where(models.Release.fleet_id == fleet_id).order_by(models.Release.number.desc())
    if status is not None:
        if status not in STATUSES:
            raise ReleaseError(f"unknown release status {status!r}; use one of: {', '.join(STATUSES)}")
        query = query.where(models.Release.status == status)
    return [_release(*found) for found in session.execute(query)]


def latest_success(session: Session, fleet_id: int) -> Release | None:
    """The fleet's newest successful release, None before the first."""
    found = list_releases(session, fleet_id, "success")
    return found[0] if found else None


def _numbered(session: Session, slug: str, number: int) -> Release:
    try:
        owner, name = fleets.parse_slug(slug)
        fleet = fleets.get_fleet(session, owner, name)
    except fleets.FleetError as error:
        raise ReleaseError(str(error)) from None
    query = _query().where(models.Release.fleet_id == fleet.id, models.Release.number == number)
    found = session.execute(query).first()
    if found is None:
        raise ReleaseError(f"{fleet.slug} has no release #{number}; see: fleetgate release list {fleet.slug}")
    return _release(*found)


def _hashed(session: Session, prefix: str) -> Release:
    query = _query().where(models.Release.hash.startswith(prefix, autoescape=True)).limit(3)
    found = [_release(*row) for row in session.execute(query)]
    if not found:
        raise ReleaseError(f"no release has a hash starting {prefix}; see: fleetgate release list OWNER/NAME")
    if len(found) > 1:
        names = ", ".join(release.name for release in found[:2]) + (", ..." if len(found) > 2 else "")
        raise ReleaseError(f"hash prefix {prefix} matches several releases ({names}); give more characters")
    return found[0]


def find_release(session: Session, spec: str) -> Release:
    """The release named `OWNER/NAME#N`, by its full hash, or by a unique hash prefix of 4+ characters."""
    numbered = NUMBERED.fullmatch(spec)
    if numbered:
        return _numbered(session, numbered["slug"], int(numbered["number"]))
    prefix = spec.lower()
    if not HASH_PREFIX.fullmatch(prefix):
        raise ReleaseError(f"{spec!r} is not a release; {SPEC_HINT}")
    return _hashed(session, prefix)
