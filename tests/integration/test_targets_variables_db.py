"""Fleet targets and variables against real databases, SQLite and PostgreSQL (DESIGN.md §2.5)."""

from __future__ import annotations

import pytest
from fleetgate.deploy import targets, variables
from fleetgate.deploy.targets import TargetError
from fleetgate.deploy.variables import VariableError

from fleetgate import fleets, releases, users
from fleetgate.db import Database

COMMIT = "0123456789abcdef0123456789abcdef01234567"
COMPOSITION = "version: '2.1'\nservices:\n  main:\n    image: reg/alice/web/main@sha256:00\n"


def release(session, fleet_id: int, status: str = "success") -> releases.Release:
    """A release ended as `status`; a success moves the target as the build pipeline does."""
    started = releases.start_release(
        session, fleet_id, COMMIT, "refs/heads/master", (), None, "alice", "SHA256:x", "default",
        "linux/arm/v7", "node-a",
    )  # fmt: skip
    releases.set_composition(session, started.id, COMPOSITION)
    ended = releases.finish_release(session, started.id, status)
    if status == "success":
        targets.on_release_success(session, ended)
    return ended


@pytest.fixture
def web(database: Database) -> fleets.Fleet:
    with database.session() as session:
        users.add_user(session, "alice")
        fleets.create_fleet(session, "alice", "other", "raspberrypi3")
        return fleets.create_fleet(session, "alice", "web", "raspberrypi3")


def numbers(target: targets.Target) -> tuple[int | None, bool]:
    return (target.release.number if target.release else None, target.pinned)


def test_a_success_becomes_the_target_unless_pinned(database: Database, web: fleets.Fleet) -> None:
    with database.session() as session:
        assert numbers(targets.target_of(session, web.id)) == (None, False)
        first = release(session, web.id)
        assert numbers(targets.target_of(session, web.id)) == (1, False)
        release(session, web.id, "failed")
        assert numbers(targets.target_of(session, web.id)) == (1, False)
        release(session, web.id)
        assert numbers(targets.target_of(session, web.id)) == (3, False)
        assert numbers(targets.pin(session, web, first)) == (1, True)
        release(session, web.id)
        assert numbers(targets.target_of(session, web.id)) == (1, True)
        assert numbers(targets.unpin_latest(session, web)) == (4, False)
        release(session, web.id)
    with database.session(readonly=True) as session:
        assert numbers(targets.target_of(session, web.id)) == (5, False)


def test_a_late_success_of_an_older_release_keeps_the_newer_target(database: Database, web) -> None:
    with database.session() as session:
        older = release(session, web.id)
        release(session, web.id)
        assert numbers(targets.on_release_success(session, older)) == (2, False)


def test_rollback_walks_back_along_the_targets_and_pins(database: Database, web: fleets.Fleet) -> None:
    with database.session() as session:
        with pytest.raises(TargetError, match="alice/web has no target yet"):
            targets.rollback(session, web)
        release(session, web.id)
        release(session, web.id, "failed")
        release(session, web.id)
        release(session, web.id)
        assert numbers(targets.rollback(session, web)) == (3, True)
        assert numbers(targets.rollback(session, web)) == (1, True)
        with pytest.raises(TargetError, match=r"alice/web had no target before alice/web#1; name a release"):
            targets.rollback(session, web)
        named = releases.find_release(session, "alice/web#4")
        assert numbers(targets.rollback(session, web, named)) == (4, True)


def test_only_a_successful_release_of_the_same_fleet_is_a_target(database: Database, web) -> None:
    with database.session() as session:
        other = fleets.get_fleet(session, "alice", "other")
        theirs = release(session, other.id)
        failed = release(session, web.id, "failed")
        with pytest.raises(TargetError, match="release alice/other#1 belongs to alice/other, not alice/web"):
            targets.pin(session, web, theirs)
        with pytest.raises(TargetError, match="release alice/web#1 is failed; only a successful release"):
            targets.rollback(session, web, failed)
        assert numbers(targets.unpin_latest(session, web)) == (None, False)


def test_removing_a_fleet_removes_its_targets_and_variables(database: Database, web) -> None:
    with database.session() as session:
        release(session, web.id)
        variables.set_variable(session, web.id, "A", "1")
        fleets.remove_fleet(session, "alice", "web")


def test_variables_service_beats_fleet(database: Database, web: fleets.Fleet) -> None:
    with database.session() as session:
        variables.set_variable(session, web.id, "LEVEL", "fleet")
        variables.set_variable(session, web.id, "ONLY_FLEET", "x")
        variables.set_variable(session, web.id, "LEVEL", "main", service="main")
        variables.set_variable(session, web.id, "TOKEN", "s3cret", service="main", secret=True)
        variables.set_variable(session, web.id, "LEVEL", "fleet2")  # replaces, not adds
    with database.session(readonly=True) as session:
        assert variables.effective(session, web.id, "main") == {
            "LEVEL": "main",
            "ONLY_FLEET": "x",
            "TOKEN": "s3cret",
        }
        assert variables.effective(session, web.id, "db") == {"LEVEL": "fleet2", "ONLY_FLEET": "x"}
        listed = variables.list_variables(session, web.id)
        assert [(v.service, v.key, v.shown) for v in listed] == [
            (None, "LEVEL", "fleet2"),
            (None, "ONLY_FLEET", "x"),
            ("main", "LEVEL", "main"),
            ("main", "TOKEN", "***"),
        ]
        assert "s3cret" not in repr(listed)
        assert [v.key for v in variables.list_variables(session, web.id, "main")] == ["LEVEL", "TOKEN"]
    with database.session() as session:
        variables.unset_variable(session, web.id, "LEVEL", service="main")
        assert variables.effective(session, web.id, "main")["LEVEL"] == "fleet2"
        with pytest.raises(VariableError, match="LEVEL is not set for service main of alice/web"):
            variables.unset_variable(session, web.id, "LEVEL", service="main")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("BALENA_DEVICE_UUID", "x", "BALENA_DEVICE_UUID is reserved"),
        ("resin_thing", "x", "resin_thing is reserved"),
        ("1ABC", "x", "invalid variable name '1ABC'"),
        ("A-B", "x", "invalid variable name 'A-B'"),
        ("BIG", "x" * (64 * 1024 + 1), "the value of BIG is over 64 KiB"),
        ("NUL", "a\x00b", "the value of NUL contains a NUL character"),
    ],
)
def test_variables_refused(database: Database, web, key: str, value: str, message: str) -> None:
    with database.session() as session, pytest.raises(VariableError, match=message):
        variables.set_variable(session, web.id, key, value)


def test_one_row_per_scope_and_key_even_with_null_scopes(database: Database, web) -> None:
    from sqlalchemy.exc import IntegrityError

    from fleetgate import models

    with pytest.raises(IntegrityError), database.session() as session:
        for _ in range(2):  # around set_variable, which would update the first
            session.add(models.Variable(fleet_id=web.id, key="A", value="1", secret=False))
            session.flush()
