"""Extra Docker daemons, one per simulated device or server, as notes/docker-here.md shows.

Each daemon has its own data root, exec root, socket and bridge, so its images, pulls and containers
are its own. Bridges are named and numbered by the caller (`fgbr<N>`, 172.31.N.1/24): keep the numbers
of different test packages apart (devices 1-9, servers 11-19). Never start one with `--bridge none`:
that deletes the first daemon's docker0.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DOCKER_CLI = "/usr/bin/docker"
STATE = Path("/var/tmp/fleetgate-dockerds")


@dataclass(frozen=True)
class Dockerd:
    """A running extra daemon; `host` is its DOCKER_HOST URL."""

    number: int
    process: subprocess.Popen
    root: Path

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def bridge(self) -> str:
        return f"fgbr{self.number}"

    @property
    def gateway_ip(self) -> str:
        """The host's address on this daemon's bridge (containers reach the host there)."""
        return f"172.31.{self.number}.1"

    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        """Debian's docker CLI against this daemon, text output captured."""
        return subprocess.run(
            [DOCKER_CLI, "-H", self.host, *args], capture_output=True, text=True, check=check, timeout=timeout
        )


def _run(*argv: str) -> None:
    subprocess.run(argv, capture_output=True, check=False, timeout=30)


def _bridge(number: int) -> None:
    name = f"fgbr{number}"
    if subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0:
        return
    _run("ip", "link", "add", "name", name, "type", "bridge")
    _run("ip", "addr", "add", f"172.31.{number}.1/24", "dev", name)
    _run("ip", "link", "set", name, "up")


def pool_prefix(number: int) -> str:
    """The first two octets of the address pool of daemon `number`'s networks (10.200+N.x.0/24)."""
    return f"10.{200 + number}"


def _remove_network_bridges(number: int) -> None:
    """Delete bridges left in daemon `number`'s pool (a daemon leaves its networks' bridges when stopped)."""
    shown = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
    ours = pool_prefix(number) + "."
    for line in shown.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[1].startswith("br-") and fields[3].startswith(ours):
            _run("ip", "link", "delete", fields[1])


def start_dockerd(number: int, timeout: float = 60) -> Dockerd:
    """Start daemon `number` on bridge fgbr<number> with a fresh data root; wait until it answers."""
    root = STATE / f"d{number}"
    stop_leftover(root)
    _remove_network_bridges(number)
    shutil.rmtree(root, ignore_errors=True)
    (root / "data").mkdir(parents=True)
    _bridge(number)
    log = open(root / "dockerd.log", "wb")  # noqa: SIM115 - the daemon writes it for its whole life
    process = subprocess.Popen(
        [
            "dockerd",
            "--data-root",
            str(root / "data"),
            "--exec-root",
            str(root / "exec"),
            "-H",
            f"unix://{root / 'docker.sock'}",
            "--pidfile",
            str(root / "dockerd.pid"),
            "--bridge",
            f"fgbr{number}",
            "--iptables=false",
            # Networks from a pool of this daemon's own: the default pools are shared by every daemon on
            # the machine and run out (each daemon sees the others' bridges as taken).
            "--default-address-pool",
            f"base={pool_prefix(number)}.0.0/16,size=24",
            "--ip-masq=false",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    daemon = Dockerd(number, process, root)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dockerd {number} exited: {(root / 'dockerd.log').read_text()[-2000:]}")
        if daemon.socket.exists() and daemon.cli("info", check=False, timeout=10).returncode == 0:
            return daemon
        time.sleep(0.3)
    stop_dockerd(daemon)
    raise RuntimeError(f"dockerd {number} did not answer within {timeout}s")


def stop_leftover(root: Path) -> None:
    """Stop a daemon a crashed earlier run left behind in `root`."""
    pidfile = root / "dockerd.pid"
    if pidfile.exists():
        try:
            pid = int(pidfile.read_text().strip())
            subprocess.run(["kill", "-TERM", str(pid)], capture_output=True)
            time.sleep(2)
        except ValueError:
            pass
    _unmount(root)


def _unmount(root: Path) -> None:
    # A stopped daemon can leave exec-root/netns/default mounted; rmtree fails on it otherwise.
    netns = root / "exec" / "netns" / "default"
    if netns.exists():
        _run("umount", "-l", str(netns))


def stop_dockerd(daemon: Dockerd, remove: bool = True) -> None:
    """Remove the daemon's containers, stop it and (by default) delete its data."""
    if daemon.process.poll() is None:
        ids = daemon.cli("ps", "-aq", check=False).stdout.split()
        if ids:
            daemon.cli("rm", "-f", *ids, check=False)
        daemon.cli("network", "prune", "-f", check=False)
        daemon.process.send_signal(signal.SIGTERM)
        try:
            daemon.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.process.kill()
            daemon.process.wait(timeout=10)
    _unmount(daemon.root)
    _remove_network_bridges(daemon.number)
    if remove:
        shutil.rmtree(daemon.root, ignore_errors=True)


def load_image(daemon: Dockerd, image: str) -> None:
    """Copy a local image of the main daemon into `daemon` (base images cannot be pulled here)."""
    save = subprocess.Popen([DOCKER_CLI, "save", image], stdout=subprocess.PIPE)
    subprocess.run(
        [DOCKER_CLI, "-H", daemon.host, "load"],
        stdin=save.stdout,
        capture_output=True,
        check=True,
        timeout=120,
    )
    save.wait(timeout=30)
