"""Retention: which releases of a fleet keep their images, everywhere (issue 19, FLEETGATE_RELEASES_KEPT).

Kamal keeps an app's last N containers and images; a fleet keeps its N newest releases that can still
run (the successful ones) and, whatever their age, every release something needs: the fleet's target
(its pin, when pinned), the release `fleetgate rollback` goes back to, each device's pin, what each
device and server runs, and a release still building or rolling out. Failed, cancelled and
interrupted releases never count towards N: nothing can run them, so their images go first.
Pure: facts in, release hashes out. The places (servers, registry, build daemons) read and delete.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ENDED_BADLY = frozenset({"failed", "cancelled", "interrupted"})


@dataclass(frozen=True)
class ReleaseFact:
    """A release as retention sees it: its hash, per-fleet number, status and image references."""

    hash: str
    number: int
    status: str
    images: tuple[str, ...] = ()  # as recorded: `registry/owner/fleet/service@sha256:…`, or an image id


@dataclass(frozen=True)
class FleetFacts:
    """What decides a fleet's retention, read from the database (and from its servers)."""

    slug: str
    releases: tuple[ReleaseFact, ...]
    target: str | None = None  # the fleet's target: its pin when pinned
    rollback: str | None = None  # where `fleetgate rollback` goes back to
    needed: frozenset[str] = frozenset()  # device pins, what devices and servers run


@dataclass(frozen=True)
class Retention:
    """A fleet's releases split into those kept (newest first) and those whose images go (in order)."""

    slug: str
    kept: tuple[str, ...]
    dropped: tuple[str, ...]  # failed, cancelled and interrupted ones first, then the oldest first
    releases: Mapping[str, ReleaseFact] = field(default_factory=dict)

    def name(self, release_hash: str) -> str:
        """`OWNER/NAME#N`, or the short hash of a release the database does not know."""
        found = self.releases.get(release_hash)
        return f"{self.slug}#{found.number}" if found else release_hash[:12]

    def status(self, release_hash: str) -> str:
        """The release's status ("unknown" for a release the database does not know)."""
        found = self.releases.get(release_hash)
        return found.status if found else "unknown"

    def image_releases(self) -> dict[str, frozenset[str]]:
        """Image reference → the hashes of the releases recorded with it (identical builds share one)."""
        found: dict[str, set[str]] = {}
        for release in self.releases.values():
            for image in release.images:
                found.setdefault(image, set()).add(release.hash)
        return {image: frozenset(hashes) for image, hashes in found.items()}

    def repositories(self) -> frozenset[str]:
        """The repositories the fleet's images were published to (`registry/owner/fleet/service`)."""
        return frozenset(image.split("@", 1)[0] for image in self.image_releases() if "@" in image)


def retain(facts: FleetFacts, keep: int, incoming: str | None = None) -> Retention:
    """Keep the needed releases and the newest runnable ones, `keep` in all when the needed ones leave room.

    `incoming` is a release being rolled out now: it counts as the newest runnable release.
    """
    by_hash = {release.hash: release for release in facts.releases}
    runnable = [r for r in facts.releases if r.status == "success" or r.hash == incoming]
    runnable.sort(key=lambda r: r.number, reverse=True)
    needed = {facts.target, facts.rollback, incoming, *facts.needed} - {None}
    needed |= {r.hash for r in facts.releases if r.status == "running"}
    counted = sum(1 for r in runnable if r.hash in needed)
    kept = needed | set(_newest(runnable, needed, max(keep - counted, 0)))
    ordered = sorted(facts.releases, key=lambda r: r.number, reverse=True)
    known_kept = [r.hash for r in ordered if r.hash in kept]
    unknown = sorted(h for h in kept if h not in by_hash)  # e.g. a server runs a release of another gateway
    dropped = [r for r in facts.releases if r.hash not in kept]
    dropped.sort(key=lambda r: (r.status not in ENDED_BADLY, r.number))
    return Retention(facts.slug, tuple(known_kept + unknown), tuple(r.hash for r in dropped), by_hash)


def _newest(runnable: Iterable[ReleaseFact], needed: set[str], room: int) -> list[str]:
    return [r.hash for r in runnable if r.hash not in needed][:room]
