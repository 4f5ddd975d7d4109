"""The `fleetgate` command as a user sees it: stdout, the stderr line and the exit status (DESIGN.md §3)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetgate import home as gateway_home
from fleetgate.asyncssh_import import asyncssh
from fleetgate.cli import cli

BAD_NAME = (
    "fleetgate: error: invalid user name 'Bob': use 1-39 lower-case letters, digits and '-', "
    "not starting with '-'\n"
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def run(home: Path, database_url: str):
    """Run `fleetgate ARGS` against a fresh FLEETGATE_HOME and database; returns (status, stdout, stderr)."""
    env = {
        "FLEETGATE_HOME": str(home),
        "FLEETGATE_DATABASE_URL": database_url,
        "FLEETGATE_SSH_LISTEN": "git.example.org:2222",
    }
    gateway_home.create(home)  # as `fleetgate serve` makes it

    def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        result = CliRunner(env=env).invoke(cli, list(args), input=stdin, prog_name="fleetgate")
        return result.exit_code, result.stdout, result.stderr

    return invoke


def ed25519(comment: str = "me@laptop") -> tuple[str, str]:
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    return key.export_public_key().decode(), key.get_fingerprint("sha256")


def test_users(run) -> None:
    assert run("user", "add", "alice") == (
        0,
        "added user alice; add their SSH key with: fleetgate key add alice ~/.ssh/id_ed25519.pub\n",
        "",
    )
    assert run("user", "add", "Bob") == (1, "", BAD_NAME)
    assert run("user", "add", "alice") == (1, "", "fleetgate: error: user 'alice' already exists\n")
    status, out, _ = run("user", "list")
    assert (status, [line.split()[0] for line in out.splitlines()]) == (0, ["NAME", "alice"])
    status, out, _ = run("user", "list", "--json")
    assert [u["name"] for u in json.loads(out)] == ["alice"]
    assert run("user", "remove", "alice", "--yes") == (0, "removed user alice\n", "")
    assert run("user", "remove", "alice", "--yes") == (
        1,
        "",
        "fleetgate: error: no user 'alice'; create it with: fleetgate user add alice\n",
    )


def test_keys(run, tmp_path: Path) -> None:
    (line1, fp1), (line2, fp2) = ed25519(), ed25519("ci")
    pub = tmp_path / "keys.pub"
    pub.write_text(f"# two keys\n{line1}\n\n{line2}\n")
    run("user", "add", "alice")
    assert run("key", "add", "alice", str(pub), "--title", "work") == (0, f"{fp1}\n{fp2}\n", "")
    assert run("key", "add", "alice", "-", stdin=line1) == (
        1,
        "",
        f"fleetgate: error: key {fp1} is already registered; each key has one user\n",
    )
    assert run("key", "add", "alice", "-", stdin=f'command="sh" {line1}') == (
        1,
        "",
        "fleetgate: error: authorized_keys options (command=, no-pty, from=, ...) are not accepted; "
        "give the bare key line as in your .pub file\n",
    )
    status, out, _ = run("key", "list", "alice", "--json")
    assert [(k["fingerprint"], k["type"], k["bits"], k["title"]) for k in json.loads(out)] == [
        (fp1, "ssh-ed25519", 256, "work"),
        (fp2, "ssh-ed25519", 256, "work"),
    ]
    status, out, _ = run("key", "list", "alice")
    assert out.splitlines()[0].split() == ["FINGERPRINT", "TYPE", "BITS", "TITLE", "ADDED"]
    assert run("key", "remove", "alice", fp1, "--yes") == (0, f"removed key {fp1} of alice\n", "")
    assert run("key", "remove", "alice", fp1, "--yes") == (
        1,
        "",
        f"fleetgate: error: user 'alice' has no key {fp1}; see: fleetgate key list alice\n",
    )


def test_fleets(run, home: Path) -> None:
    run("user", "add", "alice")
    run("user", "add", "bob")
    assert run("fleet", "create", "alice/app", "--device-type", "raspberrypi4-64") == (
        0,
        "created fleet alice/app (raspberrypi4-64, aarch64)\n"
        "add it as a git remote in your project:\n"
        "  git remote add balena ssh://git@git.example.org:2222/alice/app.git\n",
        "",
    )
    repository = home / "repositories" / "1.git"
    assert (repository / "HEAD").read_text() == "ref: refs/heads/master\n"
    assert run("fleet", "member", "add", "alice/app", "bob") == (0, "bob may now push to alice/app\n", "")
    assert run("fleet", "show", "alice/app") == (
        0,
        "fleet:       alice/app\n"
        "id:          1\n"
        "device type: raspberrypi4-64\n"
        "arch:        aarch64\n"
        "owner:       alice\n"
        "members:     bob\n"
        "remote:      ssh://git@git.example.org:2222/alice/app.git\n"
        "target:      -\n"
        "pinned:      no\n"
        "push waits:  no\n",
        "",
    )
    assert run("fleet", "set", "alice/app", "--wait-for-devices") == (
        0,
        "every push to alice/app waits for its devices\n",
        "",
    )
    assert run("fleet", "show", "alice/app")[1].splitlines()[-1] == "push waits:  for devices"
    assert json.loads(run("fleet", "show", "alice/app", "--json")[1])["wait_for_devices"] is True
    assert run("fleet", "set", "alice/app", "--no-wait-for-devices")[1] == (
        "every push to alice/app no longer waits for its devices (unless -o wait=devices)\n"
    )
    assert run("fleet", "list") == (0, "FLEET      DEVICE TYPE      ID\nalice/app  raspberrypi4-64  1\n", "")
    assert json.loads(run("fleet", "list", "--user", "bob", "--json")[1]) == [
        {
            "id": 1,
            "owner": "alice",
            "name": "app",
            "device_type": "raspberrypi4-64",
            "wait_for_devices": False,
            "slug": "alice/app",
        }
    ]
    assert run("fleet", "member", "remove", "alice/app", "bob") == (
        0,
        "bob may no longer push to alice/app\n",
        "",
    )
    assert run("fleet", "remove", "alice/app", "--yes") == (
        0,
        "removed fleet alice/app and its repository\n",
        "",
    )
    assert not repository.exists()


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (
            ("fleet", "create", "alice/app", "--device-type", "toaster"),
            "fleetgate: error: unknown device type 'toaster'; choose one of: raspberry-pi, raspberrypi3, "
            "raspberrypi4-64, beaglebone-black, intel-nuc, generic-amd64, generic-aarch64, qemux86\n",
        ),
        (
            ("fleet", "create", "app", "--device-type", "intel-nuc"),
            "fleetgate: error: 'app' is not OWNER/NAME; name a fleet like alice/frontend\n",
        ),
        (
            ("fleet", "create", "alice/A_pp", "--device-type", "intel-nuc"),
            "fleetgate: error: invalid fleet name 'A_pp': use 1-39 lower-case letters, digits and '-', "
            "not starting with '-'\n",
        ),
        (
            ("fleet", "show", "alice/nope"),
            "fleetgate: error: no fleet alice/nope; see: fleetgate fleet list\n",
        ),
        (
            ("fleet", "remove", "alice/nope", "--yes"),
            "fleetgate: error: no fleet alice/nope; see: fleetgate fleet list\n",
        ),
    ],
)
def test_fleet_errors(run, home: Path, args: tuple[str, ...], stderr: str) -> None:
    run("user", "add", "alice")
    assert run(*args) == (1, "", stderr)
    assert not (home / "repositories").exists() or list((home / "repositories").iterdir()) == []


def test_create_refuses_an_orphaned_repository(run, home: Path) -> None:
    (home / "repositories" / "1.git").mkdir(parents=True)
    run("user", "add", "alice")
    status, out, err = run("fleet", "create", "alice/app", "--device-type", "intel-nuc")
    assert (status, out) == (1, "")
    assert err.startswith(f"fleetgate: error: {home / 'repositories' / '1.git'} exists but no fleet owns it")
    assert run("fleet", "list", "--json") == (0, "[]\n", "")


@pytest.mark.parametrize("args", [("fleet",), ("fleet", "create", "a/b"), ("nonsense",), ("user", "add")])
def test_bad_usage_exits_2(run, args: tuple[str, ...]) -> None:
    assert run(*args)[0] == 2


def test_device_types_need_no_database(home: Path) -> None:
    result = CliRunner(env={"FLEETGATE_HOME": str(home)}).invoke(cli, ["device-types", "--json"])
    assert (result.exit_code, json.loads(result.stdout)[0]) == (
        0,
        {"slug": "raspberry-pi", "name": "Raspberry Pi (v1 / Zero / Zero W)", "arch": "rpi"},
    )
    assert not home.exists()


def test_serve_hands_settings_and_a_migrated_database_to_the_gateway(home: Path, monkeypatch) -> None:
    # A stand-in for the gateway process: this test is about the composition root, not the SSH edge.
    import fleetgate

    seen = []
    fake = types.ModuleType("fleetgate.serve")
    fake.run = lambda settings, database, commands: seen.append((settings, database, commands))
    monkeypatch.setitem(sys.modules, "fleetgate.serve", fake)
    monkeypatch.setattr(fleetgate, "serve", fake, raising=False)
    env = {"FLEETGATE_HOME": str(home), "FLEETGATE_DATABASE_URL": None}
    result = CliRunner(env=env).invoke(cli, ["serve"])
    assert result.exit_code == 0, result.output
    ((settings, database, commands),) = seen
    assert callable(commands)  # the users' SSH commands: these very commands, as the key's user
    newest = max(
        p.name[:4] for p in (Path(fleetgate.__file__).parent / "migrations" / "versions").glob("0*.py")
    )
    assert (settings.home, database.revision()) == (home, newest)


def test_a_fault_shows_a_reference_never_a_traceback(tmp_path: Path) -> None:
    # The database being down is fleetgate's fault (DESIGN.md §4): a reference for the user, details logged.
    env = {
        **os.environ,
        "FLEETGATE_HOME": str(tmp_path),
        "FLEETGATE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
    }
    gateway_home.create(tmp_path)
    script = "from fleetgate.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", script, "user", "list"], env=env, capture_output=True, text=True
    )
    found = re.fullmatch(
        r"fleetgate: error: internal error \(reference ([0-9a-f]{8})\); the details are in (.+)\n",
        done.stderr,
    )
    assert (done.returncode, done.stdout, bool(found)) == (1, "", True), done.stderr
    log = Path(found[2]).read_text()
    assert f"fault {found[1]}" in log and "Traceback" in log and "Connection refused" in log
