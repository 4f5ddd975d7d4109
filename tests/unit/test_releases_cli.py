"""`fleetgate release list|show` as a user sees it: stdout, stderr and exit status (DESIGN.md §3)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from fleetgate import home as gateway_home
from fleetgate import models, release_images, releases
from fleetgate.cli import cli
from fleetgate.cli.releases import _duration, _size
from fleetgate.db import Database

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
COMMIT = "0123456789abcdef0123456789abcdef01234567"
KEY = "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
HASH1, HASH2 = "1a2b3c4d" + "0" * 24, "9f8e7d6c" + "1" * 24
COMPOSITION = "version: '2.1'\nservices:\n  main:\n    image: reg/alice/web/main@sha256:aa\n"


@pytest.fixture
def run(tmp_path: Path, database_url: str):
    """Run `fleetgate ARGS` against a fresh FLEETGATE_HOME and database; returns (status, stdout, stderr)."""
    env = {"FLEETGATE_HOME": str(tmp_path / "home"), "FLEETGATE_DATABASE_URL": database_url}
    gateway_home.create(tmp_path / "home")  # as `fleetgate serve` makes it

    def invoke(*args: str) -> tuple[int, str, str]:
        result = CliRunner(env=env).invoke(cli, list(args), prog_name="fleetgate")
        return result.exit_code, result.stdout, result.stderr

    return invoke


@pytest.fixture
def pushed(run, database_url: str) -> Iterator[None]:
    """alice/web with #1 a success (one image) and #2 a failed build (two images, one log each)."""
    run("user", "add", "alice")
    run("fleet", "create", "alice/web", "--device-type", "raspberrypi3")
    database = Database(database_url)
    with database.session() as session:
        fleet_id = session.query(models.Fleet.id).scalar()
        first = start(session, fleet_id, [])
        release_images.record_image(
            session,
            first.id,
            "main",
            "reg/alice/web/main:h1",
            "sha256:aa",
            52_400_000,
            12.4,
            "Step 1/2 : FROM busybox\nStep 2/2 : RUN true\n",
            "success",
        )
        releases.finish_release(session, first.id, "success", composition=COMPOSITION)
        second = start(session, fleet_id, ["nocache"], branch="refs/heads/balena-nocache", note="retry")
        release_images.record_image(
            session,
            second.id,
            "db",
            "reg/alice/web/db:h2",
            None,
            None,
            3.0,
            "Step 1/1 : FROM busybox\n",
            "success",
        )
        release_images.record_image(
            session,
            second.id,
            "main",
            "reg/alice/web/main:h2",
            None,
            None,
            65.2,
            "Step 2/2 : RUN false\nreturned a non-zero code: 1\n",
            "failed",
        )
        releases.finish_release(session, second.id, "failed", error="service main: RUN false returned 1")
    with database.session() as session:
        for made, hash_, minutes in ((first, HASH1, 0), (second, HASH2, 10)):
            created = T0 + timedelta(minutes=minutes)
            session.execute(
                update(models.Release)
                .where(models.Release.id == made.id)
                .values(hash=hash_, created_at=created, finished_at=created + timedelta(seconds=75))
            )
    database.dispose()
    yield


def start(session, fleet_id: int, options: list[str], branch: str = "refs/heads/master", note=None):
    builder, platform = "unix:///var/run/docker.sock", "linux/arm/v7"
    return releases.start_release(
        session, fleet_id, COMMIT, branch, options, note, "alice", KEY, builder, platform, "node-a"
    )


def test_release_list(run, pushed) -> None:
    assert run("release", "list", "alice/web") == (
        0,
        "ID  HASH     STATUS   COMMIT   BRANCH          CREATED                  BY     DURATION\n"
        "2   9f8e7d6  failed   0123456  balena-nocache  2025-03-01 09:40:00 UTC  alice  1m15s\n"
        "1   1a2b3c4  success  0123456  master          2025-03-01 09:30:00 UTC  alice  1m15s\n",
        "",
    )
    status, out, _ = run("release", "list", "alice/web", "--status", "success")
    assert (status, [line.split()[0] for line in out.splitlines()]) == (0, ["ID", "1"])
    status, out, _ = run("release", "list", "alice/web", "--json")
    listed = json.loads(out)
    assert [(r["id"], r["hash"], r["short_hash"], r["release"]) for r in listed] == [
        (2, HASH2, "9f8e7d6", "alice/web#2"),
        (1, HASH1, "1a2b3c4", "alice/web#1"),
    ]
    assert listed[0]["options"] == ["nocache"] and listed[0]["duration_seconds"] == 75.0
    assert listed[0]["created"] == "2025-03-01T09:40:00+00:00"


def test_release_list_refusals(run, pushed) -> None:
    assert run("release", "list", "alice/nope") == (
        1,
        "",
        "fleetgate: error: no fleet alice/nope; see: fleetgate fleet list\n",
    )
    status, _, err = run("release", "list", "alice/web", "--status", "done")
    assert (
        status == 2
        and "'done' is not one of 'running', 'success', 'failed', 'cancelled', 'interrupted'" in err
    )


def test_release_show_a_failed_release(run, pushed) -> None:
    assert run("release", "show", "alice/web#2") == (
        0,
        "release:    alice/web#2\n"
        "id:         2\n"
        f"hash:       {HASH2}\n"
        "status:     failed\n"
        f"commit:     {COMMIT}\n"
        "branch:     refs/heads/balena-nocache\n"
        "options:    nocache\n"
        "note:       retry\n"
        f"created by: alice ({KEY})\n"
        "created:    2025-03-01 09:40:00 UTC\n"
        "finished:   2025-03-01 09:41:15 UTC\n"
        "duration:   1m15s\n"
        "builder:    unix:///var/run/docker.sock\n"
        "platform:   linux/arm/v7\n"
        "node:       node-a\n"
        "error:      service main: RUN false returned 1\n"
        "\n"
        "SERVICE  IMAGE                  SIZE  BUILD TIME\n"
        "db       reg/alice/web/db:h2    -     3s\n"
        "main     reg/alice/web/main:h2  -     1m05s\n"
        "\n"
        "build log of db (success):\n"
        "Step 1/1 : FROM busybox\n"
        "\n"
        "build log of main (failed):\n"
        "Step 2/2 : RUN false\n"
        "returned a non-zero code: 1\n",
        "",
    )


def test_release_show_by_hash_with_composition(run, pushed) -> None:
    status, out, err = run("release", "show", "1A2B")
    assert (status, err) == (0, "")
    assert "release:    alice/web#1\n" in out and "options:    -\n" in out and "error:      -\n" in out
    assert "main     reg/alice/web/main:h1  52.4 MB  12s\n" in out
    logs = "build log of main (success):\nStep 1/2 : FROM busybox\nStep 2/2 : RUN true\n"
    assert out.endswith(f"\ncomposition:\n{COMPOSITION}\n{logs}")
    assert run("release", "show", HASH1)[1] == out
    shown = json.loads(run("release", "show", "alice/web#1", "--json")[1])
    assert (shown["hash"], shown["composition"], shown["created_by"]) == (
        HASH1,
        COMPOSITION,
        {"user": "alice", "key": KEY},
    )
    assert shown["images"] == [
        {
            "release_id": shown["images"][0]["release_id"],
            "service": "main",
            "image": "reg/alice/web/main:h1",
            "digest": "sha256:aa",
            "size": 52_400_000,
            "build_seconds": 12.4,
            "build_log": "Step 1/2 : FROM busybox\nStep 2/2 : RUN true\n",
            "status": "success",
        }
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("alice/web#3", "alice/web has no release #3; see: fleetgate release list alice/web"),
        ("ffff", "no release has a hash starting ffff; see: fleetgate release list OWNER/NAME"),
        (
            "1a",
            "'1a' is not a release; name a release as OWNER/NAME#N, by its hash, or by at least 4 leading "
            "characters of it",
        ),
    ],
)
def test_release_show_refusals(run, pushed, spec: str, message: str) -> None:
    assert run("release", "show", spec) == (1, "", f"fleetgate: error: {message}\n")


def test_an_empty_fleet_lists_no_release(run) -> None:
    run("user", "add", "alice")
    run("fleet", "create", "alice/web", "--device-type", "raspberrypi3")
    assert run("release", "list", "alice/web") == (
        0,
        "ID  HASH  STATUS  COMMIT  BRANCH  CREATED  BY  DURATION\n",
        "",
    )
    assert run("release", "list", "alice/web", "--json") == (0, "[]\n", "")


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "-"), (0.4, "0s"), (59.6, "1m00s"), (65, "1m05s"), (3600 + 62, "1h01m02s")],
)
def test_duration(seconds, shown: str) -> None:
    assert _duration(seconds) == shown


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (None, "-"),
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (52_400_000, "52.4 MB"),
        (3 * 10**12, "3.0 TB"),
    ],
)
def test_size(size, shown: str) -> None:
    assert _size(size) == shown
