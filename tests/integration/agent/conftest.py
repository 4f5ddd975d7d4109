"""The agent's end-to-end fixtures: a real `fleetgate serve` (SSH + device API) building into the
authenticated registry, and devices that are each a real dockerd with a real `fleetgate agent`."""

from __future__ import annotations

import itertools
import json
import shutil
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..conftest import AUTH_PASSWORD, AUTH_USER
from ..dockerds import start_dockerd, stop_dockerd
from ..support import SERVE, Gateway, free_port, git, new_gateway, setup_fleet
from .devices import Device, agent_env, until

PROJECTS = Path(__file__).resolve().parents[2] / "projects"
METRICS_TOKEN = "agent-tests-metrics"
NUMBERS = itertools.count(1)


class Fleet:
    """A fleet of the gateway with a working tree of tests/projects/agent-app to push from."""

    def __init__(self, gw: Gateway, api: str, slug: str, work: Path) -> None:
        self.gw, self.api, self.slug, self.work = gw, api, slug, work
        self.key = setup_fleet(gw, slug, "generic-amd64")
        shutil.copytree(PROJECTS / "agent-app", work)
        git("init", "-q", "-b", "master", cwd=work)
        self.version = 0
        self.provisioning_key = gw.cli("fleet", "provisioning-key", slug).stdout.strip()

    def push(self, strategy: str | None = None, handover_ms: int | None = None) -> str:
        """Commit a new VERSION (one small new layer) with these labels, push, return the release hash."""
        self.version += 1
        (self.work / "VERSION").write_text(f"{self.version}\n")
        compose = self.work / "docker-compose.yml"
        text = compose.read_text()
        lines = []
        for line in text.splitlines():
            if strategy and "io.balena.update.strategy:" in line:
                line = f"      io.balena.update.strategy: {strategy}"
            if handover_ms is not None and "io.balena.update.handover-timeout:" in line:
                line = f"      io.balena.update.handover-timeout: '{handover_ms}'"
            lines.append(line)
        compose.write_text("\n".join(lines) + "\n")
        git("add", "-A", cwd=self.work)
        git("commit", "-qm", f"version {self.version}", cwd=self.work)
        git("push", "-q", self.gw.url(self.slug), "master", cwd=self.work, key=self.key, gw=self.gw)
        return self.releases()[0]["hash"]

    def releases(self) -> list[dict]:
        return json.loads(self.gw.cli("release", "list", self.slug, "--json").stdout)

    def devices(self) -> dict[str, dict]:
        """`fleetgate device list --json`, by uuid."""
        listed = json.loads(self.gw.cli("device", "list", self.slug, "--json").stdout)
        return {d["uuid"]: d for d in listed}


def metrics(api: str) -> dict:
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    request = urllib.request.Request(f"{api}/v1/metrics", headers=headers)
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read())


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, auth_registry: str) -> Iterator[tuple[Gateway, str]]:
    """A started gateway (one per test module: it starts slowly) with the device API on a free port."""
    http_port = free_port()
    gw = new_gateway(
        tmp_path_factory.mktemp("gateway"),
        SERVE,
        {
            "FLEETGATE_REGISTRY": auth_registry,
            "FLEETGATE_REGISTRY_USER": AUTH_USER,
            "FLEETGATE_REGISTRY_PASSWORD": AUTH_PASSWORD,
            "FLEETGATE_HTTP_LISTEN": f"127.0.0.1:{http_port}",
            "FLEETGATE_METRICS_TOKEN": METRICS_TOKEN,
        },
    )
    gw.start()
    until(lambda: _answers(http_port), 20, "the device API to listen")
    yield gw, f"http://127.0.0.1:{http_port}"
    gw.stop()


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


@pytest.fixture
def fleet(gateway: tuple[Gateway, str], tmp_path: Path) -> Iterator[Fleet]:
    """A new fleet of the module's gateway, removed afterwards."""
    gw, api = gateway
    made = Fleet(gw, api, f"alice/things{next(NUMBERS)}", tmp_path / "work")
    yield made
    gw.cli("fleet", "remove", made.slug, "--yes", check=False)


@pytest.fixture
def devices(tmp_path: Path, docker_daemon: None) -> Iterator[Callable[[int], Device]]:
    """Make device N (dockerd number N, 1-9) on demand; stop agents and daemons afterwards."""
    made: list[Device] = []

    def make(number: int) -> Device:
        daemon = start_dockerd(number)
        device = Device(daemon, tmp_path / f"device{number}", agent_env(tmp_path / f"agent-home{number}"))
        made.append(device)
        return device

    yield make
    for device in made:
        device.stop()
        # The agent's networks go first: a stopped daemon leaves their bridges on the host for good.
        ids = device.dockerd.cli("ps", "-aq", check=False).stdout.split()
        if ids:
            device.dockerd.cli("rm", "-f", *ids, check=False)
        device.dockerd.cli("network", "prune", "-f", check=False)
        stop_dockerd(device.dockerd)


def wait_running(devices: list[Device], release: str, timeout: float = 30) -> float:
    """Wait until every device runs `release` (and nothing else); return the seconds it took."""
    started = time.monotonic()
    for device in devices:
        until(lambda d=device: d.runs(release), timeout, f"{device.state_dir.name} to run {release[:12]}")
    return time.monotonic() - started
