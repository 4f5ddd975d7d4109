"""`fleetgate env`, `fleet pin`, `rollback` and `fleet show`'s target, as a user sees them (DESIGN.md §3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fleetgate.deploy import targets

from fleetgate import fleets, releases
from fleetgate import home as gateway_home
from fleetgate.cli import cli
from fleetgate.db import Database

COMMIT = "0123456789abcdef0123456789abcdef01234567"
COMPOSITION = "version: '2.1'\nservices:\n  main:\n    image: reg/alice/web/main@sha256:00\n"
AGAIN = "new releases wait until: fleetgate fleet pin alice/web --latest\n"


@pytest.fixture
def run(tmp_path: Path, database_url: str):
    """Run `fleetgate ARGS` against a fresh FLEETGATE_HOME and database; returns (status, stdout, stderr)."""
    env = {"FLEETGATE_HOME": str(tmp_path / "home"), "FLEETGATE_DATABASE_URL": database_url}
    gateway_home.create(tmp_path / "home")  # as `fleetgate serve` makes it

    def invoke(*args: str) -> tuple[int, str, str]:
        result = CliRunner(env=env).invoke(cli, list(args), prog_name="fleetgate")
        return result.exit_code, result.stdout, result.stderr

    invoke("user", "add", "alice")
    invoke("fleet", "create", "alice/web", "--device-type", "raspberrypi3")
    invoke("fleet", "create", "alice/other", "--device-type", "raspberrypi3")
    return invoke


@pytest.fixture
def push(run, database_url: str):
    """Record a release of alice/web (or another fleet) ending as `status`; returns its short hash."""

    def record(status: str = "success", fleet: str = "web") -> str:
        database = Database(database_url)
        try:
            with database.session() as session:
                fleet_id = fleets.get_fleet(session, "alice", fleet).id
                started = releases.start_release(
                    session, fleet_id, COMMIT, "refs/heads/master", (), None, "alice", "SHA256:x",
                    "default", "linux/arm/v7", "node-a",
                )  # fmt: skip
                releases.set_composition(session, started.id, COMPOSITION)
                ended = releases.finish_release(session, started.id, status)
                if status == "success":
                    targets.on_release_success(session, ended)
                return ended.short_hash
        finally:
            database.dispose()

    return record


def error(message: str) -> tuple[int, str, str]:
    return 1, "", f"fleetgate: error: {message}\n"


def test_env_set_list_unset(run) -> None:
    assert run("env", "set", "alice/web", "LEVEL=info") == (
        0,
        "set LEVEL for alice/web; containers get it when they next (re)start\n",
        "",
    )
    assert run("env", "set", "alice/web", "LEVEL=debug=yes", "--service", "main")[0] == 0
    assert run("env", "set", "alice/web", "TOKEN=s3cret", "--service", "main", "--secret") == (
        0,
        "set secret TOKEN for service main of alice/web; containers get it when they next (re)start\n",
        "",
    )
    assert run("env", "list", "alice/web") == (
        0,
        "SERVICE  KEY    VALUE\n*        LEVEL  info\nmain     LEVEL  debug=yes\nmain     TOKEN  ***\n",
        "",
    )
    assert json.loads(run("env", "list", "alice/web", "--service", "main", "--json")[1]) == [
        {"key": "LEVEL", "value": "debug=yes", "service": "main", "device": None, "secret": False},
        {"key": "TOKEN", "value": "***", "service": "main", "device": None, "secret": True},
    ]
    assert run("env", "unset", "alice/web", "LEVEL") == (0, "unset LEVEL for alice/web\n", "")
    assert run("env", "unset", "alice/web", "LEVEL") == error(
        "LEVEL is not set for alice/web; see: fleetgate env list alice/web"
    )
    assert run("env", "list", "alice/other") == (0, "SERVICE  KEY  VALUE\n", "")


def test_env_refusals(run) -> None:
    assert run("env", "set", "alice/web", "BALENA_X=1") == error(
        "BALENA_X is reserved: names starting BALENA_ or RESIN_ are set by fleetgate"
    )
    assert run("env", "set", "alice/web", "9LIVES=1") == error(
        "invalid variable name '9LIVES': use letters, digits and '_', not starting with a digit"
    )
    assert run("env", "set", "alice/nope", "A=1") == error("no fleet alice/nope; see: fleetgate fleet list")
    assert run("env", "list", "alice/web", "--device", "abc") == error(
        "'abc' is not a device uuid; name a device by at least 7 leading hex digits"
    )
    assert run("env", "set", "alice/web", "A=1", "--device", "abc1234") == error(
        "no device abc1234 in alice/web; see: fleetgate device list alice/web"
    )
    status, out, err = run("env", "set", "alice/web", "NOVALUE")
    assert (status, out, err.splitlines()[-1]) == (
        2,
        "",
        "Error: Invalid value for 'KEY=VALUE': 'NOVALUE' is not KEY=VALUE; write e.g. LOG_LEVEL=debug",
    )


def test_target_pin_and_rollback(run, push) -> None:
    first = push()
    push("failed")
    third = push()
    show = run("fleet", "show", "alice/web")[1].splitlines()
    assert show[-3:-1] == [f"target:      alice/web#3 ({third})", "pinned:      no"]
    assert run("fleet", "pin", "alice/web", "alice/web#1") == (
        0,
        f"pinned alice/web to alice/web#1 ({first})\n" + AGAIN,
        "",
    )
    fourth = push()
    facts = json.loads(run("fleet", "show", "alice/web", "--json")[1])
    assert (facts["target"]["release"], facts["target"]["id"], facts["pinned"]) == ("alice/web#1", 1, True)
    assert run("fleet", "pin", "alice/web", "--latest") == (
        0,
        f"alice/web follows its newest release again; target: alice/web#4 ({fourth})\n",
        "",
    )
    assert run("rollback", "alice/web") == (
        0,
        f"rolled alice/web back to alice/web#3 ({third}); the fleet is pinned to it\n" + AGAIN,
        "",
    )
    assert run("rollback", "alice/web", "alice/web#4")[:2] == (
        0,
        f"rolled alice/web back to alice/web#4 ({fourth}); the fleet is pinned to it\n" + AGAIN,
    )


def test_target_refusals(run, push) -> None:
    assert run("rollback", "alice/web") == error(
        "alice/web has no target yet; there is nothing to roll back from"
    )
    push()
    push("failed")
    push(fleet="other")
    assert run("rollback", "alice/web") == error(
        "alice/web had no target before alice/web#1; name a release: fleetgate rollback alice/web RELEASE"
    )
    assert run("fleet", "pin", "alice/web", "alice/web#2") == error(
        "release alice/web#2 is failed; only a successful release can be the target, "
        "see: fleetgate release list alice/web --status success"
    )
    assert run("rollback", "alice/web", "alice/other#1") == error(
        "release alice/other#1 belongs to alice/other, not alice/web; see: fleetgate release list alice/web"
    )
    assert run("fleet", "pin", "alice/web", "alice/web#9") == error(
        "alice/web has no release #9; see: fleetgate release list alice/web"
    )
    for usage in (("fleet", "pin", "alice/web"), ("fleet", "pin", "alice/web", "alice/web#1", "--latest")):
        status, out, err = run(*usage)
        assert (status, out, err.splitlines()[-1]) == (2, "", "Error: give either RELEASE or --latest")
