"""Prune plans for the build daemons and the registry: their listings and the fleets' retention in, what
to delete out, a failed release's first and then the oldest first (issue 19). Servers plan their own
(deploy/servers/prune.py).

Only what fleetgate can tell is a fleet's is ever named: a daemon tag shaped as a build or a publish
tags (`…/<owner>/<fleet>/<service>:<release-hash>`) whose release the fleet dropped; a registry manifest
that a dropped release's tag names and no other tag does (kept releases, and tags the database does not
know, hold the manifests they name).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .retention import Retention


@dataclass(frozen=True)
class Deletion:
    """One thing to delete: a daemon tag (`repository:tag`) or a registry manifest (`repository@digest`)."""

    name: str
    slug: str  # the fleet it belongs to
    release: str  # the release hash it belongs to


def _ranks(retentions: Iterable[Retention]) -> dict[tuple[str, str], int]:
    return {(r.slug, h): i for r in retentions for i, h in enumerate(r.dropped)}


def fleet_of(repository: str) -> str | None:
    """`owner/fleet` of `<prefix>/<owner>/<fleet>/<service>`; None for another shape."""
    parts = repository.split("/")
    return f"{parts[-3]}/{parts[-2]}" if len(parts) >= 4 and all(parts[-3:]) else None


def daemon_deletions(tags: Iterable[str], retentions: Iterable[Retention]) -> tuple[Deletion, ...]:
    """The daemon's tags of releases their fleet dropped."""
    ranks = _ranks(retentions)
    found = []
    for tag in tags:
        repository, _, release = tag.rpartition(":")
        slug = fleet_of(repository)
        if slug is not None and (slug, release) in ranks:
            found.append((ranks[slug, release], Deletion(tag, slug, release)))
    return tuple(
        deletion for _, deletion in sorted(found, key=lambda item: (item[1].slug, item[0], item[1].name))
    )


def registry_repositories(retention: Retention, registry_host: str) -> tuple[str, ...]:
    """The fleet's repositories in the registry at `registry_host` (as the API names them), from the
    references its releases were recorded with."""
    prefix = registry_host + "/"
    return tuple(sorted(r[len(prefix) :] for r in retention.repositories() if r.startswith(prefix)))


def registry_deletions(
    repositories: Mapping[str, Mapping[str, str]], retention: Retention
) -> tuple[Deletion, ...]:
    """Manifests (by digest) of `repository → {tag: digest}` that only dropped releases' tags name."""
    ranks = {h: i for i, h in enumerate(retention.dropped)}
    found = []
    for repository, tags in repositories.items():
        held = {digest for tag, digest in tags.items() if tag not in ranks}
        chosen: dict[str, str] = {}
        for tag, digest in tags.items():
            if (
                tag in ranks
                and digest not in held
                and ranks[tag] < ranks.get(chosen.get(digest, ""), len(ranks))
            ):
                chosen[digest] = tag
        for digest, tag in chosen.items():
            found.append((ranks[tag], Deletion(f"{repository}@{digest}", retention.slug, tag)))
    return tuple(deletion for _, deletion in sorted(found, key=lambda item: (item[0], item[1].name)))
