"""Prune: which containers and images of a fleet a host drops (issue 5, by retention since issue 19).

A host keeps the containers and images of the releases its fleet's retention keeps (deploy/retention.py)
and of whatever it runs now; everything else of the fleet goes: containers by their release label,
images by digest, as the host pulled them. An image of the fleet's repositories that no kept release
was recorded with goes too (a failed release's, or one the database never knew). The plan is pure;
`prune` lists, plans and removes over one connection whose caller holds the fleet's deploy lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..retention import Retention
from . import commands as cmd
from .host_containers import Container, list_containers
from .ssh import Connection

RUNNING = frozenset({"running", "restarting", "paused"})  # states of a container that serves


@dataclass(frozen=True)
class HostImage:
    """An image on the host as `docker images --digests` lists it."""

    repository: str
    digest: str

    @property
    def reference(self) -> str:
        """`repository@digest`, as the release recorded it and the host pulled it."""
        return f"{self.repository}@{self.digest}"


@dataclass(frozen=True)
class PrunePlan:
    """The releases a host keeps, and its containers and images to remove, each with its release hash
    ("" for an image no release was recorded with); a failed release's first, then the oldest first."""

    kept: tuple[str, ...]
    containers: tuple[tuple[str, str], ...]
    images: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class HostPruned:
    """What a prune did on a host: its plan, and what Docker refused to remove (name → reason)."""

    plan: PrunePlan
    refused: dict[str, str] = field(default_factory=dict)


def plan_prune(
    containers: Iterable[Container],
    images: Iterable[HostImage],
    retention: Retention,
    also: Iterable[str] = (),
) -> PrunePlan:
    """Keep what `retention` keeps, what the host runs and the releases `also`; drop the fleet's other
    containers and images."""
    containers = list(containers)
    kept = set(retention.kept) | {c.release for c in containers if c.state in RUNNING} | set(also)
    order = {release: i for i, release in enumerate(retention.dropped)}

    def rank(item: tuple[str, str]) -> tuple[int, str]:
        return (order.get(item[1], len(order)), item[0])

    dropped = sorted(((c.name, c.release) for c in containers if c.release not in kept), key=rank)
    owners, repositories = retention.image_releases(), retention.repositories()
    gone = []
    for image in images:
        if image.repository not in repositories:
            continue  # not the fleet's: never ours to remove
        releases = owners.get(image.reference, frozenset())
        if not releases & kept:
            gone.append((image.reference, min(releases, key=lambda r: order.get(r, len(order)), default="")))
    held = [r for r in retention.kept if r in kept] + sorted(kept - set(retention.kept))
    return PrunePlan(tuple(held), tuple(dropped), tuple(sorted(set(gone), key=rank)))


def list_images(conn: Connection) -> list[HostImage]:
    """The host's images that have a digest (pulled from a registry)."""
    out = conn.run(cmd.images()).stdout
    rows = (line.split("\t") for line in out.splitlines())
    return [HostImage(*row[:2]) for row in rows if len(row) >= 2 and row[1].startswith("sha256:")]


def prune(
    conn: Connection,
    retention: Retention,
    say: Callable[[str], None],
    dry_run: bool = False,
    also: Iterable[str] = (),
) -> HostPruned:
    """Remove the fleet's containers and images beyond what `plan_prune` keeps (nothing on a dry run)."""
    plan = plan_prune(list_containers(conn, retention.slug), list_images(conn), retention, also)
    refused: dict[str, str] = {}
    if dry_run:
        return HostPruned(plan)
    if plan.containers:
        refused |= cmd.refusals(conn.call(cmd.remove_stopped([name for name, _ in plan.containers])).stdout)
    if plan.images:
        refused |= cmd.refusals(conn.call(cmd.remove_images([ref for ref, _ in plan.images])).stdout)
    containers = sum(1 for name, _ in plan.containers if name not in refused)
    images = sum(1 for ref, _ in plan.images if ref not in refused)
    if containers or images:
        say(f"pruned {containers} container(s) and {images} image(s) of releases not kept")
    for name, reason in refused.items():
        say(f"warning: could not remove {name}: {reason}")
    return HostPruned(plan, refused)
