"""A real gateway whose fleet has two test servers (sshd + own dockerd + proxy image), numbers 16 and 17.

The servers come from the rollout engine's helpers (tests/integration/servers/sshd.py); the gateway
builds with the main daemon, publishes to the authenticating registry and rolls out over SSH.
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import AUTH_PASSWORD, AUTH_USER, missing, registry_answers
from ..servers.sshd import PROXY_IMAGE, SSHD, TestServer, numbers, start_servers, stop_servers
from ..support import SERVE, Gateway, new_gateway

NUMBERS = numbers((16, 17))
HTTP_PORT = 8080  # each server's proxy listens on its own 127.0.0.N:8080


def site(slug: str) -> str:
    """The fleet's host name: each fleet routes its own on the shared proxies."""
    return f"{slug.split('/')[1]}.test"


@pytest.fixture(scope="package")
def servers(tmp_path_factory: pytest.TempPathFactory, auth_registry: str) -> Iterator[list[TestServer]]:
    """Two servers on 127.0.0.16 and 127.0.0.17."""
    if not shutil.which(SSHD):
        missing("Debian's openssh-server (/usr/sbin/sshd) is not installed")
    if subprocess.run(["/usr/bin/docker", "image", "inspect", PROXY_IMAGE], capture_output=True).returncode:
        missing(f"the proxy image {PROXY_IMAGE} is missing")
    if not registry_answers(auth_registry):
        missing(f"no registry answers on {auth_registry}")
    started = start_servers(NUMBERS, tmp_path_factory.mktemp("servers"))
    yield started
    stop_servers(started)


# How the gateways here reach the test servers' proxies, and how long they wait there.
ROLLOUT_ENV = {
    "FLEETGATE_PROXY_HTTP_PORT": str(HTTP_PORT),
    "FLEETGATE_PROXY_HTTPS_PORT": "8443",
    "FLEETGATE_PROXY_BIND": "{host}",
    "FLEETGATE_UPSTREAM_BIND": "{host}",
    "FLEETGATE_HEALTH_TIMEOUT": "10",
    "FLEETGATE_DRAIN_TIMEOUT": "5",
    "FLEETGATE_READINESS_DELAY": "2",
}


@pytest.fixture
def gateway(tmp_path: Path, auth_registry: str, servers: list[TestServer]) -> Iterator[Gateway]:
    """A started gateway that publishes to the authenticating registry and rolls out to test servers."""
    gw = new_gateway(
        tmp_path,
        SERVE,
        {
            "FLEETGATE_REGISTRY": auth_registry,
            "FLEETGATE_REGISTRY_USER": AUTH_USER,
            "FLEETGATE_REGISTRY_PASSWORD": AUTH_PASSWORD,
            **ROLLOUT_ENV,
        },
    )
    gw.start(timeout=90)  # the machine is shared with other builds and daemons: starting can be slow
    yield gw
    gw.stop()


def add_servers(gw: Gateway, slug: str, servers: list[TestServer], roles: tuple[str | None, ...]) -> None:
    """`fleetgate server add` each server (with its role) and `server trust` its host key, as an operator."""
    for server, role in zip(servers, roles, strict=True):
        args = ["server", "add", slug, server.url, "--key", str(server.key_path), "--host", site(slug)]
        gw.cli(*args, *(["--role", role] if role else []))
        gw.cli("server", "trust", f"{server.host}:{server.port}", "--yes")


def get(server: TestServer, slug: str, path: str = "/") -> tuple[int, str]:
    """GET through the server's proxy, for the fleet's host name."""
    conn = http.client.HTTPConnection(server.host, HTTP_PORT, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": site(slug)})
        answer = conn.getresponse()
        return answer.status, answer.read().decode()
    finally:
        conn.close()


def services_on(server: TestServer, slug: str) -> dict[str, tuple[str, str]]:
    """The fleet's running containers on the server: service → (release hash, state)."""
    shown = server.dockerd.cli(
        "ps", "--filter", f"label=io.fleetgate.fleet={slug}", "--format",
        '{{.Label "io.fleetgate.service"}}\t{{.Label "io.fleetgate.release"}}\t{{.State}}',
    )  # fmt: skip
    rows = [line.split("\t") for line in shown.stdout.splitlines() if line.strip()]
    return {service: (release, state) for service, release, state in rows}


def cleanup(servers: list[TestServer], slug: str) -> None:
    """Remove what a test's rollouts left on the servers: the fleet's containers, networks left unused."""
    for server in servers:
        ids = server.dockerd.cli("ps", "-aq", "--filter", f"label=io.fleetgate.fleet={slug}").stdout.split()
        if ids:
            server.dockerd.cli("rm", "-f", *ids, check=False)
        server.dockerd.cli("network", "prune", "-f", check=False)


def status(gw: Gateway, slug: str) -> list[dict]:
    return json.loads(gw.cli("server", "status", slug, "--json").stdout)
