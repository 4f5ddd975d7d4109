"""Fixtures for the real Docker Engine, the real registries and the local base images (.ci/services.sh)."""

import os
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator

import pytest

DOCKER_CLI = "/usr/bin/docker"
REGISTRY = "127.0.0.1:5000"
AUTH_REGISTRY = "127.0.0.1:5001"
AUTH_USER, AUTH_PASSWORD = "fleetgate", "fleetgate-ci"  # as .ci/services.sh sets them
BASE_IMAGES = ("busybox-fg", "busybox-fg-amd64", "busybox-fg-armv7hf")
HINT = "run .ci/services.sh (as root) first"


def missing(reason: str) -> None:
    """Skip outside CI; in CI (CI=true) a missing part is a failure (DESIGN §5)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; {HINT}")
    pytest.skip(f"{reason}; {HINT}")


def docker_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Debian's docker CLI against the default daemon, output captured as bytes."""
    return subprocess.run([DOCKER_CLI, *args], capture_output=True, check=check, timeout=120)


def registry_answers(host: str) -> bool:
    """True when a registry answers /v2/ at all (401 from the auth registry counts)."""
    try:
        urllib.request.urlopen(f"http://{host}/v2/", timeout=3)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def docker_daemon() -> None:
    """A daemon that answers, Debian's CLI, and the local base images."""
    if not shutil.which(DOCKER_CLI):
        missing(f"{DOCKER_CLI} is not installed")
    if subprocess.run([DOCKER_CLI, "info"], capture_output=True, timeout=30).returncode != 0:
        missing("no Docker daemon answers on /var/run/docker.sock")
    for image in BASE_IMAGES:
        if docker_cli("image", "inspect", image, check=False).returncode != 0:
            missing(f"base image {image} is missing")


@pytest.fixture(scope="session")
def registry(docker_daemon: None) -> str:
    """The open loopback registry."""
    if not registry_answers(REGISTRY):
        missing(f"no registry answers on {REGISTRY}")
    return REGISTRY


@pytest.fixture(scope="session")
def auth_registry(docker_daemon: None) -> str:
    """The loopback registry that wants htpasswd credentials."""
    if not registry_answers(AUTH_REGISTRY):
        missing(f"no registry answers on {AUTH_REGISTRY}")
    return AUTH_REGISTRY


@pytest.fixture
def image_names(docker_daemon: None) -> Iterator[Callable[[str], str]]:
    """Make unique image names for a test and remove every image tagged with them afterwards."""
    made: list[str] = []

    def name(stem: str) -> str:
        made.append(f"fgtest-{stem}-{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield name
    for repository in made:
        ids = docker_cli("images", "-q", "--no-trunc", repository, check=False).stdout.decode().split()
        refs = docker_cli("images", "--format", "{{.Repository}}:{{.Tag}}", repository, check=False)
        for ref in refs.stdout.decode().split():
            docker_cli("rmi", "-f", ref, check=False)
        for image_id in set(ids):
            docker_cli("rmi", "-f", image_id, check=False)
