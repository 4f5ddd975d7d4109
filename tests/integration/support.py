"""A real gateway (`fleetgate serve` on a free loopback port), real keys, the real git and OpenSSH clients."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fleetgate import home as gateway_home

FLEETGATE = [sys.executable, "-m", "fleetgate.cli"]
# gitd's tests exercise git, not Docker: their gateway runs the branch rules without building.
PLAIN_SERVE = [sys.executable, str(Path(__file__).parent / "gitd" / "plain_gateway.py")]
SERVE = FLEETGATE + ["serve"]


def _need(binary: str) -> None:
    if shutil.which(binary) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{binary} is required in CI")
        pytest.skip(f"{binary} is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Gateway:
    """A running gateway and the helpers a test needs to act as its users."""

    home: Path
    port: int
    env: dict[str, str]
    tmp: Path
    proc: subprocess.Popen | None = None
    keys: dict[str, Path] = field(default_factory=dict)
    serve: list[str] = field(default_factory=lambda: list(SERVE))

    def start(self, extra_env: dict[str, str] | None = None, timeout: float = 60) -> None:
        env = dict(self.env, **(extra_env or {}))
        with open(self.home / "serve.log", "ab") as log:
            self.proc = subprocess.Popen(self.serve, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("fleetgate serve exited:\n" + (self.home / "serve.log").read_text())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("fleetgate serve did not start listening")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def http_url(self, timeout: float = 20) -> str:
        """The device API's URL, as the startup text of the running `fleetgate serve` names it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.findall(r"HTTP API on (\S+)", (self.home / "serve.log").read_text(errors="replace"))
            if found:
                return found[-1]  # the newest start's
            time.sleep(0.05)
        raise RuntimeError(
            "fleetgate serve printed no HTTP API line:\n" + (self.home / "serve.log").read_text()
        )

    def cli(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            FLEETGATE + list(args), env=self.env, input=input, capture_output=True, text=True
        )
        if check and result.returncode != 0:
            raise AssertionError(f"fleetgate {' '.join(args)} failed: {result.stderr}")
        return result

    def new_key(self, name: str) -> Path:
        key = self.tmp / f"key-{name}"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
        )
        self.keys[name] = key
        return key

    def add_user(self, name: str) -> Path:
        self.cli("user", "add", name)
        key = self.new_key(name)
        self.cli("key", "add", name, str(key) + ".pub")
        return key

    def ssh_command(self, key: Path, login: str = "git") -> str:
        return (
            f"ssh -i {key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
            f"-o LogLevel=ERROR -o BatchMode=yes -l {login}"
        )

    def url(self, slug: str) -> str:
        return f"ssh://git@127.0.0.1:{self.port}/{slug}.git"

    def repo_of(self, fleet_id: int) -> Path:
        return self.home / "repositories" / f"{fleet_id}.git"

    def repo_for(self, slug: str) -> Path:
        """The fleet's bare repository on disk, found by its id as `fleetgate fleet show` gives it."""
        return self.repo_of(json.loads(self.cli("fleet", "show", slug, "--json").stdout)["id"])

    def ssh_argv(self, key: Path, command: str, login: str = "git") -> list[str]:
        """The OpenSSH client's argv for one command on the gateway."""
        return [*self.ssh_command(key, login).split(), "-p", str(self.port), "127.0.0.1", command]


def setup_fleet(gw: Gateway, slug: str = "alice/demo", device_type: str = "raspberrypi3") -> Path:
    """The fleet, and its owner with a key (made on first use); returns the owner's key."""
    owner = slug.split("/")[0]
    key = gw.keys.get(owner) or gw.add_user(owner)
    gw.cli("fleet", "create", slug, "--device-type", device_type)
    return key


def need_git_and_ssh() -> None:
    """The real git and OpenSSH clients, or a skip (a failure in CI)."""
    for binary in ("git", "ssh", "ssh-keygen"):
        _need(binary)


def new_gateway(tmp_path: Path, serve: list[str], extra_env: dict[str, str] | None = None) -> Gateway:
    """A gateway with its own home on a free port, not started yet."""
    need_git_and_ssh()
    home = tmp_path / "home"
    gateway_home.create(home)  # as `fleetgate serve` makes it: tests add users before it starts
    port = free_port()
    env = dict(
        # The HTTP API on a free port too (extra_env may name one): parallel gateways must not share :8080.
        {**os.environ, "FLEETGATE_HTTP_LISTEN": "127.0.0.1:0"},
        FLEETGATE_HOME=str(home),
        FLEETGATE_SSH_LISTEN=f"127.0.0.1:{port}",
        FLEETGATE_LOCK_WAIT="30",
        **(extra_env or {}),
    )
    return Gateway(home=home, port=port, env=env, tmp=tmp_path, serve=list(serve))


def git(
    *args: str,
    cwd: Path,
    key: Path | None = None,
    gw: Gateway | None = None,
    login: str = "git",
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run the real git client, talking to the gateway over the real OpenSSH client."""
    full_env = dict(os.environ, GIT_TERMINAL_PROMPT="0", **(env or {}))
    full_env.update(
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.org",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.org",
    )
    if key is not None and gw is not None:
        full_env["GIT_SSH_COMMAND"] = gw.ssh_command(key, login)
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def remote_lines(stderr: str) -> list[str]:
    """The `remote: …` lines git printed, without the prefix, the padding git adds and colour codes."""
    lines = [line[len("remote: ") :].rstrip() for line in stderr.splitlines() if line.startswith("remote: ")]
    return [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]


def unwrapped(lines: list[str]) -> list[str]:
    """Status lines as they were said: a wrapped line's continuations (indented) joined back onto it."""
    joined: list[str] = []
    for line in lines:
        if line.startswith(" " * 11) and joined:
            joined[-1] += " " + line.strip()
        else:
            joined.append(line)
    return joined


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    """A working repository with one commit of `files`."""
    path.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", "master", cwd=path)
    for name, content in (files or {"README": "hello\n"}).items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "first", cwd=path)
    return path
