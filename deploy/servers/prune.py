"""Prune: which containers and images of a fleet a host drops after a rollout (issue 5).

A host keeps the running release, the `keep` newest other releases and every retained one (the
rollback targets the gateway names), whatever their age. The plan is pure; `prune` runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from . import commands as cmd
from .host_containers import Container, list_containers
from .ssh import Connection


@dataclass(frozen=True)
class PrunePlan:
    """The releases kept, and the containers and images to remove."""

    kept: tuple[str, ...]
    containers: tuple[str, ...]
    images: tuple[str, ...]


def plan_prune(
    containers: Iterable[Container], current: str, keep: int, retained: Iterable[str]
) -> PrunePlan:
    """Keep `current`, the `keep` newest other releases (`containers` come newest first) and `retained`."""
    containers = list(containers)
    order: list[str] = []
    for container in containers:
        if container.release not in order:
            order.append(container.release)
    others = [release for release in order if release != current]
    kept = {current, *others[: max(keep, 0)], *retained}
    drop = [c for c in containers if c.release not in kept]
    used = {c.image for c in containers if c.release in kept}
    images = sorted({c.image for c in drop} - used)
    return PrunePlan(tuple(r for r in order if r in kept), tuple(c.name for c in drop), tuple(images))


def prune(
    conn: Connection, slug: str, current: str, keep: int, retained: Iterable[str], say: Callable[[str], None]
) -> PrunePlan:
    """Remove the fleet's containers and images beyond what `plan_prune` keeps."""
    plan = plan_prune(list_containers(conn, slug), current, keep, retained)
    if plan.containers:
        conn.run(cmd.remove(plan.containers))
        say(f"pruned {len(plan.containers)} container(s) of older releases")
    if plan.images:
        conn.run(cmd.remove_images(plan.images))
    return plan
