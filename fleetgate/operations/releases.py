"""A fleet's releases, one release with its images, and its build log (followed while it builds)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from fleetgate import build_logs, release_images, releases
from fleetgate.release_images import ReleaseImage

from .actor import Actor
from .scope import Context, fleet_for, release_for

FOLLOW_POLL = 0.2  # seconds between looks at a live log that has nothing new


@dataclass(frozen=True)
class ReleaseDetails:
    """A release with the image (and build log) of each service."""

    release: releases.Release
    images: tuple[ReleaseImage, ...]


def list_releases(ctx: Context, actor: Actor, slug: str, status: str | None = None) -> list[releases.Release]:
    """The fleet's releases, newest first, optionally only those with `status`."""
    with ctx.database.session(readonly=True) as session:
        found = fleet_for(session, actor, slug, "release.list")
        return releases.list_releases(session, found.id, status)


def show_release(ctx: Context, actor: Actor, spec: str) -> ReleaseDetails:
    """One release (OWNER/NAME#N, hash or hash prefix) with its images and build logs."""
    with ctx.database.session(readonly=True) as session:
        found = release_for(session, actor, spec, "release.show")
        return ReleaseDetails(found, tuple(release_images.images_of(session, found.id)))


def build_log(
    ctx: Context,
    actor: Actor,
    spec: str,
    service: str | None = None,
    follow: bool = False,
    stopped: Callable[[], bool] = lambda: False,
) -> Iterator[str]:
    """The release's build output, line by line; with `follow`, until its build ends.

    A running build is read from its live log as it is written (the lines its pusher sees); a finished
    one from the logs stored with the release. Lines are `[service] text`; `service` keeps one.
    """
    with ctx.database.session(readonly=True) as session:
        found = release_for(session, actor, spec, "release.logs")
    live = build_logs.live_path(ctx.settings.home, found.hash)
    if found.status == "running" and live.exists():
        yield from _live_lines(ctx, found, live, service, follow, stopped)
        return
    with ctx.database.session(readonly=True) as session:  # the build ended: its logs are stored
        images = release_images.images_of(session, found.id)
    known = {image.service for image in images}
    if service is not None and service not in known:
        raise releases.ReleaseError(
            f"release {found.name} has no service {service}; it has: {', '.join(sorted(known)) or 'none yet'}"
        )
    for image in images:
        if service in (None, image.service):
            for line in image.build_log.splitlines():
                yield f"[{image.service}] {line}"


def _live_lines(
    ctx, found: releases.Release, live, service: str | None, follow: bool, stopped
) -> Iterator[str]:
    prefix = "" if service is None else f"[{service}]"
    with build_logs.open_live(live) as reader:
        while True:
            yield from (line for line in reader.lines() if line.startswith(prefix))
            if not follow or stopped():
                return
            if not _running(ctx, found.id):
                # What was written between the last read and the end.
                yield from (line for line in reader.lines() if line.startswith(prefix))
                return
            time.sleep(FOLLOW_POLL)


def _running(ctx: Context, release_id: int) -> bool:
    with ctx.database.session(readonly=True) as session:
        return releases.release_by_id(session, release_id).status == "running"
