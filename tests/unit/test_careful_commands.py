"""Careful commands (issue 19): removals ask on a terminal and need --yes elsewhere; `server add --key`
wants the private key; `server status` fails when a server does; a PostgreSQL URL without its driver."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetgate import fleets, releases
from fleetgate import home as gateway_home
from fleetgate.asyncssh_import import asyncssh
from fleetgate.cli import cli, confirmation
from fleetgate.db import Database

COMMIT = "0123456789abcdef0123456789abcdef01234567"
NO_TERMINAL = "; add --yes to remove it (there is no terminal to ask on)\n"


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command runs with a person at a terminal (CliRunner's stdin is a pipe otherwise)."""
    monkeypatch.setattr(confirmation, "stdin_is_terminal", lambda: True)


@pytest.fixture
def run(tmp_path: Path, database_url: str):
    """`fleetgate ARGS` against a fresh home where alice owns alice/web; returns (status, stdout, stderr)."""
    env = {"FLEETGATE_HOME": str(tmp_path / "home"), "FLEETGATE_DATABASE_URL": database_url}
    gateway_home.create(tmp_path / "home")  # as `fleetgate serve` makes it

    def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        result = CliRunner(env=env).invoke(cli, list(args), input=stdin, prog_name="fleetgate")
        return result.exit_code, result.stdout, result.stderr

    invoke("user", "add", "alice")
    invoke("fleet", "create", "alice/web", "--device-type", "generic-amd64")
    return invoke


def record_releases(database_url: str, count: int) -> None:
    database = Database(database_url)
    try:
        with database.session() as session:
            fleet_id = fleets.get_fleet(session, "alice", "web").id
            for _ in range(count):
                started = releases.start_release(
                    session, fleet_id, COMMIT, "refs/heads/master", (), None, "alice", "SHA256:x",
                    "default", "linux/amd64", "node-a",
                )  # fmt: skip
                releases.finish_release(session, started.id, "failed")
    finally:
        database.dispose()


def public_key(tmp_path: Path, name: str) -> tuple[Path, str]:
    key = asyncssh.generate_private_key("ssh-ed25519", comment=name)
    path = tmp_path / f"{name}.pub"
    path.write_bytes(key.export_public_key())
    return path, key.get_fingerprint("sha256")


def fleet_slugs(run) -> list[str]:
    return [f["slug"] for f in json.loads(run("fleet", "list", "--json")[1])]


def test_fleet_remove_without_a_terminal_needs_yes(run, database_url: str) -> None:
    record_releases(database_url, 12)
    assert run("server", "add", "alice/web", "ssh://deploy@10.0.0.5")[0] == 0
    assert run("fleet", "remove", "alice/web") == (
        1,
        "",
        "fleetgate: error: this would remove fleet alice/web, its repository, its 12 releases and its "
        "1 server" + NO_TERMINAL,
    )
    assert fleet_slugs(run) == ["alice/web"]
    assert run("fleet", "remove", "alice/web", "--yes") == (
        0,
        "removed fleet alice/web and its repository\n",
        "",
    )
    assert fleet_slugs(run) == []


def test_fleet_remove_asks_on_a_terminal(run, database_url: str, terminal: None) -> None:
    record_releases(database_url, 1)
    question = "remove fleet alice/web, its repository and its 1 release? [y/N]: "
    assert run("fleet", "remove", "alice/web", stdin="n\n") == (
        1,
        "",
        question + "n\nfleetgate: error: nothing removed\n",  # CliRunner echoes the answer
    )
    # Enter takes the default, No; the end of input (Ctrl-D) is a No too.
    assert run("fleet", "remove", "alice/web", stdin="\n")[2].endswith("nothing removed\n")
    assert (
        run("fleet", "remove", "alice/web", stdin="")[2] == question + "\nfleetgate: error: nothing removed\n"
    )
    assert fleet_slugs(run) == ["alice/web"]
    assert run("fleet", "remove", "alice/web", stdin="y\n") == (
        0,
        "removed fleet alice/web and its repository\n",
        question + "y\n",
    )
    assert fleet_slugs(run) == []


def test_a_missing_fleet_is_named_before_any_question(run, terminal: None) -> None:
    assert run("fleet", "remove", "alice/nope") == (
        1,
        "",
        "fleetgate: error: no fleet alice/nope; see: fleetgate fleet list\n",
    )


def test_user_remove_names_their_keys_tokens_and_memberships(run, tmp_path: Path) -> None:
    run("user", "add", "bob")
    pub, _ = public_key(tmp_path, "bob")
    assert run("key", "add", "bob", str(pub))[0] == 0
    assert run("token", "create", "--user", "bob")[0] == 0
    assert run("fleet", "member", "add", "alice/web", "bob")[0] == 0
    assert run("user", "remove", "bob") == (
        1,
        "",
        "fleetgate: error: this would remove user bob, their 1 key, their 1 access token and their "
        "membership of 1 fleet" + NO_TERMINAL,
    )
    assert run("user", "remove", "bob", "--yes") == (0, "removed user bob\n", "")
    run("user", "add", "carol")
    assert run("user", "remove", "carol")[2] == "fleetgate: error: this would remove user carol" + NO_TERMINAL


def test_user_remove_refuses_an_owner_without_asking(run, terminal: None) -> None:
    assert run("user", "remove", "alice") == (
        1,
        "",
        "fleetgate: error: user 'alice' still owns alice/web; remove them first with: "
        "fleetgate fleet remove\n",
    )
    assert run("user", "remove", "nobody")[2] == (
        "fleetgate: error: no user 'nobody'; create it with: fleetgate user add nobody\n"
    )


def test_key_remove(run, tmp_path: Path, terminal: None) -> None:
    pub, fingerprint = public_key(tmp_path, "laptop")
    assert run("key", "add", "alice", str(pub), "--title", "work laptop")[0] == 0
    question = f"remove key {fingerprint} (work laptop) of alice? [y/N]: "
    assert run("key", "remove", "alice", fingerprint, stdin="no\n") == (
        1,
        "",
        question + "no\nfleetgate: error: nothing removed\n",
    )
    # The fingerprint may be given without its SHA256: prefix, as before.
    bare = fingerprint.removeprefix("SHA256:")
    assert run("key", "remove", "alice", bare, stdin="yes\n") == (
        0,
        f"removed key {fingerprint} of alice\n",
        question + "yes\n",
    )
    assert run("key", "remove", "alice", fingerprint) == (
        1,
        "",
        f"fleetgate: error: user 'alice' has no key {fingerprint}; see: fleetgate key list alice\n",
    )


def test_server_remove(run, terminal: None) -> None:
    assert run("server", "add", "alice/web", "ssh://deploy@10.0.0.5:2222")[0] == 0
    question = "remove server ssh://deploy@10.0.0.5:2222 of alice/web (its containers keep running)? [y/N]: "
    assert run("server", "remove", "alice/web", "10.0.0.5", stdin="n\n") == (
        1,
        "",
        question + "n\nfleetgate: error: nothing removed\n",
    )
    assert run("server", "remove", "alice/web", "10.0.0.9")[2] == (
        "fleetgate: error: 10.0.0.9 is not a server of alice/web; see: fleetgate server list alice/web\n"
    )
    assert run("server", "remove", "alice/web", "10.0.0.5:2222", stdin="y\n") == (
        0,
        "removed server ssh://deploy@10.0.0.5:2222 from alice/web; its containers keep running\n",
        question + "y\n",
    )


def test_server_remove_without_a_terminal_needs_yes(run) -> None:
    assert run("server", "add", "alice/web", "ssh://deploy@10.0.0.5")[0] == 0
    assert run("server", "remove", "alice/web", "10.0.0.5")[2] == (
        "fleetgate: error: this would remove server ssh://deploy@10.0.0.5:22 of alice/web (its containers "
        "keep running)" + NO_TERMINAL
    )
    assert run("server", "remove", "alice/web", "10.0.0.5", "--yes")[0] == 0


def test_server_add_refuses_a_public_key(run, tmp_path: Path) -> None:
    pub, _ = public_key(tmp_path, "id_deploy")
    assert run("server", "add", "alice/web", "ssh://d@h", "--key", str(pub)) == (
        1,
        "",
        f"fleetgate: error: --key {pub} is a public key; SSH logs in with the private one: "
        "give the private key\n",
    )
    private = tmp_path / "id_deploy"
    private.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn…\n-----END OPENSSH PRIVATE KEY-----\n")
    assert run("server", "add", "alice/web", "ssh://d@h", "--key", str(pub))[2] == (
        f"fleetgate: error: --key {pub} is a public key; SSH logs in with the private one: "
        f"give --key {private}\n"
    )
    # A public key line under another name is refused by its content.
    renamed = tmp_path / "deploy-key"
    renamed.write_text(pub.read_text())
    assert run("server", "add", "alice/web", "ssh://d@h", "--key", str(renamed))[2] == (
        f"fleetgate: error: --key {renamed} is a public key; SSH logs in with the private one: "
        "give the private key\n"
    )
    assert json.loads(run("server", "list", "alice/web", "--json")[1]) == []
    status, out, _ = run("server", "add", "alice/web", "ssh://d@h", "--key", str(private))
    assert (status, out.splitlines()[0]) == (0, "added server ssh://d@h:22 to alice/web (all services)")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_server_status_fails_when_a_server_is_unreachable(run) -> None:
    assert run("server", "status", "alice/web") == (0, "SERVER  RELEASE  HEALTH  LOCK\n", "")
    port = closed_port()
    assert run("server", "add", "alice/web", f"ssh://deploy@127.0.0.1:{port}")[0] == 0
    status, out, err = run("server", "status", "alice/web")
    assert status == 1
    assert out.splitlines()[1].split()[:3] == [f"127.0.0.1:{port}", "?", "unreachable"]
    assert err == f"fleetgate: error: 1 of 1 servers need attention: 127.0.0.1:{port} unreachable\n"
    status, out, err = run("server", "status", "alice/web", "--json")
    assert (status, [s["reachable"] for s in json.loads(out)]) == (1, [False])
    assert err.endswith(f"127.0.0.1:{port} unreachable\n")


def test_a_postgresql_url_without_the_driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` fails as when it is not installed
    env = {"FLEETGATE_HOME": str(tmp_path / "home"), "FLEETGATE_DATABASE_URL": "postgresql://u@127.0.0.1/db"}
    gateway_home.create(tmp_path / "home")
    result = CliRunner(env=env).invoke(cli, ["user", "list"], prog_name="fleetgate")
    assert (result.exit_code, result.stdout, result.stderr) == (
        1,
        "",
        "fleetgate: error: FLEETGATE_DATABASE_URL is a PostgreSQL URL but its driver (psycopg) is not "
        "installed: pip install 'fleetgate[postgresql]'\n",
    )
