"""The pure prune as tables: retention (which releases keep their images) and each place's plan (issue 19)."""

from __future__ import annotations

import pytest
from fleetgate.deploy.prune_plan import (
    Deletion,
    daemon_deletions,
    fleet_of,
    registry_deletions,
    registry_repositories,
)
from fleetgate.deploy.retention import FleetFacts, ReleaseFact, Retention, retain
from fleetgate.deploy.servers.host_containers import Container
from fleetgate.deploy.servers.prune import HostImage, PrunePlan, plan_prune

REG = "127.0.0.1:5000"
STATUSES = {1: "success", 2: "failed", 3: "success", 4: "success", 5: "cancelled", 6: "success"}


def image(number: int, service: str = "web") -> str:
    return f"{REG}/alice/web/{service}@sha256:{number:064x}"


def facts(
    target: str | None = "h6",
    rollback: str | None = "h4",
    needed: frozenset[str] = frozenset(),
    statuses: dict[int, str] = STATUSES,
) -> FleetFacts:
    made = tuple(ReleaseFact(f"h{n}", n, s, (image(n), image(n, "worker"))) for n, s in statuses.items())
    return FleetFacts("alice/web", made, target, rollback, needed)


@pytest.mark.parametrize(
    ("given", "keep", "incoming", "kept", "dropped"),
    [
        # The target (#6) and the rollback target (#4) count towards 3; the newest other success fills up.
        # Failed and cancelled releases go first, then the oldest.
        (facts(), 3, None, ("h6", "h4", "h3"), ("h2", "h5", "h1")),
        (facts(), 5, None, ("h6", "h4", "h3", "h1"), ("h2", "h5")),  # failed ones never count
        (facts(), 1, None, ("h6", "h4"), ("h2", "h5", "h1", "h3")),  # what is needed stays beyond N
        # Pinned (rolled back) to #1: nothing before it to go back to; the newest fill up.
        (facts(target="h1", rollback=None), 3, None, ("h6", "h4", "h1"), ("h2", "h5", "h3")),
        # A device pinned to #1 and one running #3: kept, whatever N.
        (facts(needed=frozenset({"h1", "h3"})), 2, None, ("h6", "h4", "h3", "h1"), ("h2", "h5")),
        # A release still building is kept and not counted; one rolling out counts as the newest.
        (facts(statuses={**STATUSES, 7: "running"}), 3, None, ("h7", "h6", "h4", "h3"), ("h2", "h5", "h1")),
        (facts(statuses={**STATUSES, 7: "running"}), 3, "h7", ("h7", "h6", "h4"), ("h2", "h5", "h1", "h3")),
        # A server runs a release this gateway does not know: kept, listed last.
        (facts(needed=frozenset({"zz"})), 2, None, ("h6", "h4", "zz"), ("h2", "h5", "h1", "h3")),
        (facts(target=None, rollback=None), 2, None, ("h6", "h4"), ("h2", "h5", "h1", "h3")),
        (facts(target=None, rollback=None, statuses={}), 2, None, (), ()),
    ],
)
def test_retain(given: FleetFacts, keep: int, incoming: str | None, kept: tuple, dropped: tuple) -> None:
    found = retain(given, keep, incoming)
    assert (found.kept, found.dropped) == (kept, dropped)


def test_names_statuses_and_repositories() -> None:
    found = retain(facts(), 3)
    assert (found.name("h2"), found.status("h2")) == ("alice/web#2", "failed")
    assert (found.name("0123456789abcdef"), found.status("x")) == ("0123456789ab", "unknown")
    assert found.repositories() == {f"{REG}/alice/web/web", f"{REG}/alice/web/worker"}
    assert found.image_releases()[image(3)] == {"h3"}
    assert registry_repositories(found, REG) == ("alice/web/web", "alice/web/worker")
    assert registry_repositories(found, "other:5000") == ()


def test_identical_builds_share_an_image() -> None:
    same = FleetFacts(
        "a/b", (ReleaseFact("h1", 1, "success", ("r@d",)), ReleaseFact("h2", 2, "success", ("r@d",)))
    )
    assert retain(same, 1).image_releases() == {"r@d": frozenset({"h1", "h2"})}


@pytest.mark.parametrize(
    ("repository", "slug"),
    [
        ("fleetgate/alice/web/main", "alice/web"),
        ("127.0.0.1:5000/alice/web/main", "alice/web"),
        ("alice/web/main", None),  # not a build's or a publish's tag
        ("busybox-fg", None),
        ("fleetgate/alice//main", None),
    ],
)
def test_fleet_of(repository: str, slug: str | None) -> None:
    assert fleet_of(repository) == slug


def test_daemon_deletions_name_only_the_dropped_releases_tags_failed_first() -> None:
    alice = retain(facts(), 3)  # drops h2 (failed), h5 (cancelled), h1
    bob = Retention("bob/web", ("h9",), ("h8",))
    tags = [
        "fleetgate/alice/web/web:h1",
        "fleetgate/alice/web/web:h6",  # kept
        f"{REG}/alice/web/web:h2",
        "fleetgate/alice/web/web:h2",
        "fleetgate/bob/web/main:h2",  # bob's fleet never had h2
        "fleetgate/bob/web/main:h8",
        "fleetgate/alice/web:h2",  # not a release image's shape
        "busybox-fg:latest",
        "fleetgate/alice/web/web:h5",
    ]
    assert daemon_deletions(tags, [alice, bob]) == (
        Deletion(f"{REG}/alice/web/web:h2", "alice/web", "h2"),
        Deletion("fleetgate/alice/web/web:h2", "alice/web", "h2"),
        Deletion("fleetgate/alice/web/web:h5", "alice/web", "h5"),
        Deletion("fleetgate/alice/web/web:h1", "alice/web", "h1"),
        Deletion("fleetgate/bob/web/main:h8", "bob/web", "h8"),
    )


def test_registry_deletions_spare_every_manifest_another_tag_names() -> None:
    retention = retain(facts(), 3)  # keeps h6 h4 h3, drops h2 h5 h1
    tags = {
        "alice/web/web": {
            "h6": "d6",
            "h4": "d4",
            "h3": "d4",  # an identical build: kept by h4 (and h3)
            "h2": "d2",
            "h5": "d9",
            "h1": "d1",
            "latest": "d9",  # a tag the database does not know holds d9
        },
        "alice/web/worker": {"h1": "w1", "h2": "w1"},  # two dropped releases, one manifest: named once
    }
    assert registry_deletions(tags, retention) == (
        Deletion("alice/web/web@d2", "alice/web", "h2"),
        Deletion("alice/web/worker@w1", "alice/web", "h2"),
        Deletion("alice/web/web@d1", "alice/web", "h1"),
    )


def container(name: str, release: str, state: str = "exited") -> Container:
    return Container(name, release, "web", state, f"{REG}/alice/web/web")  # as docker ps shows it: no digest


def host(reference: str) -> HostImage:
    repository, _, digest = reference.partition("@")
    return HostImage(repository, digest)


def test_host_plan_by_digest_failed_first_and_what_runs_stays() -> None:
    retention = retain(facts(), 3)  # keeps h6 h4 h3, drops h2 h5 h1
    containers = [
        container("web_h6", "h6", "running"),
        container("web_h4", "h4"),
        container("web_h1", "h1"),
        container("web_zz", "zz", "running"),  # runs, so stays, whatever the database says
        container("web_h5", "h5", "created"),
    ]
    images = [
        host(image(6)),
        host(image(4)),
        host(image(1)),
        host(image(2, "worker")),  # a failed release's image, pulled by a rollout that failed
        host(f"{REG}/alice/web/web@sha256:{'e' * 64}"),  # a digest no release was recorded with
        host(f"{REG}/bob/web/web@sha256:{'b' * 64}"),  # another fleet's
        HostImage("fleetgate-proxy", f"sha256:{'c' * 64}"),
    ]
    assert plan_prune(containers, images, retention) == PrunePlan(
        kept=("h6", "h4", "h3", "zz"),
        containers=(("web_h5", "h5"), ("web_h1", "h1")),
        images=(
            (image(2, "worker"), "h2"),
            (image(1), "h1"),
            (f"{REG}/alice/web/web@sha256:{'e' * 64}", ""),
        ),
    )
