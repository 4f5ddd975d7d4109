"""A start after a crash finishes what a push left half-done (DESIGN.md §2.3), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from fleetgate.gitd.repos import create_repository, repository_path
from fleetgate.hooks.recovery import reconcile

from fleetgate import fleets, releases, users
from fleetgate.db import Database

COMMIT_A, COMMIT_B = "a" * 40, "b" * 40


def _running(database: Database, fleet_id: int, commit: str, node: str, composition: str | None):
    with database.session() as session:
        release = releases.start_release(
            session,
            fleet_id,
            commit,
            "refs/heads/master",
            (),
            None,
            "alice",
            "SHA256:x",
            "default",
            "linux/amd64",
            node,
        )
        if composition:
            releases.set_composition(session, release.id, composition)
        return release


def test_a_moved_ref_finishes_its_release_and_the_rest_are_interrupted(
    database: Database, tmp_path: Path
) -> None:
    with database.session() as session:
        users.add_user(session, "alice")
        fleet = fleets.create_fleet(session, "alice", "demo", "generic-amd64")
    create_repository(tmp_path, fleet.id)
    moved = _running(database, fleet.id, COMMIT_A, "node-1", "services: {}\n")
    (repository_path(tmp_path, fleet.id) / "refs/heads/master").write_text(COMMIT_A + "\n")
    unmoved = _running(database, fleet.id, COMMIT_B, "node-1", "services: {}\n")

    assert reconcile(database, tmp_path, "node-1") == (1, 1)

    with database.session(readonly=True) as session:
        assert releases.find_release(session, moved.hash).status == "success"
        ended = releases.find_release(session, unmoved.hash)
        assert ended.status == "interrupted"
        assert "push again" in ended.error


def test_another_live_nodes_build_is_left_alone(database: Database, tmp_path: Path) -> None:
    with database.session() as session:
        users.add_user(session, "alice")
        fleet = fleets.create_fleet(session, "alice", "demo", "generic-amd64")
    create_repository(tmp_path, fleet.id)
    theirs = _running(database, fleet.id, COMMIT_A, "node-2", None)
    assert reconcile(database, tmp_path, "node-1") == (0, 0)
    with database.session(readonly=True) as session:
        assert releases.find_release(session, theirs.hash).status == "running"
