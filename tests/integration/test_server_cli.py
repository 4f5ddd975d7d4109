"""`fleetgate server add|list|remove|proxy|trust` through a real subprocess, against a real OpenSSH sshd."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fleetgate import home as gateway_home

from .support import free_port

FLEETGATE = [sys.executable, "-m", "fleetgate.cli"]
SSHD = "/usr/sbin/sshd"

Run = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def run(tmp_path: Path, database_url: str) -> Run:
    """`fleetgate ARGS` in a subprocess with its own FLEETGATE_HOME, on SQLite and PostgreSQL."""
    env = dict(os.environ, FLEETGATE_HOME=str(tmp_path / "home"), FLEETGATE_DATABASE_URL=database_url)
    gateway_home.create(tmp_path / "home")  # as `fleetgate serve` makes it
    env.pop("FLEETGATE_REGISTRY", None)

    def invoke(*args: str, input: str | None = None, registry: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(
            FLEETGATE + list(args),
            env=dict(env, FLEETGATE_REGISTRY=registry),
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert invoke("user", "add", "alice").returncode == 0
    assert invoke("fleet", "create", "alice/web", "--device-type", "generic-amd64").returncode == 0
    return invoke


def error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr.removeprefix("fleetgate: error: ").rstrip("\n")


class Sshd:
    """Debian's sshd on a loopback port with a host key of its own; only its host key matters here."""

    def __init__(self, root: Path) -> None:
        self.root, self.port, self.proc = root, free_port(), None
        root.mkdir(parents=True, exist_ok=True)

    def start(self, key_name: str) -> None:
        key = self.root / key_name
        if not key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        config = self.root / "sshd_config"
        config.write_text(f"ListenAddress 127.0.0.1:{self.port}\nHostKey {key}\nPidFile none\nUsePAM no\n")
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not start")

    def fingerprint(self, key_name: str) -> str:
        shown = subprocess.run(["ssh-keygen", "-lf", str(self.root / f"{key_name}.pub")], capture_output=True)
        return shown.stdout.decode().split()[1]

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    if not (shutil.which("ssh-keygen") and Path(SSHD).exists()):
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's openssh-server is required in CI")
        pytest.skip("openssh-server is not installed")
    server = Sshd(tmp_path / "sshd")
    server.start("first")
    yield server
    server.stop()


def test_add_list_remove(run: Run, tmp_path: Path) -> None:
    key = tmp_path / "id_deploy"
    key.write_text("not read until a rollout\n")
    added = run("server", "add", "alice/web", "ssh://deploy@10.0.0.5", "--role", "web", "--key", str(key))
    assert added.returncode == 0, added.stderr
    assert added.stdout.splitlines() == [
        "added server ssh://deploy@10.0.0.5:22 to alice/web (role web)",
        "its host key is not trusted yet; check it: fleetgate server trust 10.0.0.5",
    ]
    assert added.stderr.startswith("fleetgate: warning: server rollouts pull images from a registry")
    second = run("server", "add", "alice/web", "ssh://root@10.0.0.6:2222", registry="127.0.0.1:5001")
    assert (second.returncode, second.stderr) == (0, "")
    assert second.stdout.startswith("added server ssh://root@10.0.0.6:2222 to alice/web (all services)\n")
    listed = json.loads(run("server", "list", "alice/web", "--json").stdout)
    assert [(s["address"], s["role"], s["key"], s["host_key"]) for s in listed] == [
        ("ssh://deploy@10.0.0.5:22", "web", str(key), "not trusted"),
        ("ssh://root@10.0.0.6:2222", None, None, "not trusted"),
    ]
    table = run("server", "list", "alice/web").stdout.splitlines()
    assert table[0].split() == ["SERVER", "ROLE", "KEY", "HOST", "KEY"]
    assert table[2].split() == ["ssh://root@10.0.0.6:2222", "(all)", "-", "not", "trusted"]
    removed = run("server", "remove", "alice/web", "10.0.0.6:2222", "--yes")
    assert (
        removed.stdout
        == "removed server ssh://root@10.0.0.6:2222 from alice/web; its containers keep running\n"
    )
    assert len(json.loads(run("server", "list", "alice/web", "--json").stdout)) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("alice/web", "deploy@10.0.0.5"),
            "'deploy@10.0.0.5' is not a server address; give it as ssh://USER@HOST",
        ),
        (("alice/web", "ssh://d@h", "--role", "Web"), "invalid role 'Web': use lower-case letters"),
        (("alice/web", "ssh://d@h", "--key", "/nonexistent/key"), "--key /nonexistent/key is not a file"),
        (("alice/nope", "ssh://d@h"), "no fleet alice/nope; see: fleetgate fleet list"),
        (("alice/web", "ssh://d@h", "--host", "bad_name"), "'bad_name' is not a host name or an IP address"),
    ],
)
def test_add_refusals(run: Run, args: tuple[str, ...], message: str) -> None:
    assert message in error_line(run("server", "add", *args))
    assert json.loads(run("server", "list", "alice/web", "--json").stdout) == []


def test_a_server_is_added_once_and_removed_by_name(run: Run) -> None:
    assert run("server", "add", "alice/web", "ssh://d@h.example.org").returncode == 0
    assert error_line(run("server", "add", "alice/web", "ssh://e@h.example.org:22")) == (
        "h.example.org is already a server of alice/web; "
        "to change it: fleetgate server remove alice/web h.example.org, then add it again"
    )
    assert error_line(run("server", "remove", "alice/web", "other.example.org", "--yes")) == (
        "other.example.org is not a server of alice/web; see: fleetgate server list alice/web"
    )


def test_proxy_settings(run: Run, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("cert\n")
    key.write_text("key\n")
    added = run("server", "add", "alice/web", "ssh://d@h", "--host", "App.Example.org")
    assert added.returncode == 0, added.stderr
    set_tls = run("server", "proxy", "alice/web", "--tls-cert", str(cert), "--tls-key", str(key), "--json")
    assert json.loads(set_tls.stdout) == {
        "fleet": "alice/web",
        "host": "app.example.org",
        "tls_cert": str(cert),
        "tls_key": str(key),
    }
    assert run("server", "proxy", "alice/web").stdout.splitlines()[1] == "host:     app.example.org"
    assert "give the TLS certificate and its key together" in error_line(
        run("server", "proxy", "alice/web", "--tls-cert", str(cert))
    )


def test_trust_needs_the_operator_to_accept_the_fingerprint(run: Run, sshd: Sshd, tmp_path: Path) -> None:
    known = tmp_path / "home" / "known_hosts"
    name = f"[127.0.0.1]:{sshd.port}"
    fingerprint = sshd.fingerprint("first")
    assert run("server", "add", "alice/web", f"ssh://deploy@127.0.0.1:{sshd.port}").returncode == 0
    refused = run("server", "trust", "127.0.0.1", input="n\n")  # the port comes from the server added
    assert refused.stdout.startswith(f"{name} offers the ssh-ed25519 host key {fingerprint}\n")
    assert error_line(refused).startswith(f"{name} is not trusted; compare the fingerprint")
    assert not known.exists()
    no_answer = run("server", "trust", f"127.0.0.1:{sshd.port}", input="")
    assert error_line(no_answer).startswith(f"{name} is not trusted")
    accepted = run("server", "trust", f"127.0.0.1:{sshd.port}", input="y\n")
    assert accepted.returncode == 0, accepted.stderr
    # A piped answer is not echoed: the line continues after the prompt.
    assert accepted.stdout.endswith(f"[y/N]: trusted {name}; recorded in {known}\n")
    # OpenSSH's own tools read the file fleetgate wrote.
    found = subprocess.run(["ssh-keygen", "-F", name, "-f", str(known)], capture_output=True, text=True)
    assert found.returncode == 0 and "ssh-ed25519" in found.stdout
    again = run("server", "trust", f"127.0.0.1:{sshd.port}")
    assert again.stdout == f"{name} is already trusted (ssh-ed25519 {fingerprint})\n"
    listed = json.loads(run("server", "list", "alice/web", "--json").stdout)
    assert listed[0]["host_key"] == "trusted"

    sshd.stop()  # the server is reinstalled: a new host key
    sshd.start("second")
    changed = error_line(run("server", "trust", f"127.0.0.1:{sshd.port}", "--yes"))
    assert changed.startswith(
        f"the ssh-ed25519 host key of {name} changed (now {sshd.fingerprint('second')})"
    )
    assert known.read_text().count("\n") == 1


def test_trust_with_yes_and_an_unreachable_server(run: Run, sshd: Sshd, tmp_path: Path) -> None:
    accepted = run("server", "trust", f"127.0.0.1:{sshd.port}", "--yes")
    assert accepted.returncode == 0, accepted.stderr
    assert (tmp_path / "home" / "known_hosts").read_text().startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")
    closed = free_port()
    assert error_line(run("server", "trust", f"127.0.0.1:{closed}", "--yes")).startswith(
        f"cannot connect to [127.0.0.1]:{closed}:"
    )


def test_rollout_commands_refuse_in_one_line(run: Run) -> None:
    assert error_line(run("deploy", "alice/web")) == (
        "alice/web has no target yet: push a release first, or name one"
    )
    assert "no fleet alice/nope" in error_line(run("deploy", "alice/nope"))
    assert error_line(run("server", "unlock", "alice/web", "10.0.0.9")) == (
        "10.0.0.9 is not a server of alice/web; see: fleetgate server list alice/web"
    )
    assert json.loads(run("server", "status", "alice/web", "--json").stdout) == []
