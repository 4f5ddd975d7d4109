"""Release images: the image each service of a release was built into, with its build log."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import models
from .releases import ReleaseError, _by_id, _text

IMAGE_STATUSES = ("building", "success", "failed", "cancelled", "interrupted")


@dataclass(frozen=True)
class ReleaseImage:
    """The image one service of a release was built into."""

    release_id: int
    service: str
    image: str
    digest: str | None
    size: int | None
    build_seconds: float | None
    build_log: str
    status: str


def record_image(
    session: Session,
    release_id: int,
    service: str,
    image: str,
    digest: str | None,
    size: int | None,
    build_seconds: float | None,
    build_log: str,
    status: str,
) -> ReleaseImage:
    """Record (or replace) the image row of one service of a running release."""
    if status not in IMAGE_STATUSES:
        raise ReleaseError(f"unknown image status {status!r}; use one of: {', '.join(IMAGE_STATUSES)}")
    release = _by_id(session, release_id)
    if release.status != "running":
        raise ReleaseError(f"release {release.name} is {release.status}; only a running release gets images")
    row = session.scalar(
        select(models.ReleaseImage).where(
            models.ReleaseImage.release_id == release_id, models.ReleaseImage.service == service
        )
    )
    if row is None:
        row = models.ReleaseImage(release_id=release_id, service=service)
        session.add(row)
    row.image, row.digest, row.size, row.build_seconds = image, digest, size, build_seconds
    row.build_log, row.status = _text(build_log) or "", status
    session.flush()
    return _image(row)


def _image(row: models.ReleaseImage) -> ReleaseImage:
    return ReleaseImage(
        release_id=row.release_id,
        service=row.service,
        image=row.image,
        digest=row.digest,
        size=row.size,
        build_seconds=row.build_seconds,
        build_log=row.build_log,
        status=row.status,
    )


def images_of(session: Session, release_id: int) -> list[ReleaseImage]:
    """The release's images by service name."""
    rows = session.scalars(
        select(models.ReleaseImage)
        .where(models.ReleaseImage.release_id == release_id)
        .order_by(models.ReleaseImage.service)
    )
    return [_image(row) for row in rows]
