"""Fixtures for the rollout tests: two test servers (sshd + own dockerd + proxy image) and app images."""

from __future__ import annotations

import http.client
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from fleetgate.deploy.servers.rollout import RolloutOptions, RolloutRelease, ServerTarget

from ..conftest import missing, registry_answers
from .app import PASSWORD, REGISTRY, USER, build_app, composition, delete_app
from .sshd import PROXY_IMAGE, SSHD, TestServer, numbers, start_servers, stop_servers

NUMBERS = numbers((11, 12))
HTTP_PORT = 8080  # each server's proxy listens on its own 127.0.0.N:8080


@pytest.fixture(scope="package")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[TestServer]]:
    """Two servers on 127.0.0.11 and 127.0.0.12."""
    if not shutil.which(SSHD):
        missing("Debian's openssh-server (/usr/sbin/sshd) is not installed")
    if subprocess.run(["/usr/bin/docker", "image", "inspect", PROXY_IMAGE], capture_output=True).returncode:
        missing(f"the proxy image {PROXY_IMAGE} is missing")
    if not registry_answers(REGISTRY):
        missing(f"no registry answers on {REGISTRY}")
    started = start_servers(NUMBERS, tmp_path_factory.mktemp("servers"))
    yield started
    stop_servers(started)


def targets(servers: list[TestServer]) -> list[ServerTarget]:
    return [ServerTarget(s.host, s.port, s.user, s.key_path, None, s.known_hosts) for s in servers]


OPTIONS = RolloutOptions(
    http_port=HTTP_PORT,
    https_port=8443,
    proxy_bind="{host}",
    upstream_bind="{host}",
    health_timeout=20,
    drain_timeout=20,
    stop_timeout=2,
    readiness_delay=2,
)


@pytest.fixture(scope="package")
def repository() -> str:
    return f"fgtest/app-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="package")
def images(servers: list[TestServer], repository: str) -> Iterator[dict[str, str]]:
    """The app pushed as releases one, two, three and a broken one, by digest; deleted afterwards."""
    pushed = {
        "one": build_app(repository, "one"),
        "two": build_app(repository, "two"),
        "three": build_app(repository, "three"),
        "broken": build_app(repository, "broken", healthy=False),
    }
    yield pushed
    for image in pushed.values():
        delete_app(image)


def host_name(slug: str) -> str:
    """The host name a test fleet is routed by: alice/demo → alice-demo.test."""
    return slug.replace("/", "-") + ".test"


def get(server: TestServer, slug: str, path: str = "/") -> tuple[int, str]:
    """One request through the server's proxy, for the fleet's host name."""
    conn = http.client.HTTPConnection(server.host, HTTP_PORT, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host_name(slug)})
        answer = conn.getresponse()
        return answer.status, answer.read().decode()
    finally:
        conn.close()


def release(slug: str, name: str, image: str, **kw) -> RolloutRelease:
    """A release of `slug` named after the app release it runs; its hash is derived from the name."""
    digest = image.rpartition("@sha256:")[2]
    return RolloutRelease(
        fleet_slug=slug,
        fleet_id=1,
        release_hash=(digest + name.encode().hex())[:40],
        release_name=f"{slug}#{name}",
        composition=composition(image),
        registry=(REGISTRY, USER, PASSWORD),
        proxy_host=host_name(slug),
        **kw,
    )
