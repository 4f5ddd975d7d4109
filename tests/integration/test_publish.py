"""publish against the real daemon and Debian's registry: push, digest verified, refusals fail cleanly."""

import base64
import contextlib
import hashlib
import json
import re
import secrets
import socket
import subprocess
import threading
import urllib.request

import docker
import pytest
from fleetgate.build.docker_build import BuildRequest, run_build
from fleetgate.build.publish import (
    Published,
    PublishFailed,
    Registry,
    keep_local,
    publish,
    registry_digest,
)

pytestmark = pytest.mark.timeout(120)
AUTH = ("fleetgate", "fleetgate-ci")  # as .ci/services.sh sets them


@pytest.fixture
def built_image(image_names):
    """A small image of its own (a base image copy would make deleting it remove the base's tags)."""
    tag = image_names("publish") + ":test"
    marker = secrets.token_hex(8)
    subprocess.run(
        ["/usr/bin/docker", "build", "-q", "-t", tag, "-"],
        input=f"FROM busybox-fg\nRUN echo {marker} > /marker\n".encode(),
        env={"DOCKER_BUILDKIT": "1", "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
    )
    return docker.from_env().images.get(tag).id


@pytest.fixture
def pushed():
    """Remember what a test pushed; delete the manifests from the registry and the local tags afterwards."""
    done: list[tuple[Registry, str, str]] = []
    yield done
    client = docker.from_env()
    for registry, repository, tag in done:
        name = repository.split("/", 1)[1]
        try:
            digest = registry_digest(registry, name, tag)
            url = f"http://{registry.host}/v2/{name}/manifests/{digest}"
            request = urllib.request.Request(url, method="DELETE")
            if registry.user:
                credential = base64.b64encode(f"{registry.user}:{registry.password}".encode()).decode()
                request.add_header("Authorization", f"Basic {credential}")
            urllib.request.urlopen(request, timeout=10)
        except (PublishFailed, OSError):
            pass
        with contextlib.suppress(docker.errors.NotFound):
            client.images.remove(f"{repository}:{tag}")


def test_publish_pushes_and_the_registry_serves_that_digest(registry, built_image, pushed):
    target = Registry(registry)
    release = secrets.token_hex(16)
    pushed.append((target, f"{registry}/alice/fleet-{release[:6]}/main", release))

    result = publish(built_image, target, "alice", f"fleet-{release[:6]}", "main", release)

    assert isinstance(result, Published)
    assert result.reference == f"{registry}/alice/fleet-{release[:6]}/main@{result.digest}"
    assert result.size == docker.from_env().images.get(built_image).attrs["Size"] > 0
    # Independently of publish: the registry's manifest under that tag hashes to that digest.
    request = urllib.request.Request(
        f"http://{registry}/v2/alice/fleet-{release[:6]}/main/manifests/{release}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()

    assert "sha256:" + hashlib.sha256(body).hexdigest() == result.digest
    assert json.loads(body)["config"]["digest"] == built_image


def test_publish_with_credentials_to_the_auth_registry(auth_registry, built_image, pushed):
    target = Registry(auth_registry, *AUTH)
    release = secrets.token_hex(16)
    pushed.append((target, f"{auth_registry}/alice/authed/main", release))
    result = publish(built_image, target, "alice", "authed", "main", release)
    assert registry_digest(target, "alice/authed/main", release) == result.digest


def test_wrong_credentials_fail_the_publish(auth_registry, built_image, pushed):
    target = Registry(auth_registry, "fleetgate", "wrong-password")
    release = secrets.token_hex(16)
    pushed.append((target, f"{auth_registry}/alice/refused/main", release))
    with pytest.raises(PublishFailed, match=r"^the registry refused .*authentication required"):
        publish(built_image, target, "alice", "refused", "main", release)


def test_closed_port_fails_the_publish(docker_daemon, built_image, pushed):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = Registry(f"127.0.0.1:{port}")
    release = secrets.token_hex(16)
    pushed.append((target, f"127.0.0.1:{port}/alice/closed/main", release))
    with pytest.raises(PublishFailed) as failure:
        publish(built_image, target, "alice", "closed", "main", release)
    assert "connection refused" in str(failure.value) and "\n" not in str(failure.value)


def test_bad_name_is_refused_before_anything_is_pushed(registry, built_image):
    with pytest.raises(PublishFailed, match="cannot be part of an image name"):
        publish(built_image, Registry(registry), "alice", "Fleet", "main", "abc")


def test_keep_local_references_the_image_id(built_image):
    result = keep_local(built_image)
    assert result.reference == result.digest == built_image
    assert result.size > 0


def test_previous_release_in_the_registry_is_offered_as_cache(registry, image_names, pushed, tmp_path):
    (tmp_path / "Dockerfile").write_text(f"FROM busybox-fg\nRUN echo {secrets.token_hex(8)} > /x\n")
    first = run_build(
        BuildRequest("main", tmp_path, "Dockerfile", image_names("cache") + ":1", no_cache=True),
        lambda line: None,
        threading.Event(),
    )
    target, release = Registry(registry), secrets.token_hex(16)
    pushed.append((target, f"{registry}/alice/cache/main", release))
    published = publish(first.image_id, target, "alice", "cache", "main", release)
    # Gone from the daemon: only the registry's copy (and its inline cache metadata) can make a cache hit.
    docker.from_env().images.remove(first.image_id, force=True)

    lines: list[str] = []
    request = BuildRequest(
        "main", tmp_path, "Dockerfile", image_names("cache") + ":2", cache_from=(published.reference,)
    )
    second = run_build(request, lines.append, threading.Event())
    assert any(line.endswith(f"importing cache manifest from {published.reference}") for line in lines)
    assert any(re.match(r"^#\d+ CACHED$", line) for line in lines)
    assert second.image_id == first.image_id
