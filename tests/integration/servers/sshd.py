"""Test servers: Debian's sshd on 127.0.0.N, each driving its own dockerd, with the proxy image loaded.

`start_servers((11, 12))` gives two "servers" as a fleetgate operator sees them: ssh://root@127.0.0.N:22NN
with a private key and a known-hosts file that trusts their host keys. Each sshd session runs in the
server's own home (ForceCommand sets HOME and cd's there) with DOCKER_HOST pointing at its dockerd and
DOCKER_CONFIG in that home, so the servers share nothing but the machine. Numbers: rollout tests 11-15,
the push tests 16-19; FLEETGATE_TEST_SERVERS=N,N gives a package other ones, so that two checkouts can
run the same package on one machine at once.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..dockerds import Dockerd, load_image, start_dockerd, stop_dockerd

STATE = Path("/var/tmp/fleetgate-servers")
PROXY_IMAGE = "fleetgate-proxy:2.6"
SSHD = "/usr/sbin/sshd"


def numbers(default: tuple[int, ...]) -> tuple[int, ...]:
    """The servers' numbers: `default`, or as many from FLEETGATE_TEST_SERVERS (comma-separated)."""
    given = [int(n) for n in os.environ.get("FLEETGATE_TEST_SERVERS", "").split(",") if n.strip()]
    return tuple(given[: len(default)]) if len(given) >= len(default) else default


@dataclass(frozen=True)
class TestServer:
    """A running test server: where to log in and what runs behind it."""

    number: int
    host: str
    port: int
    user: str
    key_path: Path
    known_hosts: Path
    home: Path
    dockerd: Dockerd
    sshd: subprocess.Popen

    @property
    def url(self) -> str:
        return f"ssh://{self.user}@{self.host}:{self.port}"


def _keygen(path: Path) -> Path:
    path.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


def _wait_port(host: str, port: int, proc: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd on {host}:{port} exited")
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"sshd on {host}:{port} did not listen within {timeout}s")


def _stop_leftover(folder: Path) -> None:
    pidfile = folder / "sshd.pid"
    if pidfile.exists():
        subprocess.run(["kill", "-TERM", pidfile.read_text().strip()], capture_output=True)


def start_server(number: int, client_key: Path, known_hosts: Path) -> TestServer:
    """Start server `number`: its dockerd (proxy image loaded) and its sshd on 127.0.0.<number>."""
    folder = STATE / f"s{number}"
    _stop_leftover(folder)
    shutil.rmtree(folder, ignore_errors=True)
    home = folder / "home"
    home.mkdir(parents=True)
    daemon = start_dockerd(number)
    try:
        load_image(daemon, PROXY_IMAGE)
        host, port = f"127.0.0.{number}", 2200 + number
        host_key = _keygen(folder / "ssh_host_ed25519_key")
        shutil.copy(client_key.with_suffix(".pub"), folder / "authorized_keys")
        env = f"HOME={home} DOCKER_CONFIG={home}/.docker"
        force = f'export {env}; cd {home} && exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"'
        config = folder / "sshd_config"
        config.write_text(
            f"Port {port}\nListenAddress {host}\nHostKey {host_key}\nPidFile {folder / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {folder / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nMaxStartups 100\n"
            f"MaxSessions 100\nLogLevel ERROR\nForceCommand {force}\n"
            # HOME here too: bash sources ~/.bashrc for sshd sessions, and the machine's root one is slow.
            f"SetEnv DOCKER_HOST={daemon.host} {env}\n"
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        subprocess.run([SSHD, "-t", "-f", str(config)], check=True, capture_output=True)
        with open(folder / "sshd.log", "wb") as log:
            proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        _wait_port(host, port, proc)
        public = host_key.with_suffix(".pub").read_text().split()
        with known_hosts.open("a") as out:
            out.write(f"[{host}]:{port} {public[0]} {public[1]}\n")
        return TestServer(number, host, port, "root", client_key, known_hosts, home, daemon, proc)
    except BaseException:
        stop_dockerd(daemon)
        raise


def start_servers(numbers: tuple[int, ...] | list[int], folder: Path) -> list[TestServer]:
    """Start the servers; `folder` gets the client key (`id_ed25519`) and `known_hosts`."""
    folder.mkdir(parents=True, exist_ok=True)
    key = _keygen(folder / "id_ed25519")
    known_hosts = folder / "known_hosts"
    known_hosts.write_text("")
    started: list[TestServer] = []
    try:
        for number in numbers:
            started.append(start_server(number, key, known_hosts))
    except BaseException:
        stop_servers(started)
        raise
    return started


def stop_servers(servers: list[TestServer]) -> None:
    """Stop sshd and dockerd of each server and delete their folders."""
    for server in servers:
        server.sshd.send_signal(signal.SIGTERM)
        try:
            server.sshd.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.sshd.kill()
        stop_dockerd(server.dockerd)
        shutil.rmtree(STATE / f"s{server.number}", ignore_errors=True)
