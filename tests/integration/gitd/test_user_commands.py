"""User commands over SSH with the real OpenSSH client: what a member, an owner and a stranger see.

The releases here are recorded as the build pipeline records them (no Docker): these tests are about
the SSH front-end and who may do what; tests/integration/build/test_follow_logs.py follows a real build.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from fleetgate.deploy import targets

from fleetgate import fleets, release_images, releases
from fleetgate.db import Database

from ..support import PLAIN_SERVE, Gateway, git, make_repo, new_gateway

COMMIT = "c0ffee" + "0" * 34


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory):
    """One gateway for the module: alice owns alice/demo (two releases), bob is a member, carol is not."""
    tmp = tmp_path_factory.mktemp("user-commands")
    gateway = new_gateway(tmp, PLAIN_SERVE)
    gateway.start()
    for name in ("alice", "bob", "carol"):
        gateway.add_user(name)
    gateway.cli("fleet", "create", "alice/demo", "--device-type", "raspberrypi3")
    gateway.cli("fleet", "create", "carol/own", "--device-type", "raspberrypi3")
    gateway.cli("fleet", "member", "add", "alice/demo", "bob")
    for number in (1, 2):
        record(gateway, "alice/demo", f"Step 1/2 : FROM busybox\nbuilt release {number}\n")
    yield gateway
    gateway.stop()


def record(gw: Gateway, slug: str, log: str) -> str:
    """A successful release with one image and its build log, made the fleet's target."""
    database = Database(f"sqlite:///{gw.home / 'fleetgate.db'}")
    try:
        with database.session() as session:
            fleet = fleets.get_fleet(session, *fleets.parse_slug(slug))
            started = releases.start_release(
                session, fleet.id, COMMIT, "refs/heads/master", (), None, "alice", "SHA256:x", "default",
                "linux/arm/v7", "test",
            )  # fmt: skip
            releases.set_composition(
                session, started.id, "version: '2.1'\nservices:\n  main:\n    image: x\n"
            )
            release_images.record_image(
                session, started.id, "main", f"{slug}/main:{started.hash}", None, 1000, 1.5, log, "success"
            )
            targets.on_release_success(session, releases.finish_release(session, started.id, "success"))
            return started.hash
    finally:
        database.dispose()


def ssh(gw: Gateway, user: str, command: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`ssh git@gateway COMMAND` as `user`, with the key they push with."""
    return subprocess.run(
        gw.ssh_argv(gw.keys[user], command), input=stdin, capture_output=True, text=True, timeout=60
    )


def said(result: subprocess.CompletedProcess) -> tuple[int, str, str]:
    return result.returncode, result.stdout, result.stderr


def test_help_lists_every_command(gw: Gateway) -> None:
    status, out, err = said(ssh(gw, "bob", "help"))
    assert (status, err) == (0, "")
    assert out.startswith(f"fleetgate commands, run as: ssh -p {gw.port} git@127.0.0.1 COMMAND")
    for usage in ("releases OWNER/NAME [--status S] [--json]", "logs RELEASE [--service S] [-f]"):
        assert f"  {usage}" in out


def test_whoami_names_the_user_and_the_key(gw: Gateway) -> None:
    fingerprint = gw.cli("key", "list", "bob", "--json").stdout
    status, out, _ = said(ssh(gw, "bob", "whoami"))
    assert status == 0
    assert out == f"bob\nkey {json.loads(fingerprint)[0]['fingerprint']}\n"


def test_a_member_lists_releases_as_the_cli_does(gw: Gateway) -> None:
    status, out, err = said(ssh(gw, "bob", "releases alice/demo --json"))
    assert (status, err) == (0, "")
    assert json.loads(out) == json.loads(gw.cli("release", "list", "alice/demo", "--json").stdout)
    assert [r["release"] for r in json.loads(out)] == ["alice/demo#2", "alice/demo#1"]


def test_a_member_reads_a_build_log(gw: Gateway) -> None:
    status, out, err = said(ssh(gw, "bob", "logs alice/demo#1"))
    assert (status, out, err) == (0, "[main] Step 1/2 : FROM busybox\n[main] built release 1\n", "")
    status, out, _ = said(ssh(gw, "bob", "release alice/demo#1 --logs"))
    assert status == 0
    assert "build log of main (success):" in out
    status, out, _ = said(ssh(gw, "bob", "release alice/demo#1"))
    assert (status, "build log" in out, "status:     success" in out) == (0, False, True)


def test_a_member_rolls_back_and_the_target_moves(gw: Gateway) -> None:
    status, out, err = said(ssh(gw, "bob", "rollback alice/demo"))
    assert (status, err) == (0, "")
    assert out.startswith("rolled alice/demo back to alice/demo#1 (")
    shown = json.loads(gw.cli("fleet", "show", "alice/demo", "--json").stdout)
    assert (shown["target"]["release"], shown["pinned"]) == ("alice/demo#1", True)
    status, out, _ = said(ssh(gw, "bob", "pin alice/demo --latest"))
    assert (status, out.split(";")[0]) == (0, "alice/demo follows its newest release again")
    assert json.loads(gw.cli("fleet", "show", "alice/demo", "--json").stdout)["target"]["id"] == 2


def test_a_member_may_not_set_a_variable_but_the_owner_may(gw: Gateway) -> None:
    assert said(ssh(gw, "bob", "env set alice/demo LEVEL=debug")) == (
        1,
        "",
        "fleetgate: error: only the owner of alice/demo may run env set on alice/demo\n",
    )
    assert ssh(gw, "alice", "env set alice/demo TOKEN=s3cret --secret").returncode == 0
    status, out, _ = said(ssh(gw, "bob", "env list alice/demo --json"))
    assert (status, json.loads(out)) == (
        0,
        [{"key": "TOKEN", "value": "***", "service": None, "device": None, "secret": True}],
    )
    assert "s3cret" not in (gw.home / "serve.log").read_text()  # the operator's log shows no value


@pytest.mark.parametrize(
    "command",
    [
        "releases {slug}",
        "fleet {slug}",
        "env list {slug}",
        "devices {slug}",
        "rollback {slug}",
        "members {slug}",
    ],
)
def test_a_stranger_gets_the_same_answer_for_an_existing_and_a_missing_fleet(
    gw: Gateway, command: str
) -> None:
    existing = said(ssh(gw, "carol", command.format(slug="alice/demo")))
    missing = said(ssh(gw, "carol", command.format(slug="alice/nothing")))
    assert existing[0] == missing[0] == 1
    assert existing[2].replace("alice/demo", "X") == missing[2].replace("alice/nothing", "X")
    assert existing[2] == (
        "fleetgate: error: fleet alice/demo not found, or you do not have access to it; "
        "ask its owner to add you\n"
    )


def test_a_stranger_cannot_read_a_release_by_its_hash(gw: Gateway) -> None:
    real = json.loads(gw.cli("release", "show", "alice/demo#1", "--json").stdout)["hash"]
    existing = said(ssh(gw, "carol", f"release {real}"))
    made_up = said(ssh(gw, "carol", "release " + "ab" * 16))
    assert existing[2].replace(real, "H") == made_up[2].replace("ab" * 16, "H")
    assert existing[0] == 1


def test_fleets_lists_only_what_the_user_may_see(gw: Gateway) -> None:
    assert [f["slug"] for f in json.loads(ssh(gw, "bob", "fleets --json").stdout)] == ["alice/demo"]
    assert [f["slug"] for f in json.loads(ssh(gw, "carol", "fleets --json").stdout)] == ["carol/own"]


def test_keys_add_from_stdin_then_a_push_with_the_new_key(gw: Gateway, tmp_path: Path) -> None:
    new = gw.new_key("bob-laptop")
    status, out, err = said(ssh(gw, "bob", "keys add --title laptop", stdin=Path(f"{new}.pub").read_text()))
    assert (status, err) == (0, "")
    assert out.startswith("SHA256:")
    listed = json.loads(ssh(gw, "bob", "keys list --json").stdout)
    assert sorted(k["title"] for k in listed) == ["bob", "laptop"]
    work = make_repo(tmp_path / "work")
    git("push", gw.url("alice/demo"), "master", cwd=work, key=new, gw=gw)
    # bob's keys are bob's: another user's are neither listed nor removable through his
    assert ssh(gw, "bob", "keys list alice").returncode == 2


def test_removing_the_only_key_is_refused(gw: Gateway) -> None:
    fingerprint = json.loads(ssh(gw, "carol", "keys list --json").stdout)[0]["fingerprint"]
    assert said(ssh(gw, "carol", f"keys remove {fingerprint} --yes")) == (
        1,
        "",
        "fleetgate: error: that is your only key: add another first (keys add), then remove this one\n",
    )


def test_keys_remove_needs_yes_over_ssh(gw: Gateway) -> None:
    spare = gw.new_key("alice-spare")
    fingerprint = gw.cli("key", "add", "alice", f"{spare}.pub", "--title", "spare").stdout.strip()
    assert said(ssh(gw, "alice", f"keys remove {fingerprint}")) == (
        1,
        "",
        f"fleetgate: error: this would remove key {fingerprint} (spare) of alice; add --yes to remove it "
        "(there is no terminal to ask on)\n",
    )
    assert said(ssh(gw, "alice", f"keys remove {fingerprint} --yes")) == (
        0,
        f"removed key {fingerprint} of alice\n",
        "",
    )


@pytest.mark.parametrize(
    ("command", "status", "error"),
    [
        (
            "releases alice/demo; rm -rf /",
            2,
            "fleetgate: releases: No such option '-r'; see: releases --help",
        ),
        ("releases $(id)", 1, "fleetgate: error: '$(id)' is not OWNER/NAME"),
        ("releases -- --json", 1, "fleetgate: error: '--json' is not OWNER/NAME"),
        ("releases ../../etc/passwd", 1, "fleetgate: error: invalid owner name '..': use 1-39 lower-case"),
        (
            "releases alice/demo --bogus",
            2,
            "fleetgate: releases: No such option '--bogus'; see: releases --help",
        ),
        ("sh -c id", 1, "fleetgate: unknown command 'sh'; the commands are: help, whoami, fleets,"),
        ("releases 'alice/demo", 1, "fleetgate: cannot split the command: No closing quotation"),
        ("env set alice/demo " + "A=" + "x" * 10_000, 1, "fleetgate: the command is longer than 4096 bytes"),
    ],
)
def test_hostile_arguments_get_one_line_and_change_nothing(
    gw: Gateway, command: str, status: int, error: str
) -> None:
    before = gw.cli("env", "list", "alice/demo", "--json").stdout
    result = ssh(gw, "alice", command)
    assert result.returncode == status
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(error)
    assert gw.cli("env", "list", "alice/demo", "--json").stdout == before


def test_non_utf8_bytes_are_refused(gw: Gateway) -> None:
    argv = [arg.encode() for arg in gw.ssh_argv(gw.keys["alice"], "x")]
    argv[-1] = b"releases alice/\xff\xfe"
    result = subprocess.run(argv, capture_output=True, timeout=60)
    assert result.returncode != 0
    assert result.stdout == b""
    assert len(result.stderr.splitlines()) == 1


def test_a_pty_request_is_refused_and_changes_nothing(gw: Gateway) -> None:
    argv = gw.ssh_argv(gw.keys["alice"], "env set alice/demo PTY=1")
    argv.insert(1, "-tt")  # insist on a terminal
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines() == ["fleetgate: no terminal here: run commands without -t"]
    assert "PTY" not in gw.cli("env", "list", "alice/demo").stdout
